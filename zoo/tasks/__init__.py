"""Tasks: what a model's outputs mean. One module per task, registered here by the manifest's `task` name (like
targets.py for accelerators).

A task owns its head (the manifest section saying which output means what: labels and their offset, keypoint names,
anchors), the output kinds it reads, decoding raw outputs into a result, the agreement a build checks against its
float reference, its metric and `zoo eval`, what `zoo predict` prints and draws, and the headline metric `zoo list`
and the model card show. Heads are light (the manifest loads them); decoding and drawing import numpy and pillow
only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.errors import ZooError
from zoo.tasks import classification, detection, pose, segmentation
from zoo.tasks.base import Task

if TYPE_CHECKING:
    from zoo.manifest import Manifest, Metric

__all__ = ["TASKS", "Task", "get_task", "headline_metrics", "measured_pair"]

FLOAT = ("float32", "float16")


def headline_metrics(m: Manifest) -> list[Metric]:
    """The manifest's upstream figures of its task's headline metric (measured ones: measured_pair)."""
    return [x for x in m.metrics if x.name == get_task(m.task).headline and x.source != "measured"]


def measured_pair(m: Manifest) -> dict | None:
    """The headline of zoo's own measurements: the reference file's figure (the float one, else the first measured)
    beside an integer file's (the CPU's, else the first other) on the same dataset and split, with the difference
    and the image count; None when zoo measured nothing."""
    name = get_task(m.task).metric(m)
    figures = [x for x in m.metrics if x.source == "measured" and x.name == name]
    if not figures:
        return None
    order = {a.id: (a.precision not in FLOAT, i) for i, a in enumerate(m.artifacts)}
    figures.sort(key=lambda x: order.get(x.applies_to, (True, len(order))))
    ref = figures[0]
    same = [x for x in figures[1:] if (x.dataset, x.split) == (ref.dataset, ref.split)]
    precision = {a.id: a.precision for a in m.artifacts}
    other = next((x for x in same if precision.get(x.applies_to) not in FLOAT), same[0] if same else None)
    return {"name": name, "dataset": ref.dataset, "split": ref.split, "images": ref.images,
            "reference": {"artifact": ref.applies_to, "value": ref.value},
            "int8": {"artifact": other.applies_to, "value": other.value} if other else None,
            "difference": round(other.value - ref.value, 2) if other else None}


TASKS: dict[str, Task] = {t.name: t for t in (classification.TASK, detection.TASK, pose.TASK, segmentation.TASK)}


def get_task(name: str) -> Task:
    """The registered task called `name`, or ZooError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ZooError(f"unknown task {name!r}", f"known tasks: {', '.join(TASKS)}") from None
