"""A catalog of a thousand models: lookups, listings and fetches with 1,000 generated manifests (copies of
deeplabv3.yaml under other names, in ZOO_MANIFESTS) against the bundled catalog alone, in the same run.

  info     `zoo info deeplabv3` as a fresh process                                   target <= 2x the bundled time
  fetch    `zoo fetch deeplabv3 -t cpu` (a cache hit) right after a manifest changed  target <= 2x
  resolve  the first zoo.resolve("deeplabv3", target="cpu") of a fresh process       target <= 2x
  list     `zoo list --json` with 250, 500 and 1,000 manifests                       target <= 1 s at 1,000, linear

Each figure is the median of several runs after one warm-up run (which builds the manifest index, as any first
command after installing a thousand manifests does). The file is fetched once from a loopback mirror beforehand.

    python bench/catalog.py
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from _common import ZOO, env, median_of, report, run, workdir

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "testdata" / "coral"
sys.path.insert(0, str(REPO / "tests"))

from loopback import StaticServer  # noqa: E402


def generate(folder: Path, count: int) -> None:
    """`count` copies of deeplabv3.yaml named deeplabv3-copy-N, without its aliases (they would clash)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (REPO / "manifests" / "deeplabv3.yaml").read_text()
    text = re.sub(r"^aliases: .*\n", "", text, flags=re.M)
    for i in range(count):
        (folder / f"deeplabv3-copy-{i}.yaml").write_text(text.replace("name: deeplabv3\n", f"name: deeplabv3-copy-{i}\n", 1))


def resolve_once(environment: dict) -> float:
    code = ("import time, zoo\nt = time.perf_counter()\nzoo.resolve('deeplabv3', target='cpu')\n"
            "print(time.perf_counter() - t)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=environment)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if not (SHARED / "deeplabv3_mnv2_dm05_pascal_quant.tflite").is_file():
        sys.exit(f"needs Google's DeepLab file in {SHARED} (../shared)")
    work = workdir()
    mirror = work / "mirror" / "deeplabv3"
    mirror.mkdir(parents=True)
    shutil.copyfile(SHARED / "deeplabv3_mnv2_dm05_pascal_quant.tflite", mirror / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    thousand = work / "thousand"
    generate(thousand, 1000)
    with StaticServer(work / "mirror") as server:
        base = env(ZOO_CACHE_DIR=str(work / "cache"), ZOO_MIRRORS=server.base)
        base.pop("ZOO_MANIFESTS", None)
        run([*ZOO, "fetch", "deeplabv3", "-t", "cpu", "-q"], base)
    big = {**base, "ZOO_MANIFESTS": str(thousand)}
    base.pop("ZOO_MIRRORS")
    big.pop("ZOO_MIRRORS")
    small = {**base, "ZOO_MANIFESTS": str(work / "one")}  # the bundled catalog and one user manifest (to change)
    generate(work / "one", 1)
    for e in (small, big):
        run([*ZOO, "list", "--json"], e)  # the index, made once

    info = [median_of(7, lambda e=e: run([*ZOO, "info", "deeplabv3"], e)) for e in (small, big)]
    report("zoo info deeplabv3 (fresh process, median of 7)",
           [("bundled catalog", info[0] * 1e3, "ms"), ("with 1,000 manifests", info[1] * 1e3, "ms")],
           "1,000 manifests / bundled", info[1] / info[0], "<= 2")

    def changed_fetch(e: dict, folder: Path) -> None:
        target = folder / "deeplabv3-copy-0.yaml"
        target.write_text(target.read_text().replace("description: ", "description: (edited) ", 1))
        run([*ZOO, "fetch", "deeplabv3", "-t", "cpu", "-q"], e)

    fetch = [median_of(7, lambda e=e, f=f: changed_fetch(e, f)) for e, f in ((small, work / "one"), (big, thousand))]
    report("zoo fetch deeplabv3 -t cpu, a cache hit right after a manifest changed (median of 7)",
           [("bundled catalog", fetch[0] * 1e3, "ms"), ("with 1,000 manifests", fetch[1] * 1e3, "ms")],
           "1,000 manifests / bundled", fetch[1] / fetch[0], "<= 2")

    resolve = [sorted(resolve_once(e) for _ in range(5))[2] for e in (small, big)]
    report("first zoo.resolve('deeplabv3', target='cpu') in a fresh process (median of 5)",
           [("bundled catalog", resolve[0] * 1e3, "ms"), ("with 1,000 manifests", resolve[1] * 1e3, "ms")],
           "1,000 manifests / bundled", resolve[1] / resolve[0], "<= 2")

    sizes = {}
    for count in (250, 500, 1000):
        folder = work / f"list{count}"
        generate(folder, count)
        e = {**base, "ZOO_MANIFESTS": str(folder)}
        run([*ZOO, "list", "--json"], e)
        sizes[count] = median_of(5, lambda e=e: run([*ZOO, "list", "--json"], e))
    bundled = median_of(5, lambda: run([*ZOO, "list", "--json"], small))
    report("zoo list --json (fresh process, median of 5)",
           [("bundled catalog", bundled * 1e3, "ms"), *((f"with {n:,} manifests", t * 1e3, "ms") for n, t in sizes.items())],
           "growth from 500 to 1,000 (2.0 = linear)", (sizes[1000] - bundled) / max(sizes[500] - bundled, 1e-9), "<= 2")
    print(f"  {'with 1,000 manifests':<48} {sizes[1000]:10.3f} s    (target <= 1 s)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
