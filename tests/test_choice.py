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


TPU_FOUND = "found the Google Coral Edge TPU (USB, PCIe/M.2, Dev Board), but "
NPU_FOUND = "found the NXP i.MX 8M Plus NPU, but tiny's imx8mp artifact 'npu' is not published yet (later); "


@pytest.mark.parametrize(("detected", "artifact", "target", "warnings"), [
    (["cpu"], "cpu-a", "cpu", []),
    (["edgetpu", "cpu"], "tpu", "edgetpu", []),
    (["imx8mp", "cpu"], "cpu-a", "cpu", [NPU_FOUND + "using the cpu artifact 'cpu-a'"]),
    (["imx93", "cpu"], "cpu-a", "cpu", ["found the NXP i.MX 93 Ethos-U65 NPU, but tiny has no imx93 artifact; "
                                        "using the cpu artifact 'cpu-a'"]),
    (["edgetpu", "imx8mp", "cpu"], "tpu", "edgetpu", []),
    (["imx8mp", "edgetpu", "cpu"], "tpu", "edgetpu", [NPU_FOUND + "using the edgetpu artifact 'tpu'"]),
])
def test_auto_takes_the_first_available_and_never_falls_back_silently(model, detected, artifact, target, warnings):
    c = choose(model, "auto", detected)
    assert (c.artifact.id, c.target, c.warnings) == (artifact, target, warnings)


def test_auto_explains(model):
    assert choose(model, "auto", ["imx8mp", "cpu"]).reasons == [
        "detected targets, best first: imx8mp, cpu",
        "tiny's imx8mp artifact 'npu' is not published yet (later)",
        "'cpu' is the first of them tiny has an artifact for: 'cpu-a'",
    ]


def bench(artifact: str, ms: float, source: str, device: str = "board (i.MX8MP)") -> dict:
    b = {"device": device, "accelerator": "x", "runtime": "LiteRT", "input_size": [8, 8], "latency_ms": ms,
         "applies_to": artifact, "source": source}
    return {**b, "citation": "c"} if source == "upstream" else {**b, "command": "zoo bench", "date": "2026-11-30"}


@pytest.mark.parametrize(("benchmarks", "target", "why"), [
    ([], "imx8mp", None),
    ([bench("cpu-a", 447, "measured"), bench("npu", 586, "measured")], "cpu",
     "the latencies measured on this device put cpu first (cpu 447 ms, imx8mp 586 ms)"),
    ([bench("cpu-a", 447, "measured", "another board"), bench("npu", 586, "measured")], "imx8mp", None),
    ([bench("cpu-a", 447, "upstream"), bench("npu", 586, "upstream"), bench("npu", 90, "measured"),
      bench("cpu-a", 120, "measured")], "imx8mp", "the latencies measured on this device put imx8mp first (imx8mp 90 ms, cpu 120 ms)"),
    ([bench("cpu-a", 447, "upstream"), bench("npu", 586, "upstream")], "cpu",
     "the latencies published upstream put cpu first (cpu 447 ms, imx8mp 586 ms)"),
])
def test_auto_prefers_the_lowest_latency_recorded_for_this_device_by_provenance(minimal, benchmarks, target, why):
    minimal["artifacts"] = [art("cpu-a", "cpu"), art("npu", "imx8mp")]
    minimal["benchmarks"] = benchmarks
    c = choose(manifest.parse(minimal, "m.yaml"), "auto", ["imx8mp", "cpu"], device="board (i.MX8MP)")
    assert c.target == target
    if why is None:
        assert c.warnings == [] and not any("latency" in r for r in c.reasons)
    else:
        assert c.reasons[-1] == f"{target!r} chosen by latency: {why}"
        assert c.warnings == ([] if target == "imx8mp" else [f"found the NXP i.MX 8M Plus NPU, but {why}; using the cpu "
                                                             "artifact 'cpu-a'"])


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


def test_a_pinned_unhosted_file_a_mirror_may_give_is_an_artifact_like_any_other(minimal):
    """`fetchable`: unhosted, pinned derived artifacts the mirrors or the cache may give; an unpinned one never is, nor
    a pinned one that is not derived (withdrawn, say)."""
    from zoo.choice import pick, unhosted

    pinned = {**art("npu", "imx8mp", published=False), "sha256": "c" * 64, "size": 10, "build": True, "parent": "cpu-a"}
    withdrawn = {**art("old", "edgetpu", published=False), "sha256": "d" * 64, "size": 10}
    minimal["artifacts"] = [art("cpu-a", "cpu"), pinned, art("later", "imx93", published=False), withdrawn]
    m = manifest.parse(minimal, "m.yaml")
    assert [a.id for a in unhosted(m)] == ["npu"]
    mirrors = frozenset({"npu", "later", "old"})
    assert choose(m, "edgetpu", [], fetchable=mirrors).artifact.id == "cpu-a"
    for c in (choose(m, "imx8mp", [], strict=True, fetchable=mirrors), choose(m, "auto", ["imx8mp", "cpu"], fetchable=mirrors),
              pick(m, "npu", "auto", frozenset(), mirrors)):
        assert (c.artifact.id, c.target, c.warnings) == ("npu", "imx8mp", [])
    assert choose(m, "imx8mp", [], fetchable=mirrors).reasons == [
        "target 'imx8mp' was requested; 'npu' is not hosted but is fetched from the cache or the mirrors (ZOO_MIRRORS) "
        "and verified against its pin"]
    assert choose(m, "imx93", [], fetchable=mirrors).artifact.id == "cpu-a"  # no pin: nothing could verify it
    with pytest.raises(ArtifactUnavailable, match="'npu' is built here from 'cpu-a' once the imx8mp extra is installed"):
        choose(m, "imx8mp", [], strict=True)


def test_a_missing_target_names_the_pinned_ones_built_on_fetch_as_zoo_list_does():
    """mobilenet-v2's imx93 and imx8mp files are pinned and built on fetch (`zoo list` marks them +): not
    'unpublished', which would tell the reader that `-t imx93` cannot work."""
    from zoo import catalog

    m = catalog.load(extra=[]).get("mobilenet-v2")
    with pytest.raises(ArtifactUnavailable) as info:
        choose(m, "edgetpu", ["cpu"])
    assert str(info.value) == ("mobilenet-v2 has no artifact for target 'edgetpu' "
                               "(it has: cpu, imx93 (built on fetch), imx8mp (built on fetch))")


def test_nothing_usable_says_why_each_target_is_not(minimal):
    """A model made by `zoo init` without --source: the error says why its cpu file cannot be had (the manifest's
    own `unpublished` note), not only that it is unpublished."""
    minimal["artifacts"] = [art("cpu", "cpu", published=False)]
    minimal["artifacts"][0]["unpublished"] = "described with zoo init; no source given yet (zoo init --source URL)"
    with pytest.raises(ArtifactUnavailable) as info:
        choose(manifest.parse(minimal, "m"), "auto", ["cpu"])
    assert str(info.value) == ("tiny has no published artifact for any usable target (cpu) (tiny's cpu artifact 'cpu' is "
                               "not published yet (described with zoo init; no source given yet (zoo init --source URL)); "
                               "it has: cpu (unpublished))")
