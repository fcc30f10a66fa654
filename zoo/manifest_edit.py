"""Editing a manifest file in place (`--record`): ruamel.yaml's round-trip mode keeps comments, order and folded
text, so the diff is only the changed fields; the result is validated before it replaces the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zoo import atomic
from zoo.errors import ZooError


def _load(text: str):
    """Round-trip YAML with the file's own indentation, so dumping it back changes only what was set."""
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, dash = load_yaml_guess_indent(text)
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=indent - dash if dash else indent, sequence=indent, offset=dash)
    return y, y.load(text)


def update_manifest(path: Path, *, artifacts: dict[str, dict] | None = None, upstream: dict[str, dict] | None = None,
                    append: dict[str, list[dict]] | None = None, remove: dict[str, Callable[[dict], bool]] | None = None) -> None:
    """Set fields of artifacts / upstream entries (by id) in a manifest file, remove list entries matching a
    predicate and append to lists such as `benchmarks` or `metrics`, touching nothing else. A field set to None
    is removed (e.g. `unpublished` once an artifact has sources). The result is validated before it replaces the file.
    """
    from zoo import manifest

    y, doc = _load(path.read_text(encoding="utf-8"))
    for key, drop in (remove or {}).items():
        if doc.get(key):
            doc[key][:] = [e for e in doc[key] if not drop(e)]
    for key, entries in (append or {}).items():
        if not entries:
            continue
        if doc.get(key) is None:
            doc[key] = []
        doc[key].extend(entries)
    for section, changes in (("artifacts", artifacts or {}), ("upstream", upstream or {})):
        entries = {e["id"]: e for e in doc.get(section) or []}
        for ident, fields in changes.items():
            if ident not in entries:
                raise ZooError(f"{path}: no {section} entry with id {ident!r} to record into")
            for key, value in fields.items():
                if value is None:
                    entries[ident].pop(key, None)
                else:
                    entries[ident][key] = value
    with atomic.replacing(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            y.dump(doc, f)
        manifest.load(tmp)


def append_measured(model: str, key: str, entry: dict) -> Path:
    """Append a measured `benchmarks` or `metrics` entry to `model`'s manifest (the records copy for an installed
    package, see catalog.record_path); returns the file written."""
    from zoo import catalog

    path = catalog.record_path(model)
    update_manifest(path, append={key: [entry]})
    return path


def record_metrics(model: str, entries: list[dict]) -> Path:
    """Write measured `metrics` entries into `model`'s manifest, replacing the measured figures they supersede (the
    same name, dataset, split and artifact), so re-recording a command leaves one figure; returns the file written."""
    from zoo import catalog

    keys = {(e["name"], e["dataset"], e["split"], e["applies_to"]) for e in entries}
    path = catalog.record_path(model)
    update_manifest(path, append={"metrics": entries},
                    remove={"metrics": lambda e: e.get("source") == "measured"
                            and (e.get("name"), e.get("dataset"), e.get("split"), e.get("applies_to")) in keys})
    return path
