"""Loading model-specific recipes from recipes/<name>/recipe.py, and what they receive and return."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np

from zoo.errors import ZooError
from zoo.manifest import Manifest


@dataclass(frozen=True)
class Context:
    """What a recipe gets: the manifest, its build options, the fetched upstream (file or extracted folder)."""

    manifest: Manifest
    options: dict
    upstream: Path | None
    input_size: int
    weights: str


@dataclass
class FloatSource:
    """What a recipe returns: a fresh TFLiteConverter for the float model on each call, the float model's
    output for one preprocessed input (the reference the int8 model is checked against), and notes."""

    make_converter: Callable[[], object]
    predict: Callable[[np.ndarray], np.ndarray]
    notes: dict = field(default_factory=dict)


@lru_cache(maxsize=1)
def recipes_dir() -> Path:
    """Recipes shipped with zoo: inside the installed package, or the checkout's top-level folder."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "recipes"
    return packaged if packaged.is_dir() else here.parent / "recipes"


def recipe_module(name: str) -> ModuleType:
    """Import recipes/<name>/recipe.py (also for fine-tuning: `recipe_module("coral_deeplab").build_model(...)`)."""
    module_name = f"zoo_recipes.{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = recipes_dir() / name / "recipe.py"
    if not path.is_file():
        known = sorted(p.parent.name for p in recipes_dir().glob("*/recipe.py"))
        raise ZooError(f"no recipe {name!r} at {path}", f"known recipes: {', '.join(known) or 'none'}")
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
