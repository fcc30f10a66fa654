"""Pure selection: table tests over (manifest, requested target, detected targets)."""

from __future__ import annotations

import pytest

from zoo import manifest
from zoo.errors import ArtifactUnavailable, TargetUnknown
from zoo.choice import choose


def art(id_, target, published=True, default=False):
    a = {"id": id_, "target": target, "format": "tflite", "precision": "int8", "input_dtype": "float32",
         "output_dtype": "float32", "file": f"{id_}.tflite", "recipe": "r", "default": default}
    return {**a, "sha256": "b" * 64, "size": 10, "sources": ["https://e.invalid/x"]} if published else {**a, "unpublished": "later"}


@pytest.fixture
def model(minimal):
    minimal["artifacts"] = [art("cpu-a", "cpu"), art("tpu", "edgetpu"), art("npu", "imx8mp", published=False)]
    return manifest.parse(minimal, "m.yaml")


@pytest.mark.parametrize(("detected", "artifact", "target"), [
    (["cpu"], "cpu-a", "cpu"),
    (["edgetpu", "cpu"], "tpu", "edgetpu"),
    (["imx8mp", "cpu"], "cpu-a", "cpu"),
    (["imx93", "cpu"], "cpu-a", "cpu"),
    (["edgetpu", "imx8mp", "cpu"], "tpu", "edgetpu"),
    (["imx8mp", "edgetpu", "cpu"], "tpu", "edgetpu"),
])
def test_auto_takes_the_first_published(model, detected, artifact, target):
    c = choose(model, "auto", detected)
    assert (c.artifact.id, c.target, c.warnings) == (artifact, target, [])


def test_auto_explains(model):
    assert choose(model, "auto", ["imx8mp", "cpu"]).reasons == [
        "detected targets, best first: imx8mp, cpu",
        "tiny has no published artifact for 'imx8mp'",
        "'cpu' is the first of them tiny has a published artifact for: 'cpu-a'",
    ]


def test_explicit_target(model):
    c = choose(model, "edgetpu", ["cpu"])
    assert (c.artifact.id, c.target) == ("tpu", "edgetpu")


def test_explicit_missing_target_lists_what_exists(model):
    with pytest.raises(ArtifactUnavailable) as info:
        choose(model, "imx93", ["cpu"])
    assert str(info.value) == "tiny has no artifact for target 'imx93' (it has: cpu, edgetpu, imx8mp (unpublished))"


def test_explicit_unpublished_falls_back_with_warning(model):
    c = choose(model, "imx8mp", [])
    assert (c.artifact.id, c.target) == ("cpu-a", "cpu")
    assert c.warnings == ["tiny's imx8mp artifact 'npu' is not published yet (later); using the cpu artifact 'cpu-a' instead"]


def test_strict_refuses_the_fallback(model):
    with pytest.raises(ArtifactUnavailable, match=r"'npu' is not published yet \(later\) \(drop --strict to fall back along imx8mp -> cpu\)"):
        choose(model, "imx8mp", [], strict=True)


def test_unknown_target(model):
    with pytest.raises(TargetUnknown):
        choose(model, "gpu", [])


def test_default_artifact_wins_among_several(minimal):
    minimal["artifacts"] = [art("cpu-a", "cpu"), art("cpu-b", "cpu", default=True)]
    assert choose(manifest.parse(minimal, "m"), "cpu", []).artifact.id == "cpu-b"


def test_published_one_is_taken_when_the_default_is_unpublished(minimal):
    minimal["artifacts"] = [art("cpu-a", "cpu"), art("cpu-b", "cpu", published=False, default=True)]
    assert choose(manifest.parse(minimal, "m"), "cpu", []).artifact.id == "cpu-a"


def test_nothing_published_anywhere(minimal):
    minimal["artifacts"] = [art("npu", "imx8mp", published=False)]
    m = manifest.parse(minimal, "m")
    with pytest.raises(ArtifactUnavailable, match=r"tiny has no published artifact for any usable target \(cpu\)"):
        choose(m, "auto", ["cpu"])
    with pytest.raises(ArtifactUnavailable, match="nothing along imx8mp -> cpu is published"):
        choose(m, "imx8mp", [])


def test_real_manifests_choose_google_files():
    from zoo import catalog

    cat = catalog.load(extra=[])
    assert choose(cat.get("deeplabv3"), "auto", ["edgetpu", "cpu"]).artifact.file == "deeplabv3_mnv2_dm05_pascal_quant_edgetpu.tflite"
    assert choose(cat.get("deeplabv3"), "auto", ["imx8mp", "cpu"]).artifact.file == "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    with pytest.raises(ArtifactUnavailable):
        choose(cat.get("coral-deeplabv3"), "auto", ["cpu"])
