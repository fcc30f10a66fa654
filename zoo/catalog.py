"""Finding and loading manifests: the bundled ones, the records folder, then ZOO_MANIFESTS (a user's own zoo).

What the catalog needs of every file (its model's name and aliases, the row `zoo list` shows, the pins of its
artifacts, or its problems) is kept in an index in the cache (`index/manifests.json`) under the file's stat key, so a
command reads and validates only the files that changed and the one that defines the model it was asked for. The
index is a hint: a record whose stat key no longer matches, or that is malformed, is made again from the file; a
model's manifest is always parsed and validated from its file before use, and a name, alias, pin or warning the index
gives is used only once that file says the same (else the catalog is made again from the files alone).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
from dataclasses import dataclass, field
from pathlib import Path

from zoo import atomic, manifest, manifest_sources, memo, settings
from zoo.cache import Cache
from zoo.choice import rebuildable
from zoo.errors import ManifestInvalid, ModelNotFound
from zoo.hashes import StatKey, sha256_of
from zoo.manifest import Manifest
from zoo.manifest_sources import bundled_dir
from zoo.tasks import get_task
from zoo.tasks.base import Context

INDEX = "manifests.json"
INDEX_VERSION = 3  # 2: catalog rows list the targets built on fetch; 3: and zoo's measured figures
_JUDGES = ("schema.py", "manifest.py", "tensors.py", "sources.py", "targets.py", "choice.py", "catalog.py", "tasks")
"""The code whose verdicts (valid or not, rows, pins) the index keeps: another version of it starts a new index."""
MAX_INDEX_BYTES = 64 << 20


def manifest_files(path: Path) -> list[Path]:
    """The manifest files a path names: the YAML files of a folder, or the path itself."""
    return [Path(p) for p, _ in manifest_sources.scan(path) or []] if path.is_dir() else [path]


def summary(m: Manifest) -> dict:
    """The catalog row of one model (what `zoo list` shows), as JSON-ready data."""
    return {
        "name": m.name,
        "aliases": m.aliases,
        "task": m.task,
        "input_shape": m.input.shape,
        "classes": len(m.labels),
        "metric": get_task(m.task).headline,
        "metrics": [{"name": x.name, "value": x.value, "unit": x.unit, "applies_to": x.applies_to, "source": x.source}
                    for x in get_task(m.task).headline_metrics(m.metrics) if x.source != "measured"],  # zoo's own: "measured" below
        "measured": measured_pair(m),
        "targets": {
            "published": m.published_targets,
            "built_on_fetch": (built := [t for t in m.targets if t not in m.published_targets
                                         and any(rebuildable(m, a) for a in m.artifacts if a.target == t)]),
            "unpublished": [t for t in m.targets if t not in m.published_targets and t not in built],
        },
    }


def measured_pair(m: Manifest) -> dict | None:
    """The headline of zoo's own measurements (`zoo list`): the reference file's figure (the float one, else the first
    measured) beside an integer file's (the first other one) on the same dataset and split, with the difference and
    the image count; None when zoo measured nothing."""
    name = get_task(m.task).metric(Context(m.parsed_head, m.outputs, m.labels))
    figures = [x for x in m.metrics if x.source == "measured" and x.name == name]
    if not figures:
        return None
    order = {a.id: (not a.is_float, i) for i, a in enumerate(m.artifacts)}
    figures.sort(key=lambda x: order.get(x.applies_to, (True, len(order))))
    ref = figures[0]
    same = [x for x in figures[1:] if (x.dataset, x.split) == (ref.dataset, ref.split)]
    floats = {a.id for a in m.artifacts if a.is_float}
    other = next((x for x in same if x.applies_to not in floats), same[0] if same else None)
    return {"name": name, "dataset": ref.dataset, "split": ref.split, "images": ref.images,
            "reference": {"artifact": ref.applies_to, "value": ref.value},
            "int8": {"artifact": other.applies_to, "value": other.value} if other else None,
            "difference": round(other.value - ref.value, 2) if other else None}

_parsed: dict[Path, tuple[StatKey, Manifest | ManifestInvalid]] = {}
_last: list = [None, None]


def _load_file(path: Path, key: StatKey) -> Manifest:
    """manifest.load, remembered per file until its stat key changes."""
    hit = _parsed.get(path)
    if hit is None or hit[0] != key:
        try:
            hit = (key, manifest.load(path))
        except ManifestInvalid as e:
            hit = (key, e)
        _parsed[path] = hit
    if isinstance(hit[1], ManifestInvalid):
        raise hit[1]
    return hit[1]


def _record(path: Path, key: StatKey) -> dict:
    """What the index keeps of one file: its model's name, aliases, catalog row, content digest and pins; or its
    problems."""
    try:
        m = _load_file(path, key)
    except ManifestInvalid as e:
        return {"key": list(key), "problems": [list(p) for p in e.problems]}
    return {"key": list(key), "name": m.name, "aliases": list(m.aliases), "summary": summary(m),
            "digest": _digest(m),
            "pins": sorted({a.sha256 for a in m.artifacts if a.sha256})}


def _usable(rec: object, key: StatKey) -> bool:
    """Whether a stored record is well formed and made from the file as it is now (same stat key)."""
    if not isinstance(rec, dict) or rec.get("key") != list(key):
        return False
    if "problems" in rec:
        problems = rec["problems"]
        return isinstance(problems, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                                  for p in problems)
    strings = lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)  # noqa: E731
    return (isinstance(rec.get("name"), str) and strings(rec.get("aliases")) and isinstance(rec.get("summary"), dict)
            and isinstance(rec.get("digest"), str) and strings(rec.get("pins")))


def _agrees(m: Manifest, rec: dict) -> bool:
    """Whether a record says of a model exactly what its validated manifest says."""
    return (m.name == rec["name"] and list(m.aliases) == rec["aliases"] and _digest(m) == rec["digest"]
            and sorted({a.sha256 for a in m.artifacts if a.sha256}) == rec["pins"])


def _true(e: Entry) -> bool:
    """Whether an entry's record says of its model what its file says."""
    try:
        return _agrees(e.manifest, e.record)
    except ManifestInvalid:
        return False


def _digest(m: Manifest) -> str:
    return sha256_of(m.model_dump_json().encode())


@dataclass
class Entry:
    """A model's manifest file and its index record; `manifest` is parsed and validated from the file when the model
    is asked for (Catalog.entry)."""

    name: str
    path: Path
    key: StatKey
    bundled: bool
    record: dict
    parsed: Manifest | None = None

    @property
    def manifest(self) -> Manifest:
        if self.parsed is None:
            self.parsed = _load_file(self.path, self.key)
        return self.parsed


@dataclass
class Catalog:
    """Valid manifests by name, plus what went wrong loading the others."""

    entries: dict[str, Entry] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    problems: list[ManifestInvalid] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fingerprint: manifest_sources.Fingerprint = ()  # the manifest files it was loaded from, by stat
    roots: list[tuple[Path, str]] = field(default_factory=list)
    fresh: bool = False  # every record made from its file in this process, none taken from the index
    _overrides: dict[str, list[str]] = field(default_factory=dict)
    _overridden: dict[str, list[Entry]] = field(default_factory=dict)
    _warned: list[Entry] = field(default_factory=list)  # the entries a warning speaks of

    def overrides(self, name: str) -> list[str]:
        """The warnings that `name` (a real name, not an alias) is defined by a file overriding another one."""
        return self._overrides.get(name, [])

    def entry(self, name: str) -> Entry:
        """The entry for a name or alias, its manifest parsed and validated from its file; ModelNotFound names the
        closest. The index only says where to look: unless its manifest file itself confirms the answer (that name or
        alias, the record's aliases, digest and pins, and the files it overrides), and before saying a model does not
        exist, the catalog is made again from the files alone (a planted or damaged index), and the index with it."""
        found = self._lookup(name)
        if found is not None and (self.fresh or self._confirmed(found, name)):
            return found
        if not self.fresh:
            self._rebuild()
            found = self._lookup(name)
        if found is None:
            raise self._not_found(name)
        return found

    def _lookup(self, name: str) -> Entry | None:
        key = name.strip().lower()
        real = key if key in self.entries else self.aliases.get(key)
        return None if real is None else self.entries[real]

    def _not_found(self, name: str) -> ModelNotFound:
        close = difflib.get_close_matches(name.strip().lower(), [*self.entries, *self.aliases], n=3, cutoff=0.6)
        hint = (f"did you mean {' or '.join(close)}? " if close else "") + "`zoo list` shows every model"
        if self.problems:
            hint += f"; {len(self.problems)} manifest(s) failed to load (run `zoo validate`)"
        return ModelNotFound(f"no model named {name!r}", hint)

    def _confirmed(self, found: Entry, name: str) -> bool:
        """Whether the files themselves say what the index said of `found` (see entry)."""
        return (_true(found) and name.strip().lower() in (found.name, *found.manifest.aliases)
                and all(map(_true, self._overridden.get(found.name, ()))))

    def _rebuild(self) -> None:
        fresh, files = _build(self.roots, {})
        memo.write(Cache(settings.cache_dir()), INDEX, {"version": index_version(), "files": files})
        self.__dict__.update(fresh.__dict__)

    def kind_of(self, model: str, file_id: str) -> str:
        """What a cached file of `model` is by its id: 'artifact', 'upstream' (an input a build reads: a calibration
        image, the float model, an archive), or 'unknown' (no manifest says so)."""
        try:
            m = self.entry(model).manifest
        except (ModelNotFound, ManifestInvalid):
            return "unknown"
        if any(a.id == file_id for a in m.artifacts):
            return "artifact"
        return "upstream" if any(u.id == file_id for u in m.upstream) else "unknown"

    def get(self, name: str) -> Manifest:
        return self.entry(name).manifest

    def names(self, include: str | None = None, exclude: str | None = None) -> list[str]:
        """Model names, optionally filtered by glob patterns."""
        out = sorted(self.entries)
        if include:
            out = [n for n in out if fnmatch.fnmatchcase(n, include)]
        if exclude:
            out = [n for n in out if not fnmatch.fnmatchcase(n, exclude)]
        return out

    def summaries(self) -> list[dict]:
        """Every model's catalog row (see `summary`), by name, without parsing a manifest."""
        return [self.entries[n].record["summary"] for n in self.names()]

    def with_pin(self, sha256: str) -> list[Entry]:
        """The models one of whose artifacts is pinned to `sha256`, each confirmed by its manifest file (see entry).
        When the index names none, or names one its file denies, the catalog is made again from the files first."""
        named = [e for e in self.entries.values() if sha256 in e.record["pins"]]
        if not self.fresh and (not named or not all(self._confirmed(e, e.name) for e in named)):
            self._rebuild()
            named = [e for e in self.entries.values() if sha256 in e.record["pins"]]
        return named

    def _add(self, rec: dict, path: Path, key: StatKey, kind: str) -> None:
        name = rec["name"]
        old = self.entries.get(name)
        entry = Entry(name, path, key, kind == "bundled", rec)
        if old is not None and old.record["digest"] != rec["digest"]:
            why = " (the copy --record keeps for an installed package)" if kind == "records" else ""
            warning = f"{path}: model {name!r} overrides the one in {old.path}{why}"
            self.warnings.append(warning)
            self._overrides.setdefault(name, []).append(warning)
            self._warned += [old, entry]
        if old is not None:
            self._overridden.setdefault(name, []).append(old)
            self.aliases = {a: n for a, n in self.aliases.items() if n != name}
        self.entries[name] = entry
        for alias in rec["aliases"]:
            owner = self.aliases.get(alias, alias if alias in self.entries and alias != name else None)
            if owner is not None and owner != name:
                self.warnings.append(f"{path}: alias {alias!r} of {name!r} already names {owner!r}; ignored")
                self._warned += [entry, self.entries[owner]]
                continue
            self.aliases[alias] = name


@functools.cache
def index_version() -> str:
    """INDEX_VERSION and a digest of the code that judged the index's records: a zoo upgraded (or a checkout edited)
    to a stricter schema must not take an older zoo's word that a file is valid."""
    here = Path(__file__).resolve().parent
    paths = sorted(p for name in _JUDGES for p in ([here / name] if name.endswith(".py") else (here / name).glob("*.py")))
    try:
        return f"{INDEX_VERSION}:{sha256_of(b''.join(p.read_bytes() for p in paths))[:16]}"
    except OSError:  # zoo's sources not on disk (a zip): the version alone
        return str(INDEX_VERSION)


def load(extra: list[Path] | None = None, *, fresh: bool = False) -> Catalog:
    """Load the bundled manifests, then `extra` (default: the records folder and ZOO_MANIFESTS); later ones override
    earlier ones.

    The result is reused while no manifest file was added, removed or changed (checked by stat each call); a new
    one reads only the files whose stat changed since the index recorded them. With `fresh`, every file is read and
    validated again (`zoo validate`: the index's verdicts are another zoo's, or planted)."""
    roots = manifest_sources.sources(extra)
    if _last[0] == roots and manifest_sources.current(_last[1].fingerprint) and (_last[1].fresh or not fresh):
        return _last[1]
    cache = Cache(settings.cache_dir())
    stored = {} if fresh else memo.read(memo.path(cache, INDEX), MAX_INDEX_BYTES)
    files = stored.get("files") if stored.get("version") == index_version() else None
    files = files if isinstance(files, dict) else {}
    catalog, records = _build(roots, files)
    if not catalog.fresh and not all(map(_true, catalog._warned)):
        catalog._rebuild()  # a warning from a planted record: say only what the files say
    elif len(records) != len(files) or any(rec is not files.get(path) for path, rec in records.items()):
        memo.write(cache, INDEX, {"version": index_version(), "files": records})  # the records of exactly these files
    _last[:] = [roots, catalog]
    return catalog


def _build(roots: list[tuple[Path, str]], files: dict) -> tuple[Catalog, dict]:
    """The catalog of `roots` from the index's records (`files`), and the records of exactly its files: those still
    valid, and new ones for the files read."""
    catalog = Catalog(fingerprint=manifest_sources.fingerprint([root for root, _ in roots]), roots=roots)
    records = {}
    catalog.fresh = True
    for (root, kind), (_, _, scan) in zip(roots, catalog.fingerprint):
        if scan is None:
            if kind == "user":
                catalog.warnings.append(f"{root}: manifest path does not exist")
            continue
        for name, key in scan:
            rec = files.get(name)
            if _usable(rec, key):
                catalog.fresh = False
            else:
                rec = _record(Path(name), key)
            records[name] = rec
            if "problems" in rec:
                catalog.problems.append(ManifestInvalid(name, [tuple(p) for p in rec["problems"]]))
            else:
                catalog._add(rec, Path(name), key, kind)
    return catalog, records


def installed() -> bool:
    """True when the bundled manifests are the copies inside an installed package (not a development checkout)."""
    return bundled_dir() == Path(__file__).resolve().parent / "manifests"


def record_path(name: str) -> Path:
    """The manifest file `--record` may edit for `name`: the file itself, unless it belongs to an installed package
    (an upgrade would overwrite the record): then a copy in settings.records_dir(), which the catalog reads after
    the bundled ones."""
    entry = load().entry(name)
    if not (entry.bundled and installed()):
        return entry.path
    copy = settings.records_dir() / entry.path.name
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        atomic.write(copy, entry.path.read_bytes())
    return copy


def models(include: str | None = None, exclude: str | None = None) -> list[str]:
    """Names of the models in the catalog, filtered by optional glob patterns."""
    return load().names(include, exclude)


def get(name: str) -> Manifest:
    """The validated manifest for a model name or alias."""
    return load().get(name)
