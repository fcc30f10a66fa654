"""zoo: the right, verified model file for your accelerator.

Importing zoo is light: no TensorFlow, no LiteRT, no HTTP client until a function needs one.
"""

from zoo.catalog import get, models
from zoo.errors import ZooError
from zoo.manifest import Manifest

__all__ = ["Manifest", "ZooError", "get", "models"]
__version__ = "0.1.0"
