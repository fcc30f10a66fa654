"""Dataset layouts of COCO and its kin, shared by detection and segmentation: class-name lists (`names` in a
data.yaml-style file), the PASCAL VOC names COCO spells differently, and matching a model's labels to a dataset's
classes by name."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError

VOC_TO_COCO = {"aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
               "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv"}
"""The PASCAL VOC classes whose COCO category has another name (the other 14 share theirs)."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def inside(folder: Path, name: str) -> Path:
    """`folder / name` for a file name an annotation file gives; ValueError for one that leaves the folder (an
    absolute path, a `..`): a dataset is read from its own folders only."""
    parts = Path(name).parts
    if not isinstance(name, str) or not parts or Path(name).is_absolute() or ".." in parts or "\0" in name:
        raise ValueError(f"file_name {name!r} is not a file inside {folder}")
    return folder / name


def _key(name: str) -> str:
    name = name.strip().lower()
    return VOC_TO_COCO.get(name, name).replace("_", " ")


def load_yaml(path: Path) -> dict:
    """A data.yaml-style file (with libyaml when there is one: the pure-Python parser takes 50 ms over COCO's names)."""
    import yaml

    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ZooError(f"{path} is not a YAML file zoo can read ({type(e).__name__})") from None
    return doc if isinstance(doc, dict) else {}


def class_names(doc: dict, path: Path, key: str = "names") -> dict[int, str]:
    """Class names by id from a YAML file's `key`: a list (ids by position) or a mapping id -> name."""
    names = doc.get(key)
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not all(isinstance(k, int) and isinstance(v, str) for k, v in names.items()):
        raise ZooError(f"{path} has no `{key}:` list or mapping of class ids to names",
                       f"give the class names as `{key}: [person, bicycle, ...]` or `{key}: {{0: person, ...}}`")
    return names


def match_labels(labels: list[str], classes: dict[int, str]) -> dict[int, int]:
    """Model class index -> dataset class id, for every model label that names a dataset class (VOC's names read as
    COCO's)."""
    by_name = {_key(name): cid for cid, name in classes.items()}
    return {i: by_name[_key(label)] for i, label in enumerate(labels) if _key(label) in by_name}


def mapping_note(labels: list[str], mapped: dict[int, int], classes: dict[int, str], offset: int | None = None) -> str:
    """How the model's classes were mapped to the dataset's, in a line."""
    how = f"by class index + {offset}" if offset is not None else "by label name"
    renamed = [f"{labels[i]}={classes[c]}" for i, c in mapped.items() if labels[i].strip().lower() != classes[c].strip().lower()]
    same = [labels[i] for i, c in mapped.items() if labels[i].strip().lower() == classes[c].strip().lower()]
    shown = ", ".join(renamed + same[:8]) + (f", ... ({len(same) - 8} more)" if len(same) > 8 else "")
    return f"{len(mapped)} of the model's {len(labels)} classes mapped {how} to the dataset's {len(classes)}: {shown}"


def find_yaml(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
