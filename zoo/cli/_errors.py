"""Exceptions to user-facing lines, in one place at the command line's edge (like huggingface_hub's cli/_errors.py).

A known failure is one line (or one per manifest problem) with a hint; anything not named here is a bug in zoo
and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys

from zoo.errors import install_extra, ZooError

_OS_HINTS = {
    errno.ENOSPC: "free some space, or write somewhere else",
    errno.EDQUOT: "free some space, or write somewhere else",
    errno.EROFS: "that filesystem is read-only; write somewhere else",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
    errno.EISDIR: "give a file path, not a folder",
    errno.ENOTDIR: "a part of that path is a file, not a folder",
    errno.EEXIST: "a part of that path is a file, not a folder",
    errno.ENOENT: "check the path",
}


# Third-party modules zoo imports only for commands that need them, and the extra that installs each.
EXTRAS = {"numpy": "run", "PIL": "run", "ai_edge_litert": "run", "ruamel": "run", "tensorflow": "build", "keras": "build",
          "h5py": "build", "ethosu": "imx93", "ai_edge_quantizer": "quantize"}


def explain(e: BaseException) -> str | None:
    """The lines to print for a known failure, or None for a bug."""
    if isinstance(e, ZooError):
        return str(e)
    if isinstance(e, ModuleNotFoundError) and (e.name or "").partition(".")[0] in EXTRAS:
        extra = EXTRAS[e.name.partition(".")[0]]
        return (f"this command needs the {extra} extra ({e.name} is not installed) "
                f"({install_extra(extra)})")
    if isinstance(e, OSError) and e.errno in _OS_HINTS:
        where = f": {e.filename}" if e.filename else ""
        return f"{e.strerror}{where} ({_OS_HINTS[e.errno]})"
    hub = sys.modules.get("huggingface_hub.errors")
    if hub is not None and isinstance(e, hub.HfHubHTTPError):
        status = getattr(e.response, "status_code", None)
        hint = "check HF_TOKEN or run `hf auth login`" if status in (401, 403) else "check the repo name and your network"
        return f"the Hugging Face Hub refused: {str(e).splitlines()[0]} ({hint})"
    network = tuple(cls for mod, name in (("requests", "RequestException"), ("httpx2", "HTTPError"), ("httpx", "HTTPError"))
                    if (cls := getattr(sys.modules.get(mod), name, None)) is not None)
    if network and isinstance(e, network):
        return f"network error: {type(e).__name__}: {e} (check your network, or set ZOO_OFFLINE=1 to use only cached files)"
    return None
