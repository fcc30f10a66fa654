"""Offline bundles for air-gapped devices: one tar with the artifacts, the manifest, checksums and license.

`create` writes files/<sha256> for each artifact plus bundle.json (the index), SHA256SUMS, the manifest
and LICENSE. `install` checks every member and every byte before it installs anything into the cache.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from zoo import catalog, hashes, settings
from zoo.build.archive import check_member
from zoo.cache import Cache
from zoo.errors import BadBundle, UnsafeArchive, ZooError
from zoo.fetch import obtain
from zoo.manifest import Manifest
from zoo.progress import Progress

FORMAT = "zoo-bundle/1"



@dataclass(frozen=True)
class Installed:
    model: str
    artifact: str
    path: Path
    sha256: str


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def create(name: str, out: Path, targets: list[str] | None = None, progress: Progress | None = None) -> dict:
    """Fetch (or take from the cache) the published artifacts of `name` and pack them into `out`."""
    progress = progress or Progress()
    entry = catalog.load().entry(name)
    m: Manifest = entry.manifest
    cache = Cache(settings.cache_dir())
    chosen = [a for a in m.artifacts if a.published and (not targets or a.target in targets)]
    if not chosen:
        raise ZooError(f"{m.name} has no published artifact for {', '.join(targets or ['any target'])}",
                       f"published targets: {', '.join(m.published_targets) or 'none'}")
    files = []
    for a in chosen:
        path, sha256 = obtain(m.name, a, cache, offline=settings.offline(), progress=progress)
        files.append({"artifact": a.id, "target": a.target, "file": a.file, "member": f"files/{sha256}", "path": path,
                      "size": path.stat().st_size, "sha256": sha256})
    index = {"format": FORMAT, "model": m.name, "license": m.license, "homepage": m.homepage,
             "files": [{k: v for k, v in f.items() if k != "path"} for f in files]}
    tmp = out.with_name(f".{out.name}.tmp")
    with tarfile.open(tmp, "w") as tar:
        _add(tar, "bundle.json", json.dumps(index, indent=2).encode())
        _add(tar, "SHA256SUMS", "".join(f"{f['sha256']}  {f['file']}\n" for f in files).encode())
        _add(tar, f"manifests/{m.name}.yaml", entry.path.read_bytes())
        _add(tar, "LICENSE", f"{m.name}: {m.license}\nSee {m.homepage} for the license text and terms.\n".encode())
        for f in files:
            tar.add(f["path"], arcname=f["member"])
    os.replace(tmp, out)
    return index


def install(bundle: Path, manifests_dir: Path | None = None) -> list[Installed]:
    """Verify a bundle completely, then install its files into the cache (and its manifest into `manifests_dir`)."""
    cache = Cache(settings.cache_dir())
    staged: list[tuple[dict, Path, hashes.Digest]] = []
    temps: list[Path] = []
    try:
        with tarfile.open(bundle) as tar:
            members = {mem.name: mem for mem in tar.getmembers()}
            for mem in members.values():
                check_member(mem, bundle)
            index = json.loads(tar.extractfile(members["bundle.json"]).read())
            if index.get("format") != FORMAT:
                raise BadBundle(f"{bundle} is not a {FORMAT} bundle")
            manifest_data = tar.extractfile(members[f"manifests/{index['model']}.yaml"]).read()
            for f in index["files"]:
                tmp = cache.temp()
                temps.append(tmp)
                hasher = hashes.Hasher()
                with tar.extractfile(members[f["member"]]) as src, open(tmp, "wb") as dst:
                    while chunk := src.read(hashes.CHUNK):
                        dst.write(chunk)
                        hasher.update(chunk)
                digest = hasher.digest()
                hashes.check(digest, f"{bundle}:{f['member']}", sha256=f["sha256"], md5=None, size=f["size"])
                staged.append((f, tmp, digest))
    except (tarfile.TarError, KeyError, EOFError, OSError, ValueError, UnsafeArchive) as e:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if isinstance(e, BadBundle):
            raise
        raise BadBundle(f"{bundle} is damaged or not a zoo bundle ({type(e).__name__}: {e}); nothing was installed") from None
    installed = [Installed(index["model"], f["artifact"], cache.install(tmp, digest, index["model"], f["artifact"], f["file"]),
                           digest.sha256) for f, tmp, digest in staged]
    if manifests_dir is not None:
        manifests_dir.mkdir(parents=True, exist_ok=True)
        (manifests_dir / f"{index['model']}.yaml").write_bytes(manifest_data)
    return installed
