"""`zoo eval`: a model's files run on the same images of a dataset, each scored by its task's metric and compared
with the reference file (the float one when there is one), and the figures as manifest `metrics` entries.

Which files run here is a fact of their target (targets.Target.runs_on_cpu): the CPU's, and the i.MX 8M Plus's
integer graphs (LiteRT runs them on the CPU; the NPU computes the same integers, rounding aside). Edge TPU and
Ethos-U files hold the accelerator's own operator and need the device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError
from zoo.progress import Progress
from zoo.targets import get_target
from zoo.tasks import get_task
from zoo.tasks.base import Context, Dataset

if TYPE_CHECKING:
    from zoo.manifest import Artifact, Manifest
    from zoo.runtime import Opened

@dataclass
class Row:
    """One file's line of the report: what it scored, its difference from and agreement with the reference."""

    artifact: str
    target: str
    precision: str
    status: str  # "ran", or why it did not run here
    figures: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    difference: float | None = None
    agreement: float | None = None
    images: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(vars(self))


@dataclass
class Report:
    model: str
    task: str
    dataset: Dataset
    subset: str
    reference: str | None
    agreement_unit: str
    rows: list[Row]

    def to_dict(self) -> dict:
        ds = self.dataset
        return {"model": self.model, "task": self.task, "dataset": ds.name, "split": ds.split, "subset": self.subset,
                "layout": ds.layout, "metric": ds.metric, "no_metric": ds.no_metric, "unit": "%",
                "reference": self.reference, "agreement_unit": self.agreement_unit, "notes": ds.notes,
                "caveat": caveat(self), "artifacts": [r.to_dict() for r in self.rows]}


def caveat(report: Report) -> str:
    """What must stand beside a figure measured on a sample set like the ones reachable here."""
    n = max((r.images for r in report.rows), default=0)
    return (f"{n} images of {report.dataset.name} ({report.subset}): compares this model's files with each other on the "
            "same images, not with published accuracy")


def plan(m: Manifest, which: str) -> list[tuple[Artifact, str | None]]:
    """The artifacts asked for ('all' or ids separated by commas), each with None when it runs here or why not;
    the reference first (the float file when there is one, else the first CPU file)."""
    ids = [a.id for a in m.artifacts]
    wanted = ids if which == "all" else [w.strip() for w in which.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in ids]
    if unknown or not wanted:
        raise ZooError(f"{m.name} has no artifact {', '.join(map(repr, unknown)) or 'named'}",
                       f"--artifacts takes all or some of: {', '.join(ids)}")
    chosen = [a for a in m.artifacts if a.id in wanted]
    out = [(a, None if get_target(a.target).runs_on_cpu else f"needs the device ({get_target(a.target).title})")
           for a in chosen]
    runnable = [a for a, why in out if why is None]
    reference = next((a for a in runnable if a.is_float), None) or next(iter(runnable), None)
    return sorted(out, key=lambda x: x[0] is not reference)


def open_on_cpu(m: Manifest, artifact: Artifact, threads: int | None, progress: Progress) -> Opened:
    """The artifact fetched and verified (derived here when pinned and its compiler is installed), loaded on the CPU."""
    from zoo.litert import allocated
    from zoo.resolver import resolve
    from zoo.runtime import Opened

    resolved = resolve(f"{m.name}/{artifact.id}", progress=progress)
    interpreter = allocated(resolved.path, None, **({"num_threads": threads} if threads else {}))
    return Opened(interpreter, resolved.path, "cpu", None, resolved.manifest, resolved.artifact)


def predictions(model, ds: Dataset, samples: list, progress: Progress) -> tuple[list, float]:
    """The task's eval prediction of each sample, and the seconds they took."""
    from concurrent.futures import ThreadPoolExecutor

    task = model.task
    progress.start(f"eval {model.artifact.id if model.artifact else model.path.name}", len(samples), "images")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(1) as reader:  # the truth (masks) read beside the model: decoding a PNG releases the GIL
        pending = [reader.submit(task.read_truth, ds, sample) for sample in samples]
        out = _predicted(model, ds, samples, progress)
        for future in pending:
            future.result()
    seconds = time.perf_counter() - t0
    progress.done()
    return out, seconds


def _predicted(model, ds: Dataset, samples: list, progress: Progress) -> list:
    from zoo.preprocess import as_image

    task, out = model.task, []
    for image_path, _ in samples:
        out.append(task.eval_prediction(model, as_image(image_path), ds))  # an unreadable image: one line naming it
        progress.advance(1)
    return out


def evaluate(m: Manifest, data: Path, which: str = "all", split: str = "val", limit: int | None = None,
             threads: int | None = None, progress: Progress | None = None, dataset: str | None = None) -> Report:
    """Every asked-for artifact of `m` that runs here, on the same images of `data`; the others listed with why."""
    from zoo.model import Model

    progress = progress or Progress()
    task, ctx = get_task(m.task), context(m)
    chosen = plan(m, which)
    ds = _read(task, data, ctx, split, limit, dataset)
    rows, kept, reference = [], {}, None
    for artifact, why in chosen:
        row = Row(artifact.id, artifact.target, artifact.precision, why or "ran")
        rows.append(row)
        if why:
            continue
        try:
            model = Model(open_on_cpu(m, artifact, threads, progress))
        except ZooError as e:
            row.status = f"not available here: {e.message}"
            continue
        preds, row.seconds = predictions(model, ds, ds.samples, progress)
        row.seconds = round(row.seconds, 2)
        _score(task, ds, preds, row)
        if reference is None:
            reference = artifact.id
        kept[artifact.id] = preds
    for row in rows:
        if row.artifact in kept and reference is not None:
            row.agreement = task.agree(kept[reference], kept[row.artifact], ctx)
            ref_row = next(r for r in rows if r.artifact == reference)
            if row.value is not None and ref_row.value is not None:
                row.difference = round(row.value - ref_row.value, 4)
    return Report(m.name, m.task, ds, _subset(ds, limit), reference, task.agree_unit(ctx), rows)


def evaluate_loaded(model, data: Path, split: str = "val", limit: int | None = None, progress: Progress | None = None,
                    dataset: str | None = None) -> Report:
    """One loaded file (the one a target resolves to, or a .tflite path) on a dataset: a report of one row."""
    progress = progress or Progress()
    ctx = context(model.manifest, model.outputs, model.target)
    ds = _read(model.task, data, ctx, split, limit, dataset)
    a = model.artifact
    row = Row(a.id if a else model.path.name, a.target if a else model.target, a.precision if a else "-", "ran")
    preds, seconds = predictions(model, ds, ds.samples, progress)
    row.seconds = round(seconds, 2)
    _score(model.task, ds, preds, row)
    return Report(model.manifest.name, model.manifest.task, ds, _subset(ds, limit), row.artifact,
                  model.task.agree_unit(ctx), [row])


def comparisons(m: Manifest, report: Report, row: Row) -> list[dict]:
    """The manifest's figures of the headline metric for this row's file on the same dataset and split, with the
    difference."""
    ds = report.dataset
    return [{"value": x.value, "source": x.source, "dataset": x.dataset, "split": x.split, "images": x.images,
             "difference": round(row.value - x.value, 2)}
            for x in m.metrics if x.name == ds.metric and x.applies_to == row.artifact and x.unit == "%"
            and x.dataset == ds.name and x.split == ds.split]


def context(m: Manifest, outputs: list | None = None, target: str | None = None) -> Context:
    """What a task sees of a model (never the manifest itself)."""
    return Context(m.parsed_head, outputs or m.outputs, m.labels, target)


def _read(task, data: Path, ctx: Context, split: str, limit: int | None, dataset: str | None) -> Dataset:
    ds = task.dataset(data, ctx, split)
    if limit:
        ds.samples = ds.samples[:limit]
    if dataset:
        ds.name = dataset
    return ds


def _subset(ds: Dataset, limit: int | None) -> str:
    return f"first {len(ds.samples)} images" if limit else f"all {len(ds.samples)} images"


def _score(task, ds: Dataset, preds: list, row: Row) -> None:
    if ds.metric is not None:
        row.figures = task.score(ds, preds)
        row.value = row.figures[ds.metric]
    row.images = len(preds)


def tool_versions(task: str) -> dict[str, str]:
    """What the figures were computed with: zoo, LiteRT, and pycocotools for detection AP."""
    from importlib.metadata import PackageNotFoundError, version

    import zoo

    out = {"zoo": zoo.__version__}
    for name in ("ai-edge-litert", *(("pycocotools",) if task == "object-detection" else ())):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def metric_entries(report: Report, command: str, today: str) -> list[dict]:
    """Manifest `metrics` entries (source: measured) of every figure of every file that ran: the headline and the
    task's other single figures (top-5, AP50, mIoU), with the dataset, split, subset, images, command, date, tools
    and caveat."""
    ds, tools, note = report.dataset, tool_versions(report.task), caveat(report)
    out = []
    for row in report.rows:
        if not row.images:
            continue
        for name, value in row.figures.items():
            if isinstance(value, (int, float)) and name != "pixel_accuracy":
                out.append({"name": name, "value": round(float(value), 2), "unit": "%", "dataset": ds.name,
                            "split": ds.split, "subset": report.subset, "applies_to": row.artifact, "images": row.images,
                            "source": "measured", "command": command, "date": today, "tools": dict(tools), "caveat": note})
    return out

