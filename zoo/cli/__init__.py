"""The `zoo` command. Conventions live in `_app`; each module here registers one group of commands,
in the order `zoo --help` lists them."""

from zoo.cli import catalog  # noqa: F401, I001  (importing registers the commands)
from zoo.cli import fetch  # noqa: F401
from zoo.cli import build  # noqa: F401
from zoo.cli import publish  # noqa: F401
from zoo.cli import measure  # noqa: F401
from zoo.cli._app import app, main

__all__ = ["app", "main"]
