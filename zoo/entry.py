"""The `zoo` command's entry point: `zoo --version`, `zoo --help` and a plain cache hit (`zoo fetch NAME
[-t TARGET] [--offline] [-q]`) are answered before the CLI, typer and the manifest schema are imported; everything
else goes to zoo.cli."""

from __future__ import annotations

import os
import sys

# typer's top-level help as it renders it for a terminal of at least HELP_COLUMNS (click never wraps wider), kept
# in a file; tests/test_cli.py checks it against typer and says how to regenerate it.
HELP_FILE = os.path.join(os.path.dirname(__file__), "cli", "help.txt")
HELP_COLUMNS = 80

_FLAGS = {"--offline", "-q", "--quiet"}


def _plain_fetch(argv: list[str]) -> tuple[str, str] | None:
    """(name, target) if argv is a fetch the hit path can answer exactly as the full command would."""
    if len(argv) < 2 or argv[0] != "fetch" or argv[1].startswith("-"):
        return None
    name, target, rest = argv[1], "auto", argv[2:]
    while rest:
        arg = rest.pop(0)
        if arg in _FLAGS:
            continue
        if arg in ("-t", "--target") and rest:
            target = rest.pop(0)
        elif arg.startswith("--target="):
            target = arg.partition("=")[2]
        else:
            return None
    return name, target


def _columns() -> int:
    """The terminal width click would format help for (COLUMNS, then the terminal, else 80)."""
    import shutil

    return shutil.get_terminal_size().columns


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from zoo import __version__

        sys.stdout.write(f"zoo {__version__}\n")
        return
    if sys.argv[1:] in (["--help"], ["-h"]) and _columns() >= HELP_COLUMNS:
        with open(HELP_FILE, encoding="utf-8") as f:
            sys.stdout.write(f.read())
        return
    request = _plain_fetch(sys.argv[1:])
    if request is not None:
        from zoo import hit
        from zoo.errors import ZooError, printable

        try:
            found = hit.lookup(*request)
        except (ZooError, OSError, ValueError):
            found = None  # the full path reports whatever is wrong
        if found is not None:
            for warning in found.warnings:
                sys.stderr.write(f"warning: {printable(warning)}\n")
            sys.stdout.write(found.path + "\n")
            return
    from zoo.cli import main as cli

    cli()
