"""zoo: the right, verified model file for your accelerator.

Importing zoo is light: no TensorFlow, no LiteRT, no HTTP client, and not even the manifest schema until a name
below is first used (PEP 562), so a cache hit from the command line starts fast.
"""

from importlib import import_module

__version__ = "0.1.0"
_HOMES = {
    "get": "zoo.catalog", "models": "zoo.catalog", "detect": "zoo.detect", "ZooError": "zoo.errors",
    "ZooWarning": "zoo.errors", "Resolved": "zoo.resolver", "resolve": "zoo.resolver", "keras_model": "zoo.keras_model",
    "Manifest": "zoo.manifest", "load": "zoo.runtime",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *_HOMES]
