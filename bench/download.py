"""Download a 1 GiB file from a loopback server with verification, against `curl -o` of the same URL.

zoo is measured two ways, best of 3 each, both against a target of 0.8x curl's throughput: `zoo.resolve()` in a
running process (download, sha256 on a second thread, atomic install into the cache), and the `zoo fetch` CLI as
a fresh process (what a user runs, interpreter start-up included).

    python bench/download.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import shutil
import sys

from _common import ZOO, Server, best_of, env, report, run, workdir, write_manifest


def main(size_mib: int = 1024) -> None:
    data = os.urandom(size_mib << 20)
    work = workdir()
    cache = work / "cache"
    os.environ.update(ZOO_MANIFESTS=str(work / "manifests"), ZOO_CACHE_DIR=str(cache))
    import zoo

    with Server() as server:
        url = server.add("/payload.bin", data)
        write_manifest(work / "manifests", "payload", "payload.bin", data, [url])

        def curl():
            run(["curl", "-sS", "--fail", "-o", str(work / "curl.bin"), url])

        def resolve():
            shutil.rmtree(cache, ignore_errors=True)
            zoo.resolve("payload", target="cpu")

        def cli():
            shutil.rmtree(cache, ignore_errors=True)
            run([*ZOO, "fetch", "payload", "--target", "cpu", "--quiet"], env())

        t_curl, t_lib, t_cli = best_of(3, curl), best_of(3, resolve), best_of(3, cli)
    shutil.rmtree(work)
    report(f"download {size_mib} MiB over loopback, with verification (best of 3)",
           [("curl -o", size_mib / t_curl, "MiB/s"), ("zoo fetch CLI, fresh process", size_mib / t_cli, "MiB/s")],
           "zoo fetch throughput / curl throughput", t_curl / t_cli, ">= 0.8")
    report("the same in a running process (best of 3)",
           [("curl -o", size_mib / t_curl, "MiB/s"), ("zoo.resolve (download + sha256 + install)", size_mib / t_lib, "MiB/s")],
           "zoo.resolve throughput / curl throughput", t_curl / t_lib, ">= 0.8")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
