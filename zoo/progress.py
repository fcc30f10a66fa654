"""Progress reporting handed to the library: a bar on stderr when it is a terminal, else nothing."""

from __future__ import annotations

import os
import sys
import time
import warnings

from zoo.errors import ZooWarning, printable


class Progress:
    """Silent progress; warnings become ZooWarning. The base the CLI's reporter extends."""

    def start(self, label: str, total: int | None, unit: str = "B") -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def restart(self) -> None:
        pass

    def done(self) -> None:
        pass

    def message(self, text: str) -> None:
        warnings.warn(text, ZooWarning, stacklevel=_caller_level())

    def note(self, text: str) -> None:
        pass


_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_level() -> int:
    """The stacklevel of the first frame outside zoo's own code, so a ZooWarning names the line that called zoo."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


class StderrProgress(Progress):
    """A one-line bar redrawn at most ten times a second; messages are printed as warnings."""

    def __init__(self, bar: bool, quiet: bool = False):
        self.bar, self.quiet = bar and not quiet, quiet
        self._label, self._total, self._unit, self._done, self._t0, self._drawn = "", None, "B", 0, 0.0, 0.0

    def start(self, label: str, total: int | None, unit: str = "B") -> None:
        self._label, self._total, self._unit, self._done, self._t0, self._drawn = label, total, unit, 0, time.monotonic(), 0.0

    def advance(self, n: int) -> None:
        self._done += n
        now = time.monotonic()
        if self.bar and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def restart(self) -> None:
        self._done = 0

    def done(self) -> None:
        if self.bar:
            self._draw(time.monotonic())
            sys.stderr.write("\n")

    def message(self, text: str) -> None:
        if self.bar:
            sys.stderr.write("\r\033[K")
        sys.stderr.write(f"warning: {printable(text)}\n")

    def note(self, text: str) -> None:
        if not self.quiet:
            if self.bar:
                sys.stderr.write("\r\033[K")
            sys.stderr.write(f"{printable(text)}\n")

    def _draw(self, now: float) -> None:
        scale, unit = (1e6, "MB") if self._unit == "B" else (1, self._unit)
        done, rate = self._done / scale, self._done / scale / max(now - self._t0, 1e-6)
        if self._total:
            frac = min(self._done / self._total, 1.0)
            left = (self._total - self._done) / scale / rate if rate > 0 else 0
            eta = f" ETA {int(left) // 60}:{int(left) % 60:02d}" if frac < 1 else ""
            text = (f"{self._label} [{'#' * int(frac * 30):<30}] {frac:6.1%} {done:.1f}/{self._total / scale:.1f} {unit} "
                    f"{rate:.1f} {unit}/s{eta}")
        else:
            text = f"{self._label} {done:.1f} {unit} {rate:.1f} {unit}/s"
        sys.stderr.write("\r\033[K" + text)
        sys.stderr.flush()
