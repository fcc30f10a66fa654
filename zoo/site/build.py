"""Rendering the catalog into a folder, again only where something changed.

The folder's `index.json` is shared with `zoo publish --to`: publish owns its `files` (the mirror), the site owns
`models` (a row per model, with the digest its page was made from) and `site`; each rewrites only its own keys, so
neither loses what the other wrote. A model's page is rendered again only when its digest changes: its manifest
(the catalog's index already holds each file's digest, so unchanged manifests are not even parsed), its mirrored
files, its example pictures, or the site's own templates and code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from zoo import __version__, atomic, catalog, hashes, settings
from zoo.cache import Cache
from zoo.errors import ZooError, install_extra
from zoo.progress import Progress
from zoo.site import examples as pictures, views

HERE = Path(__file__).resolve().parent
ASSETS = ("site.css", "site.js")
MAX_INDEX_BYTES = 256 << 20


@dataclass
class Result:
    index: Path
    models: int = 0
    rendered: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    examples: int = 0

    def to_dict(self) -> dict:
        return {"index": str(self.index), "models": self.models, "rendered": self.rendered, "removed": self.removed,
                "examples": self.examples}


def _generator() -> str:
    """What every page also depends on: zoo's version, the templates, the assets and the code that renders them."""
    paths = sorted([*HERE.glob("*.py"), *(HERE / "templates").iterdir(), *(HERE / "static").iterdir()])
    return hashes.sha256_of(b"\0".join([__version__.encode(), *(p.name.encode() + b"\0" + p.read_bytes() for p in paths)]))


def read_index(out: Path) -> dict:
    """The folder's index.json (publish's mirror, the site, or both), or an empty one; ZooError for a file zoo did
    not write."""
    path = out / "index.json"
    if not path.is_file():
        return {"files": []}
    try:
        with open(path, "rb") as f:
            index = json.loads(f.read(MAX_INDEX_BYTES))
    except (OSError, ValueError, RecursionError):
        index = None
    if not isinstance(index, dict) or not all(isinstance(index.get(k, []), list) for k in ("files", "models")):
        raise ZooError(f"{path} is not a zoo index", "render the site into an empty folder, or one that zoo publish "
                                                     "or zoo site wrote")
    index.setdefault("files", [])
    return index


def _plain(name: object) -> bool:
    """A model name from index.json that can only name a page inside models/ (the file is read, not trusted)."""
    return isinstance(name, str) and name == Path(name).name and not name.startswith(".") and "\\" not in name


def _downloads(index: dict, out: Path) -> dict[str, dict[str, str]]:
    """Mirrored files present in the folder, by model and artifact, as paths relative to the folder."""
    found: dict[str, dict[str, str]] = {}
    for e in index["files"]:
        if isinstance(e, dict) and all(isinstance(e.get(k), str) for k in ("model", "artifact", "file")) and (
                ".." not in e["file"].split("/")) and not e["file"].startswith("/") and "\\" not in e["file"] and (
                out / e["file"]).is_file():
            found.setdefault(e["model"], {})[e["artifact"]] = e["file"]
    return found


def _environment():
    try:
        import jinja2
    except ImportError:
        raise ZooError("zoo site needs Jinja2", install_extra("site")) from None
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["size"] = lambda n: "—" if not n else f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"
    return env


def build(out: Path, *, images: Path | None = None, progress: Progress | None = None) -> Result:
    """Render every model of the catalog into `out` (index.html, index.json, models/NAME.{html,json,md}, assets/),
    drawing example pictures first when `images` (a folder of sample images) is given."""
    progress = progress or Progress()
    if images is not None and not images.is_dir():
        raise ZooError(f"--examples {images}: not a folder", "give a folder of sample images (NAME.jpg, TASK.jpg, ...)")
    out.mkdir(parents=True, exist_ok=True)
    cat = catalog.load()
    for w in cat.warnings:
        progress.message(w)
    index = read_index(out)
    previous = {r["name"]: r for r in index.get("models", []) if isinstance(r, dict) and _plain(r.get("name"))}
    downloads = _downloads(index, out)
    generator, env = _generator(), None
    result = Result(out / "index.json")
    cache = Cache(settings.cache_dir()) if images is not None else None
    rows = []
    for name in cat.names():
        entry = cat.entries[name]
        if images is not None:
            result.examples += pictures.make(entry.manifest, images, out, cache, progress)
        folder = out / "examples" / name
        drawn = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        digest = hashes.sha256_of(json.dumps([generator, entry.record["digest"], downloads.get(name, {}), drawn],
                                             sort_keys=True).encode())
        old = previous.get(name)
        if old is not None and old.get("digest") == digest and all((out / f"models/{name}.{x}").is_file()
                                                                  for x in ("html", "json", "md")):
            rows.append(old)
            continue
        env = env or _environment()
        rows.append(_render_model(env, entry.manifest, out, downloads.get(name, {}), digest))
        result.rendered.append(name)
    for name in sorted(set(previous) - set(cat.entries)):
        for suffix in ("html", "json", "md"):
            (out / f"models/{name}.{suffix}").unlink(missing_ok=True)
        result.removed.append(name)
    env = env or _environment()
    _assets(out)
    facets = {key: sorted({v for r in rows for v in values(r)}) for key, values in (
        ("task", lambda r: [r["task"]]), ("target", lambda r: [t["name"] for t in r["targets"]]),
        ("license", lambda r: [r["license"]]))}
    mirrored = sum(bool(downloads.get(r["name"])) for r in rows)
    atomic.write(out / "index.html", env.get_template("index.html").render(
        rows=rows, facets=facets, mirrored=mirrored, version=__version__, root="", sources=views.SOURCES))
    merged = read_index(out)  # publish may have written files since
    merged.update(models=rows, site={"generator": f"zoo {__version__}", "templates": generator,
                                     "pages": "index.html"})
    atomic.write(out / "index.json", json.dumps(merged, separators=(",", ":")) + "\n")
    result.models = len(rows)
    return result


def _render_model(env, m, out: Path, downloads: dict[str, str], digest: str) -> dict:
    drawn = pictures.found(m, out)
    context = views.page(m, {k: f"../{v}" for k, v in downloads.items()}, drawn)
    (out / "models").mkdir(exist_ok=True)
    atomic.write(out / f"models/{m.name}.html", env.get_template("model.html").render(
        **context, version=__version__, root="../", sources=views.SOURCES))
    atomic.write(out / f"models/{m.name}.md", context["card"])
    measured = {k: [x.model_dump(mode="json", exclude_none=True) for x in getattr(m, k) if x.source == "measured"]
                for k in ("metrics", "benchmarks")}
    data = {"name": m.name, "manifest": m.model_dump(mode="json", exclude_none=True), "measured": measured,
            "downloads": downloads, "examples": drawn, "page": f"{m.name}.html", "card": f"{m.name}.md"}
    atomic.write(out / f"models/{m.name}.json", json.dumps(data, separators=(",", ":")) + "\n")
    return {**context["row"], "digest": digest}


def _assets(out: Path) -> None:
    (out / "assets").mkdir(exist_ok=True)
    for name in ASSETS:
        data = (HERE / "static" / name).read_bytes()
        dest = out / "assets" / name
        if not dest.is_file() or dest.read_bytes() != data:
            atomic.write(dest, data)
