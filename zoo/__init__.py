"""zoo: the right, verified model file for your accelerator.

Importing zoo is light: no TensorFlow, no LiteRT, no HTTP client until a function needs one.
"""

from zoo.catalog import get, models
from zoo.detect import detect
from zoo.errors import ZooError, ZooWarning
from zoo.fetch import Resolved, resolve
from zoo.keras_model import keras_model
from zoo.manifest import Manifest
from zoo.runtime import load

__all__ = ["Manifest", "Resolved", "ZooError", "ZooWarning", "detect", "get", "keras_model", "load", "models", "resolve"]
__version__ = "0.1.0"
