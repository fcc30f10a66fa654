"""The base of every manifest schema model, shared by the manifest (zoo/manifest.py) and the tasks' heads
(zoo/tasks/): strict, frozen, no unknown fields."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PositiveInt = Annotated[int, Field(gt=0)]


class Strict(BaseModel):
    """No unknown fields, no coercion ("1234" is not a size, "yes" is not a bool), no figure that is not a number
    (YAML's .nan and .inf would reach JSON as NaN and Infinity, which JSON readers refuse)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
