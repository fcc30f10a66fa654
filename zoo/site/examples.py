"""Example pictures for model pages: what `zoo predict -o` draws on a sample image, one per artifact that runs here
(CPU files already in the cache), float and int8 side by side.

They are made only when asked (`zoo site --examples DIR`) and kept under the site's `examples/NAME/`, named by the
artifact's and the image's sha256, so a rebuild reuses them and a changed file or image gets a new picture."""

from __future__ import annotations

import json
from pathlib import Path

from zoo import atomic, hashes
from zoo.cache import Cache
from zoo.manifest import Manifest
from zoo.progress import Progress

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
RUNNABLE = ("cpu",)
"""Targets whose files run on any machine with LiteRT, so the site can draw their predictions anywhere."""
WIDTH = 480


def sample_for(m: Manifest, images: Path) -> Path | None:
    """The sample image for a model: IMAGES/NAME.*, else IMAGES/TASK.*, else the first image in the folder."""
    found = sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    for stem in (m.name, m.task):
        match = next((p for p in found if p.stem == stem), None)
        if match is not None:
            return match
    return found[0] if found else None


def _stem(artifact_sha256: str, image_sha256: str) -> str:
    return f"{artifact_sha256[:16]}-{image_sha256[:16]}"


def make(m: Manifest, images: Path, out: Path, cache: Cache, progress: Progress) -> int:
    """Draw the missing example pictures of `m` into out/examples/NAME/; returns how many were drawn."""
    from zoo.obtain import cached

    image = sample_for(m, images)
    if image is None:
        return 0
    image_sha = hashes.file_digest(image).sha256
    drawn = 0
    for a in m.artifacts:
        found = cached(m.name, a, cache) if a.target in RUNNABLE else None
        if found is None:
            continue
        stem = _stem(found[1], image_sha)
        folder = out / "examples" / m.name
        if (folder / f"{stem}.json").is_file() and (folder / f"{stem}.jpg").is_file():
            continue
        picture, text = _predict(m, found[0], image)
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write(folder / f"{stem}.jpg", picture)
        atomic.write(folder / f"{stem}.json", json.dumps({"artifact": a.id, "image": image.name, "text": text}) + "\n")
        progress.note(f"drew {m.name}/{a.id} on {image.name}")
        drawn += 1
    return drawn


def _predict(m: Manifest, path: Path, image: Path) -> tuple[bytes, str]:
    import io

    from zoo.model import Model
    from zoo.preprocess import as_image
    from zoo.runtime import open_file

    picture = as_image(image).convert("RGB")
    model = Model(open_file(path, like=m.name))
    result = model.predict(picture)
    drawn = model.task.draw(picture, result).convert("RGB")
    if drawn.width > WIDTH:
        drawn = drawn.resize((WIDTH, round(drawn.height * WIDTH / drawn.width)))
    buf = io.BytesIO()
    drawn.save(buf, "JPEG", quality=85)
    return buf.getvalue(), model.task.text(result)


def found(m: Manifest, out: Path) -> list[dict]:
    """The example pictures already drawn for `m`'s current files, grouped by sample image, float before int8."""
    folder = out / "examples" / m.name
    if not folder.is_dir():
        return []
    by_sha = {a.sha256[:16]: a for a in m.artifacts if a.sha256}
    groups: dict[str, dict] = {}
    for meta in sorted(folder.glob("*.json")):
        a = by_sha.get(meta.stem.split("-")[0])
        if a is None or a.id != _read(meta).get("artifact") or not meta.with_suffix(".jpg").is_file():
            continue
        info = _read(meta)
        group = groups.setdefault(info.get("image", "?"), {"image": info.get("image", "?"), "pictures": []})
        group["pictures"].append({"artifact": a.id, "target": a.target, "precision": a.precision,
                                  "src": f"../examples/{m.name}/{meta.stem}.jpg", "text": str(info.get("text", ""))})
    for g in groups.values():
        g["pictures"].sort(key=lambda p: (p["precision"] in ("int8", "uint8"), p["artifact"]))
    return list(groups.values())


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
