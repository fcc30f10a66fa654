"""Cache hits: zoo against huggingface_hub on the same cached file, no network.

warm: zoo.resolve() in a running process vs hf_hub_download(..., local_files_only=True) (median of 200 calls); the
      target is named, as a device's boot script or ZOO_TARGET does. With target 'auto' zoo also detects the
      accelerators on every call (a USB Edge TPU can be plugged in at any time): printed for information.
cold: the `zoo fetch` CLI as a fresh process vs `HF_HUB_OFFLINE=1 hf download OWNER/REPO FILE --revision COMMIT`
      (median of 15 runs); then `zoo --help` and `zoo --version`, which should take well under a cold hit

The Hugging Face cache is laid out by hand as huggingface_hub documents it (blobs/, snapshots/<commit>/, refs/).

    python bench/cache_hit.py
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from _common import ZOO, Server, env, median_of, report, run, workdir, write_manifest

REPO, FILE, COMMIT = "zoo-bench/payload", "payload.tflite", "0123456789abcdef0123456789abcdef01234567"


def hf_cache(root: Path, data: bytes) -> None:
    repo = root / f"models--{REPO.replace('/', '--')}"
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "refs").mkdir()
    etag = "e" * 64
    (repo / "blobs" / etag).write_bytes(data)
    (repo / "snapshots" / COMMIT / FILE).symlink_to(Path("..", "..", "blobs", etag))
    (repo / "refs" / "main").write_text(COMMIT)


def main() -> None:
    data = os.urandom(2 << 20)
    work = workdir()
    os.environ.update(ZOO_MANIFESTS=str(work / "manifests"), ZOO_CACHE_DIR=str(work / "cache"),
                      HF_HUB_CACHE=str(work / "hf"), HF_HUB_DISABLE_TELEMETRY="1")
    hf_cache(work / "hf", data)
    import zoo
    from huggingface_hub import hf_hub_download

    with Server() as server:
        write_manifest(work / "manifests", "payload", FILE, data, [server.add("/" + FILE, data)])
        zoo.resolve("payload", target="cpu")
    assert Path(hf_hub_download(REPO, FILE, revision=COMMIT, local_files_only=True)).read_bytes() == data

    warm_zoo = median_of(200, lambda: zoo.resolve("payload", target="cpu"))
    warm_hf = median_of(200, lambda: hf_hub_download(REPO, FILE, revision=COMMIT, local_files_only=True))
    warm_auto = median_of(200, lambda: zoo.resolve("payload"))
    report("warm cache hit in a running process (median of 200)",
           [("hf_hub_download(local_files_only=True)", warm_hf * 1e3, "ms"), ("zoo.resolve(target='cpu')", warm_zoo * 1e3, "ms")],
           "huggingface_hub time / zoo time", warm_hf / warm_zoo, ">= 2")
    print(f"  {'zoo.resolve() (auto: detects every call)':<48} {warm_auto * 1e3:10.3f} ms   (no target)")

    hf_bin = str(Path(sys.executable).with_name("hf"))
    cold_zoo = median_of(15, lambda: run([*ZOO, "fetch", "payload", "--target", "cpu", "--offline", "--quiet"], env()))
    cold_hf = median_of(15, lambda: run([hf_bin, "download", REPO, FILE, "--revision", COMMIT], env(HF_HUB_OFFLINE="1")))
    report("cold CLI cache hit, fresh process (median of 15)",
           [("HF_HUB_OFFLINE=1 hf download", cold_hf * 1e3, "ms"), ("zoo fetch --offline", cold_zoo * 1e3, "ms")],
           "hf download time / zoo fetch time", cold_hf / cold_zoo, ">= 2")
    help_ = median_of(15, lambda: run([*ZOO, "--help"], env(COLUMNS="80")))
    version = median_of(15, lambda: run([*ZOO, "--version"], env()))
    report("zoo --help and --version against the cold hit above (median of 15)",
           [("zoo fetch --offline (cold hit)", cold_zoo * 1e3, "ms"), ("zoo --help", help_ * 1e3, "ms"),
            ("zoo --version", version * 1e3, "ms")],
           "cold hit time / slower of --help, --version", cold_zoo / max(help_, version), ">= 2")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
