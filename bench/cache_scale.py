"""The cache at scale: `zoo cache list`, `verify`, `prune` and `rm` with 1,000 and with 10,000 cached files (small
generated blobs, each with its view and stat record, plus 1% orphaned blobs for prune to find), measured in the
same run on the library calls the commands make. Each should grow linearly: 10x the files, at most 10x the time. The
file system's own growth (an lstat of every file, nothing else) is printed first: larger folders cost it more.

    python bench/cache_scale.py
"""

from __future__ import annotations

import os
import shutil

from _common import median_of, report, workdir

from zoo.cache import Cache
from zoo.hashes import Digest, sha256_of


def fill(root, count: int) -> Cache:
    cache = Cache(root)
    cache.folder("tmp")
    for i in range(count):
        data = i.to_bytes(8, "little") * 64
        tmp = cache.temp()
        tmp.write_bytes(data)
        cache.install(tmp, Digest(len(data), sha256_of(data)), f"model-{i // 10}", f"a{i % 10}", "m.tflite")
    for i in range(count // 100):  # orphans: blobs no view links to any more
        data = b"orphan" + i.to_bytes(8, "little")
        tmp = cache.temp()
        tmp.write_bytes(data)
        view = cache.install(tmp, Digest(len(data), sha256_of(data)), "orphans", f"o{i}", "o.tflite")
        view.unlink()
    return cache


def main() -> None:
    work = workdir()
    caches = {n: fill(work / f"cache{n}", n) for n in (1000, 10000)}
    operations = {
        "cache list (entries)": lambda c: c.entries(),
        "cache verify (re-hash, check views)": lambda c: c.verify(),
        "cache prune --dry-run": lambda c: c.prune(dry_run=True),
        "cache rm MODEL --dry-run": lambda c: c.remove("model-7", dry_run=True),
    }
    def stat_everything(cache: Cache) -> None:  # the file system's own share: one lstat of every file, no zoo
        for folder, _, files in os.walk(cache.root):
            for f in files:
                os.lstat(os.path.join(folder, f))

    small, large = (median_of(3, lambda c=caches[n]: stat_everything(c)) for n in (1000, 10000))
    report("baseline: lstat of every file in the cache (median of 3)",
           [("1,000 files", small * 1e3, "ms"), ("10,000 files", large * 1e3, "ms")], "10,000 / 1,000", large / small, None)
    for name, op in operations.items():
        assert op(caches[1000]) is not None
        small, large = (median_of(3, lambda c=caches[n]: op(c)) for n in (1000, 10000))
        report(f"{name} (median of 3)", [("1,000 files", small * 1e3, "ms"), ("10,000 files", large * 1e3, "ms")],
               "10,000 / 1,000", large / small, "<= 10")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
