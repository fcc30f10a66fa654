"""What the catalog's pages show, as plain data from a validated manifest: the index row of a model and the context
of its page (no I/O, no HTML here: the templates lay it out)."""

from __future__ import annotations

from typing import Literal, Optional
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError
from typing_extensions import NotRequired, TypedDict

from zoo import card
from zoo.manifest import Artifact, Manifest
from zoo.present import describe_head
from zoo.tasks import get_task

SOURCES = ("measured", "estimated", "upstream")
"""Provenance, most trusted first; the pages colour each figure by it."""

_INT = ("int8", "uint8", "int16")
_SHOWN = {"name", "value", "unit", "dataset", "split", "applies_to", "source", "citation", "command", "date", "images"}
_QUANTIZED_WORDS = ("quant", "qat", "int8", "uint8")


def precision_class(m: Manifest, ident: str | None) -> str:
    """'float' or 'int8' for the file a figure was obtained with: an artifact by its precision; an upstream file
    (someone else's, with no precision field) by its id and name."""
    if ident is None:
        return "float"
    for a in m.artifacts:
        if a.id == ident:
            return "int8" if a.precision in _INT else "float"
    words = " ".join([ident, *(u.file for u in m.upstream if u.id == ident)]).lower()
    return "int8" if any(w in words for w in _QUANTIZED_WORDS) else "float"


def _comparable(m: Manifest, figures: list) -> list:
    """The figures to headline side by side: those of one provenance on one dataset (a float figure upstream measured
    on PASCAL VOC beside an int8 one zoo measured on a few COCO images would read as a loss it is not), the group
    covering both float and int8 files first, then measured before estimated before upstream."""
    groups: dict[tuple, list] = {}
    for x in figures:
        groups.setdefault((x.source, x.dataset), []).append(x)

    def rank(item):
        (source, _), xs = item
        return -len({precision_class(m, x.applies_to) for x in xs}), SOURCES.index(source)

    return min(groups.items(), key=rank, default=(None, []))[1]


def _figure(x) -> dict | None:
    if x is None:
        return None
    return {"value": x.value, "unit": x.unit, "source": x.source, "applies_to": x.applies_to, "text": _value(x)}


def _value(x) -> str:
    return f"{x.value:g}{'%' if x.unit == '%' else ''}"


def headline(m: Manifest) -> dict:
    """The task's headline metric for float and for int8 files, side by side."""
    task = get_task(m.task)
    figures = _comparable(m, task.headline_metrics(m.metrics))
    return {"metric": task.headline,
            **{kind: _figure(next((x for x in figures if precision_class(m, x.applies_to) == kind), None))
               for kind in ("float", "int8")}}


def op_split(a: Artifact) -> dict | None:
    """Operators on the accelerator and on the CPU from the compiler's report (Vela, VX, or VX inside a quantizer
    report), with the CPU operators and the compiler's reason for each."""
    stats = a.compile_stats or {}
    report = stats.get("npu") if isinstance(stats.get("npu"), dict) else stats
    if not isinstance(report.get("npu_ops"), int) or not isinstance(report.get("cpu_ops"), int):
        return None
    cpu = [o for o in report.get("cpu_operators") or [] if isinstance(o, dict)]
    return {"compiler": report.get("compiler", stats.get("compiler")), "npu_ops": report["npu_ops"],
            "cpu_ops": report["cpu_ops"], "cpu_operators": cpu}


def _default(m: Manifest, target: str) -> Artifact:
    group = [a for a in m.artifacts if a.target == target]
    return next((a for a in group if a.default), group[0])


class _Figure(TypedDict):
    value: float
    unit: str
    source: Literal["measured", "estimated", "upstream"]
    applies_to: Optional[str]
    text: str


_Headline = TypedDict("_Headline", {"metric": str, "float": Optional[_Figure], "int8": Optional[_Figure]})


class _Target(TypedDict):
    name: str
    published: bool
    npu_ops: NotRequired[int]
    cpu_ops: NotRequired[int]


class _Row(TypedDict):
    name: str
    aliases: list[str]
    task: str
    family: str
    license: str
    summary: str
    input: str
    classes: int
    headline: _Headline
    targets: list[_Target]
    size: Optional[int]
    size_of: str
    page: str
    json: str
    digest: str


_ROW = TypeAdapter(_Row)


def is_row(r: object, name: str) -> bool:
    """Whether `r`, read back from a folder's index.json, has the shape `row` gives `name` (an index.json is read,
    not trusted: a row of another shape is rendered again rather than laid out)."""
    try:
        _ROW.validate_python(r, strict=True)
    except ValidationError:
        return False
    return r["name"] == name and r["page"] == f"models/{name}.html" and r["json"] == f"models/{name}.json"


def row(m: Manifest) -> dict:
    """A model's line in the index (and in index.json): what a reader compares models by."""
    targets = []
    for t in m.targets:
        split = op_split(_default(m, t))
        targets.append({"name": t, "published": t in m.published_targets,
                        **({"npu_ops": split["npu_ops"], "cpu_ops": split["cpu_ops"]} if split else {})})
    first = _default(m, m.targets[0])
    return {"name": m.name, "aliases": m.aliases, "task": m.task, "family": m.family, "license": m.license,
            "summary": _short(m.description), "input": "x".join(map(str, _hw(m))), "classes": len(m.labels),
            "headline": headline(m), "targets": targets, "size": first.size, "size_of": first.id,
            "page": f"models/{m.name}.html", "json": f"models/{m.name}.json"}


def _hw(m: Manifest) -> list[int]:
    i = m.input
    return i.shape[1:3] if i.layout in ("NHWC", "NHW") else i.shape[2:4]


def _short(text: str, limit: int = 140) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit].rstrip(",;:") + " …"  # no space to cut at: cut inside the word


def _extra(x) -> dict:
    """The fields of a figure the page has no column for (a caveat, a note, whatever the schema grows), generically."""
    return {k: v for k, v in x.model_dump(mode="json", exclude_none=True).items() if k not in _SHOWN | {
        "device", "accelerator", "runtime", "threads", "input_size", "latency_ms"}}


def web_link(text: str | None) -> str | None:
    """`text` when it is an http(s) address a page may link to; None for anything else (`javascript:`, `data:`, a
    path), which a page shows as text: a manifest's strings are not trusted to run in a reader's browser."""
    if not text or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def _provenance(x) -> dict:
    return {"source": x.source, "citation": x.citation, "link": web_link(x.citation),
            "command": x.command, "date": str(x.date) if x.date else None}


def metrics(m: Manifest) -> list[dict]:
    return [{"name": x.name, "value": _value(x), "dataset": x.dataset, "split": x.split, "applies_to": x.applies_to,
             "precision": precision_class(m, x.applies_to), "images": x.images, **_provenance(x), "extra": _extra(x)}
            for x in m.metrics]


def latency(m: Manifest) -> dict:
    """The benchmarks as table rows and as bars of a chart (geometry in SVG user units, the longest bar full)."""
    rows = [{"ms": b.latency_ms, "device": b.device, "accelerator": b.accelerator, "runtime": b.runtime,
             "threads": b.threads, "input": f"{b.input_size[0]}x{b.input_size[1]}", "applies_to": b.applies_to,
             "note": b.note, **_provenance(b), "extra": _extra(b)} for b in m.benchmarks]
    longest = max((r["ms"] for r in rows), default=1.0)
    width, h = 380, 46
    bars = [{"y": 28 + i * h, "w": max(2.0, round(width * r["ms"] / longest, 1)), "label": _bar_label(r), **r}
            for i, r in enumerate(rows)]
    return {"rows": rows, "bars": bars, "width": width, "height": 28 + len(rows) * h + 4,
            "sources": [s for s in SOURCES if any(r["source"] == s for r in rows)]}


def _bar_label(r: dict) -> str:
    """Device (without its parenthesised details, which the table keeps), what ran it and the file, in a line."""
    threads = f", {r['threads']} thread{'s' if r['threads'] != 1 else ''}" if r["threads"] else ""
    text = " · ".join([r["device"].split(" (")[0], r["accelerator"] + threads, *([r["applies_to"]] if r["applies_to"] else [])])
    return text if len(text) <= 64 else text[:63] + "…"


def artifacts(m: Manifest, downloads: dict[str, str]) -> list[dict]:
    out, ids = [], {a.id for a in m.artifacts}
    for a in m.artifacts:
        stats = {k: v for k, v in (a.compile_stats or {}).items() if not isinstance(v, (dict, list))}
        out.append({"id": a.id, "default": a.default, "target": a.target, "precision": a.precision,
                    "precision_class": "int8" if a.precision in _INT else "float", "input_dtype": a.input_dtype,
                    "output_dtype": a.output_dtype, "file": a.file, "size": a.size, "sha256": a.sha256, "md5": a.md5,
                    "parent": a.parent, "parent_anchor": f"{'a' if a.parent in ids else 'u'}-{a.parent}", "recipe": a.recipe, "build": a.build, "delegate": a.delegate,
                    "published": a.published, "unpublished": a.unpublished, "sources": a.sources,
                    "quantize": a.quantize.model_dump(mode="json") if a.quantize else None,
                    "split": op_split(a), "stats": stats, "download": downloads.get(a.id)})
    return out


def commands(m: Manifest) -> list[dict]:
    """The commands a reader copies: fetch for this machine and per target, then run it."""
    out = [{"what": "Fetch the right file for this machine", "command": f"zoo fetch {m.name}"}]
    out += [{"what": f"Fetch the {t} file", "command": f"zoo fetch {m.name} --target {t}"} for t in m.targets]
    out.append({"what": "Run it on a picture", "command": f"zoo predict {m.name} photo.jpg -o {m.name}.png"})
    out.append({"what": "Everything the manifest says", "command": f"zoo info {m.name}"})
    return out


def page(m: Manifest, downloads: dict[str, str], examples: list[dict]) -> dict:
    """The context of a model's page."""
    i = m.input
    p = i.preprocessing
    return {"m": m, "row": row(m), "head": describe_head(m), "labels": m.labels,
            "links": [{"title": "Homepage", "text": m.homepage, "url": web_link(m.homepage)},
                      *({"title": p.title, "text": p.url, "url": web_link(p.url)} for p in m.papers)],
            "input": {"shape": "x".join(map(str, i.shape)), "layout": i.layout, "color_order": i.color_order,
                      "dtype": i.dtype, "name": i.name, "resize": p.resize, "resize_method": p.resize_method,
                      "pad_value": p.pad_value, "mean": p.mean, "scale": p.scale},
            "outputs": [{"name": o.name, "shape": "x".join(map(str, o.shape)), "kind": o.kind,
                         "stride": o.output_stride} for o in m.outputs],
            "artifacts": artifacts(m, downloads),
            "upstream": [u.model_dump(mode="json") for u in m.upstream], "metrics": metrics(m), "latency": latency(m),
            "commands": commands(m), "examples": examples, "mirrored": bool(downloads),
            "card": card.render(m)}
