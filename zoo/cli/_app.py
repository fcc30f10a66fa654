"""The `zoo` command: thin typer commands over the library.

Results go to stdout, messages to stderr; a known error is one line and exit 1
(ZOO_DEBUG=1 shows the traceback), a usage error exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from zoo import catalog, settings
from zoo.cli._errors import explain
from zoo.errors import printable
from zoo.targets import TARGETS

class _Commands(TyperGroup):
    """Says so on stderr when Ctrl-C stops a command (typer itself exits 130 without a word)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _err("interrupted (a download picks up where it stopped when run again)")
            raise


class _Command(TyperCommand):
    """Usage lines and help in plain click style: `zoo fetch [OPTIONS] NAME`, `[PATH]...`, an option's metavar in
    place of a Python type (`-t, --target TARGET`, not `<list[str]>`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                shown = (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")
                param._usage_display_name = lambda shown=shown: shown
                param.display_type_rich = lambda ctx: None
            elif param.metavar is None and not param.is_flag:
                param.metavar = param.name.upper()


class _Typer(typer.Typer):
    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _Typer(
    cls=_Commands,
    help="zoo: fetch the right, verified model file for your accelerator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _target(value: str) -> str:
    """--target: 'auto' or a known target, else a usage error (exit 2) listing them."""
    if value != "auto" and value not in TARGETS:
        raise typer.BadParameter(f"unknown target {value!r}; use auto or one of: {', '.join(TARGETS)}")
    return value


def _version(value: bool) -> None:
    if value:
        from zoo import __version__

        sys.stdout.write(f"zoo {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False) -> None:
    """zoo: fetch the right, verified model file for your accelerator."""

def given_path(raw: str | None) -> str | None:
    """An -o path as typed: an empty one (an unset variable in a script) is a usage error, not the current folder."""
    if raw is not None and not raw.strip():
        raise typer.BadParameter("an empty path; give a file or a folder")
    return raw


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (nothing else goes to stdout).")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or notes on stderr; warnings and errors still go there.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Model name or alias (see `zoo list`).")]
TargetOpt = Annotated[str, typer.Option("--target", "-t", metavar="TARGET", callback=_target,
                                        help=f"auto (detect; ZOO_TARGET overrides) or one of: {', '.join(TARGETS)}.")]
ModelArg = Annotated[str, typer.Argument(metavar="NAME_OR_FILE", help="A model name (its artifact for --target is fetched) or a .tflite file.")]
LikeOpt = Annotated[Optional[str], typer.Option(metavar="NAME", help="For a file no manifest lists: the model whose preprocessing and classes it uses.")]
RecordOpt = Annotated[bool, typer.Option(help="Append the result to the manifest as a measured figure (never replacing upstream ones).")]


def _output(raw: str, default_name: str) -> Path:
    """Where `-o/--output PATH` writes: PATH, or PATH/default_name when PATH is a folder or ends with a slash
    (the folder is created); the parent of a file path is created too."""
    path = Path(raw).expanduser()
    if path.is_dir() or raw.endswith(("/", os.sep)):
        path.mkdir(parents=True, exist_ok=True)
        return path / default_name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _out(text: str) -> None:
    sys.stdout.write(printable(text) + "\n")


def _err(text: str) -> None:
    sys.stderr.write(printable(text) + "\n")


def _json(obj: object) -> None:
    _out(json.dumps(obj, indent=2, default=str))


def _progress(quiet: bool = False):
    """Progress on stderr: a bar when it is a terminal, warnings always, notes unless quiet."""
    from zoo.progress import StderrProgress

    return StderrProgress(bar=sys.stderr.isatty(), quiet=quiet)


def _load_catalog() -> catalog.Catalog:
    cat = catalog.load()
    for w in cat.warnings:
        _err(f"warning: {w}")
    for p in cat.problems:
        _err(f"warning: skipped invalid manifest {p.path} ({len(p.problems)} problem(s); run `zoo validate`)")
    return cat


def main() -> None:
    """Console entry point: a known failure is one line on stderr and exit 1 (usage errors exit 2, from typer);
    an unknown one is a bug and keeps its traceback, as does everything with ZOO_DEBUG=1."""
    try:
        app(prog_name="zoo")
    except Exception as e:
        text = explain(e)
        if text is None or settings.debug():
            raise
        for line in text.splitlines():
            _err(f"error: {line}")
        sys.exit(1)
