"""`zoo cache verify` (a fresh process re-hashing every cached file) against `sha256sum` of the same files.

    python bench/verify.py [FILES] [MIB_EACH]
"""

from __future__ import annotations

import os
import shutil
import sys

from _common import ZOO, Server, best_of, env, report, run, workdir, write_manifest


def main(files: int = 4, mib_each: int = 128) -> None:
    work = workdir()
    zoo_env = env(ZOO_MANIFESTS=str(work / "manifests"), ZOO_CACHE_DIR=str(work / "cache"))
    with Server() as server:
        for i in range(files):
            data = os.urandom(mib_each << 20)
            write_manifest(work / "manifests", f"payload{i}", f"p{i}.bin", data, [server.add(f"/p{i}.bin", data)])
            run([*ZOO, "fetch", f"payload{i}", "--target", "cpu", "--quiet"], zoo_env)
    blobs = [str(p) for p in (work / "cache" / "blobs" / "sha256").iterdir() if p.suffix != ".stat"]
    t_sum = best_of(5, lambda: run(["sha256sum", *blobs]))
    t_zoo = best_of(5, lambda: run([*ZOO, "cache", "verify"], zoo_env))
    shutil.rmtree(work)
    total = files * mib_each
    report(f"re-hash {files} x {mib_each} MiB cached files (fresh process each, best of 5)",
           [("sha256sum", total / t_sum, "MiB/s"), ("zoo cache verify", total / t_zoo, "MiB/s")],
           "zoo throughput / sha256sum throughput", t_sum / t_zoo, ">= 0.9")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
