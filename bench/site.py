"""The static catalog at a thousand models: `zoo site -o DIR` with 1,000 generated manifests (copies of the bundled
ones under other names, in ZOO_MANIFESTS, so every task and target appears), in fresh processes.

  first build    everything rendered, the catalog's manifest index made too (a fresh cache)   target <= 20 s
  rebuild        one manifest changed: only its page rendered again                          target <= 2 s
  index page     index.html compressed with gzip                                              target <= 300 KB

    python bench/site.py
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import resource
import shutil
import subprocess
import time
from pathlib import Path

from _common import ZOO, env, median_of, report, run, workdir

REPO = Path(__file__).resolve().parent.parent


def generate(folder: Path, count: int) -> list[Path]:
    """`count` manifests: the bundled ones in turn, named NAME-copy-N, without their aliases (they would clash), each
    with a description of its own (random words from the bundled descriptions), so the index compresses no better
    than a catalog of different models would."""
    folder.mkdir(parents=True, exist_ok=True)
    bundled = sorted((REPO / "manifests").glob("*.yaml"))
    texts = [(p.stem, re.sub(r"^aliases: .*\n", "", p.read_text(), flags=re.M)) for p in bundled]
    words = sorted({w for _, t in texts for w in re.findall(r"[A-Za-z][a-z]{2,}", t.split("description:", 1)[1][:400])})
    rng = random.Random(0)
    out = []
    for i in range(count):
        name, text = texts[i % len(texts)]
        path = folder / f"{name}-copy-{i}.yaml"
        text = text.replace(f"name: {name}\n", f"name: {name}-copy-{i}\n", 1)
        own = " ".join(rng.choice(words) for _ in range(30))
        path.write_text(re.sub(r"^description: (>-\n(?:  .*\n)+|.*\n)", f"description: {own}\n", text, count=1, flags=re.M))
        out.append(path)
    return out


def timed(cmd: list[str], e: dict) -> tuple[float, float, dict]:
    """Wall time, CPU time (user + system: what the machine's other load does not inflate) and the JSON result."""
    t0, c0 = time.perf_counter(), _children_cpu()
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=e)
    return time.perf_counter() - t0, _children_cpu() - c0, json.loads(done.stdout)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    work = workdir()
    files = generate(work / "thousand", 1000)
    e = env(ZOO_CACHE_DIR=str(work / "cache"), ZOO_MANIFESTS=str(work / "thousand"))
    e.pop("ZOO_MIRRORS", None)
    site = work / "site"
    cmd = [*ZOO, "site", "-o", str(site), "--json", "-q"]
    first, first_cpu, result = timed(cmd, e)
    assert len(result["rendered"]) == result["models"] >= 1000, result["models"]
    cpu = []

    def changed() -> None:
        path = files[0]
        path.write_text(re.sub(r"^family: (.*)$", r"family: \1x", path.read_text(), count=1, flags=re.M))
        _, used, again = timed(cmd, e)
        cpu.append(used)
        assert again["rendered"] == [path.stem], again["rendered"]

    unchanged = median_of(5, lambda: run(cmd, e))
    rebuild = median_of(5, changed)
    raw = (site / "index.html").read_bytes()
    packed = len(gzip.compress(raw, 9))
    report("zoo site -o DIR with 1,000 generated manifests (fresh processes; rebuilds median of 5)",
           [("first build (fresh cache)", first, "s"), ("  its CPU time (user + system)", first_cpu, "s"),
            ("rebuild, nothing changed", unchanged, "s"), ("rebuild after one manifest changed", rebuild, "s"),
            ("  its CPU time (median)", sorted(cpu)[len(cpu) // 2], "s"), ("index.html", len(raw) / 1e3, "KB"),
            ("index.html, gzip -9", packed / 1e3, "KB")],
           "first build / 20 s target", first / 20, "<= 1")
    print(f"  {'rebuild after one change / 2 s target':<48} {rebuild / 2:10.2f}x   (target <= 1)")
    print(f"  {'index.html gzip / 300 KB target':<48} {packed / 300e3:10.2f}x   (target <= 1)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
