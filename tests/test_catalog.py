"""Finding manifests: bundled, ZOO_MANIFESTS overrides, broken files, aliases."""

from __future__ import annotations

import yaml
import pytest

import zoo
from zoo import catalog
from zoo.errors import ModelNotFound


def write(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def test_bundled_catalog_spans_segmentation_classification_pose_and_detection(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    cat = catalog.load()
    assert cat.problems == [] and cat.warnings == []
    assert cat.names() == [
        "coral-deeplabv3", "coral-deeplabv3-dm05", "coral-deeplabv3plus", "coral-deeplabv3plus-dm05",
        "deeplabv3", "deeplabv3-257", "deeplabv3-dm1", "face-detection-full-range", "face-detection-short-range",
        "fastestdet-person", "mobilenet-v1-0.25-224", "mobilenet-v1-0.5-160", "mobilenet-v1-0.75-192", "mobilenet-v2",
        "movenet-lightning", "selfie-segmentation", "selfie-segmentation-landscape", "ssd-mobilenet-v1", "yolo-face",
    ]
    assert {cat.get(n).task for n in cat.names()} == {"semantic-segmentation", "image-classification", "pose-estimation",
                                                      "object-detection"}
    assert all(e.bundled for e in cat.entries.values())


def test_names_filter_with_globs(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    assert zoo.models(include="deeplab*") == ["deeplabv3", "deeplabv3-257", "deeplabv3-dm1"]
    assert zoo.models(include="coral-*", exclude="*plus*") == ["coral-deeplabv3", "coral-deeplabv3-dm05"]


def test_aliases_and_case_resolve(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    assert zoo.get("deeplabv3-dm05").name == "deeplabv3"
    assert zoo.get(" DeepLabV3 ").name == "deeplabv3"


def test_unknown_model_names_the_closest_few(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    with pytest.raises(ModelNotFound, match="no model named 'resnet'") as info:
        zoo.get("resnet")
    assert info.value.hint == "`zoo list` shows every model"
    with pytest.raises(ModelNotFound) as info:
        zoo.get("deeplabv3-dm2")
    assert info.value.hint == "did you mean deeplabv3-dm1 or deeplabv3-mnv2 or deeplabv3-dm05? `zoo list` shows every model"


def test_user_manifest_overrides_bundled_with_warning(tmp_path, monkeypatch, minimal):
    minimal["name"] = "deeplabv3"
    user = write(tmp_path / "mine.yaml", minimal)
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path))
    cat = catalog.load()
    entry = cat.entry("deeplabv3")
    assert entry.path == user and not entry.bundled
    assert entry.manifest.family == "test"
    assert len(cat.warnings) == 1 and cat.warnings[0].startswith(f"{user}: model 'deeplabv3' overrides the one in ")
    # the bundled aliases went with the overridden manifest
    with pytest.raises(ModelNotFound):
        cat.get("deeplabv3-dm05")


def test_broken_file_is_reported_and_hides_nothing(tmp_path, monkeypatch, minimal):
    write(tmp_path / "good.yaml", minimal)
    minimal["name"] = "bad"
    minimal["artifacts"][0]["sha256"] = "nothex"
    bad = write(tmp_path / "bad.yaml", minimal)
    (tmp_path / "notes.txt").write_text("ignored: not a manifest suffix")
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path))
    cat = catalog.load()
    assert "tiny" in cat.names() and "deeplabv3" in cat.names() and "bad" not in cat.names()
    (problem,) = cat.problems
    assert problem.path == str(bad) and problem.problems[0][0] == "artifacts[0].sha256"


def test_zoo_manifests_accepts_files_and_several_paths(tmp_path, monkeypatch, minimal):
    a = write(tmp_path / "a.yaml", minimal)
    minimal["name"] = "other"
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b.yml", minimal)
    monkeypatch.setenv("ZOO_MANIFESTS", f"{a}:{tmp_path / 'sub'}".replace(":", __import__("os").pathsep))
    assert {"tiny", "other"} <= set(catalog.load().names())


def test_missing_user_path_is_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path / "nowhere"))
    cat = catalog.load()
    assert cat.warnings == [f"{tmp_path / 'nowhere'}: manifest path does not exist"]
    assert "deeplabv3" in cat.names()


def test_alias_clash_is_ignored_with_warning(tmp_path, monkeypatch, minimal):
    minimal["aliases"] = ["deeplabv3-dm05"]
    write(tmp_path / "t.yaml", minimal)
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path))
    cat = catalog.load()
    assert cat.get("deeplabv3-dm05").name == "deeplabv3"
    assert any("alias 'deeplabv3-dm05' of 'tiny' already names 'deeplabv3'; ignored" in w for w in cat.warnings)


def test_non_utf8_user_manifest_hides_nothing_else(tmp_path, monkeypatch, minimal):
    (tmp_path / "broken.yaml").write_bytes(b"name: \xff\xfe\n")
    write(tmp_path / "tiny.yaml", minimal)
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path))
    cat = catalog.load()
    assert [p.path for p in cat.problems] == [str(tmp_path / "broken.yaml")]
    assert "tiny" in cat.names() and "deeplabv3" in cat.names()


def test_record_never_edits_an_installed_package(tmp_path, monkeypatch):
    """Installed: the bundled manifests live inside site-packages. --record edits a copy in the records folder."""
    from zoo.manifest_edit import update_manifest

    package = tmp_path / "site-packages" / "zoo" / "manifests"
    package.mkdir(parents=True)
    original = (catalog.bundled_dir() / "deeplabv3.yaml").read_bytes()
    (package / "deeplabv3.yaml").write_bytes(original)
    monkeypatch.setattr(catalog, "bundled_dir", lambda: package)
    monkeypatch.setattr("zoo.manifest_sources.bundled_dir", lambda: package)
    monkeypatch.setattr(catalog, "installed", lambda: True)
    monkeypatch.setenv("ZOO_RECORDS_DIR", str(tmp_path / "records"))
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    path = catalog.record_path("deeplabv3")
    assert path == tmp_path / "records" / "deeplabv3.yaml" and path.read_bytes() == original
    update_manifest(path, artifacts={"imx93": {"recipe": "recorded by a test"}})
    cat = catalog.load()
    assert cat.entry("deeplabv3").path == path and cat.get("deeplabv3").artifact("imx93").recipe == "recorded by a test"
    assert (package / "deeplabv3.yaml").read_bytes() == original
    # the edited copy overrides the bundled file, and says so (a records copy is never silent)
    assert cat.warnings == cat.overrides("deeplabv3") == [
        f"{path}: model 'deeplabv3' overrides the one in {package / 'deeplabv3.yaml'} (the copy --record keeps for an "
        "installed package)"]


def test_a_checkout_records_into_its_own_files(monkeypatch):
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    assert not catalog.installed() and catalog.record_path("deeplabv3") == catalog.bundled_dir() / "deeplabv3.yaml"


def test_an_identical_copy_does_not_warn(tmp_path, monkeypatch):
    (tmp_path / "deeplabv3.yaml").write_bytes((catalog.bundled_dir() / "deeplabv3.yaml").read_bytes())
    monkeypatch.setenv("ZOO_MANIFESTS", str(tmp_path))
    assert catalog.load().warnings == []
