"""`zoo.keras_model`: the float Keras model a manifest's artifacts are converted from, ready to fine-tune.

TensorFlow is imported only when this is called; `import zoo` stays light.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo import catalog
from zoo.errors import ZooError
from zoo.obtain import obtain_cached
from zoo.progress import Progress


def keras_model(name: str, weights: str | os.PathLike | None = "upstream", input_size: int | None = None,
                progress: Progress | None = None):
    """The float tf.keras (Keras 3) model of `name`.

    weights: "upstream" fetches, verifies and caches the manifest's upstream weights through the resolver; None
    gives a freshly initialised network; a path loads that file (the recipe's upstream format, e.g. a
    coral-deeplab .h5 in either layout, or weights zoo saved). The class count comes from the weights (else the
    manifest), the input is any square `input_size` (default the manifest's).
    """
    m = catalog.get(name)
    if m.build is None:
        raise ZooError(f"{m.name} has no build section, so zoo has no Keras model for it",
                       "models with a build recipe: " + ", ".join(n for n in catalog.models() if catalog.get(n).build))
    from zoo.convert.recipes import recipe_module

    recipe = recipe_module(m.build.recipe)
    if not hasattr(recipe, "model_for"):
        raise ZooError(f"recipe {m.build.recipe!r} of {m.name} converts a graph, not a Keras model",
                       "fine-tune from the upstream training code instead")
    path = None
    if weights == "upstream":
        up = next(u for u in m.upstream if u.id == m.build.upstream)
        path, _ = obtain_cached(m.name, up, progress or Progress())
    elif weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise ZooError(f"no weights file at {path}", 'give a .h5 path, "upstream" or None')
    return recipe.model_for(dict(m.build.options), path, input_size or m.input.shape[1], len(m.labels))
