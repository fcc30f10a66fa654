"""zoo: the right, verified model file for your accelerator.

Importing zoo is light: no TensorFlow, no LiteRT, no HTTP client, and not even the manifest schema until a name
below is first used (PEP 562), so a cache hit from the command line starts fast.
"""

__version__ = "0.1.0"
# Public name -> the module that defines it. No public name is also the name of a submodule: importing a submodule
# sets it as an attribute of the package, which would shadow the function (tests/test_package.py checks).
_HOMES = {
    "get": "zoo.catalog", "models": "zoo.catalog", "detect": "zoo.devices", "ZooError": "zoo.errors",
    "ZooWarning": "zoo.errors", "Resolved": "zoo.resolver", "resolve": "zoo.resolver", "keras_model": "zoo.finetune",
    "Manifest": "zoo.manifest", "load": "zoo.model", "Model": "zoo.model",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({"__version__", *__all__})
