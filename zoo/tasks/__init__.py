"""Tasks: what a model's outputs mean. One module per task, registered here by the manifest's `task` name (like
targets.py for accelerators).

A task owns its head (the manifest section saying which output means what: labels and their offset, keypoint names,
anchors), the output kinds it reads, decoding raw outputs into a result, the agreement a build checks against its
float reference, its metric and `zoo eval`, what `zoo predict` prints and draws, the headline metric and head line
`zoo list`, `zoo info` and the model card show, and the outputs and head `zoo init` writes. Tasks see a model through
its parsed head, its outputs and its labels (base.Context), never the manifest: the schema imports them, not the
other way round. Heads are light (the manifest loads them); decoding and drawing import numpy and pillow only when
called.
"""

from __future__ import annotations

from zoo.errors import ZooError
from zoo.tasks import classification, detection, pose, segmentation
from zoo.tasks.base import Task

__all__ = ["TASKS", "Task", "get_task"]

TASKS: dict[str, Task] = {t.name: t for t in (classification.TASK, detection.TASK, pose.TASK, segmentation.TASK)}


def get_task(name: str) -> Task:
    """The registered task called `name`, or ZooError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise ZooError(f"unknown task {name!r}", f"known tasks: {', '.join(TASKS)}") from None
