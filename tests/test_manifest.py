"""The manifest schema: happy paths, every field check and every cross-field check, with exact messages."""

from __future__ import annotations

import pytest
import yaml

from zoo import manifest
from zoo.errors import ManifestInvalid


def problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ManifestInvalid) as info:
        manifest.parse(data, "m.yaml")
    return info.value.problems


def test_minimal_manifest_is_valid(minimal):
    m = manifest.parse(minimal, "m.yaml")
    assert m.name == "tiny"
    a = m.artifact("cpu-int8")
    assert a.published and a.pin == "sha256"
    assert m.targets == ["cpu"] and m.published_targets == ["cpu"]
    assert m.outputs_of(a)[0].kind == "logits"


def test_all_optional_sections_parse(minimal):
    minimal["aliases"] = ["tiny-v1"]
    minimal["papers"] = [{"title": "T", "url": "https://arxiv.org/abs/1"}]
    minimal["flops"] = {"ops": 2e6, "multiply_adds": 1e6, "citation": "c"}
    minimal["parameters"] = {"count": 1000, "citation": "c"}
    minimal["upstream"] = [{"id": "up", "kind": "keras-h5", "file": "w.h5", "md5": "0" * 32, "sources": ["https://e.invalid/w.h5"]}]
    minimal["artifacts"][0]["parent"] = "up"
    minimal["artifacts"].append({
        "id": "tpu", "target": "edgetpu", "format": "tflite", "precision": "uint8", "input_dtype": "uint8",
        "output_dtype": "uint8", "input_quantization": {"scale": 0.5, "zero_point": 128},
        "outputs": [{"shape": [1, 2, 2, 3], "kind": "logits", "output_stride": 4}],
        "file": "t.tflite", "md5": "1" * 32, "sources": ["hf://o/r@0123abc/t.tflite"],
        "delegate": "libedgetpu.so.1", "parent": "cpu-int8", "recipe": "r",
    })
    minimal["metrics"] = [
        {"name": "mIoU", "value": 70.1, "dataset": "VOC", "split": "val", "applies_to": "up", "source": "upstream", "citation": "paper"},
        {"name": "mIoU", "value": 69.0, "dataset": "VOC", "split": "val", "applies_to": "cpu-int8", "source": "measured",
         "command": "zoo eval tiny", "date": "2026-11-21", "images": 10},
    ]
    minimal["benchmarks"] = [{"device": "d", "accelerator": "CPU", "runtime": "LiteRT", "threads": 4, "input_size": [8, 8],
                              "latency_ms": 1.5, "applies_to": "tpu", "source": "upstream", "citation": "card"}]
    m = manifest.parse(minimal, "m.yaml")
    assert m.artifact("tpu").pin == "md5"
    assert m.outputs_of(m.artifact("tpu"))[0].shape == [1, 2, 2, 3]
    assert m.targets == ["cpu", "edgetpu"]
    assert str(m.metrics[1].date) == "2026-11-21"


FILE_MSG = "file must be a plain file name of letters, digits and '._+-' (no folders, spaces or control characters, at most 255), got "


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d.update(name="Tiny"), "name",
         "'Tiny' is not a valid name: use up to 100 lowercase letters, digits, '.' and '-', starting with a letter or digit"),
        (lambda d: d.update(schema_version=3), "schema_version", "Input should be 2"),
        (lambda d: d.update(licence="MIT"), "licence", "unknown field; did you mean 'license'? (schema version 2)"),
        (lambda d: d.update(colour="red"), "colour", "unknown field (schema version 2)"),
        (lambda d: d["artifacts"][0].update(sha256="ABC"), "artifacts[0].sha256",
         "sha256 must be 64 lowercase hex characters, got 'ABC'"),
        (lambda d: d["artifacts"][0].update(md5="xyz"), "artifacts[0].md5", "md5 must be 32 lowercase hex characters, got 'xyz'"),
        (lambda d: d["artifacts"][0].update(file="../evil.tflite"), "artifacts[0].file",
         FILE_MSG + "'../evil.tflite'"),
        (lambda d: d["artifacts"][0].update(file="/etc/passwd"), "artifacts[0].file",
         FILE_MSG + "'/etc/passwd'"),
        (lambda d: d["artifacts"][0].update(file=".."), "artifacts[0].file",
         FILE_MSG + "'..'"),
        (lambda d: d["artifacts"][0].update(size=0), "artifacts[0].size", "Input should be greater than 0"),
        (lambda d: d["artifacts"][0].update(size="1234"), "artifacts[0].size", "Input should be a valid integer"),
        (lambda d: d["artifacts"][0].update(default="yes"), "artifacts[0].default", "Input should be a valid boolean"),
        (lambda d: d["artifacts"][0].update(file="a\nb.tflite"), "artifacts[0].file", FILE_MSG + "'a\\nb.tflite'"),
        (lambda d: d["artifacts"][0].update(file="a\x00.tflite"), "artifacts[0].file", FILE_MSG + "'a\\x00.tflite'"),
        (lambda d: d["artifacts"][0].update(sources=["http://"]), "artifacts[0].sources[0]",
         "source must be an http(s):// URL, hf://owner/repo@revision/path, oci://registry/repository or member://archive/path, got 'http://'"),
        (lambda d: d["artifacts"][0].update(sources=["http://h:99999/x"]), "artifacts[0].sources[0]",
         "source 'http://h:99999/x' is not a valid URL (Port out of range 0-65535)"),
        (lambda d: d["artifacts"][0].update(sources=["https://user:hunter2@h/x y"]), "artifacts[0].sources[0]",
         "source 'https://***@h/x y' contains spaces, backslashes or control characters"),
        (lambda d: d["artifacts"][0].update(sources=["hf://o/r@main/../../other/x"]), "artifacts[0].sources[0]",
         "hf:// source 'hf://o/r@main/../../other/x' has an unsafe owner, repo, revision or path "
         "('.', '..', empty segments, '%', spaces or control characters)"),
        (lambda d: d["artifacts"][0].update(target="tpu9000"), "artifacts[0].target",
         "unknown target 'tpu9000'; known targets: cpu, edgetpu, imx8mp, imx93"),
        (lambda d: d["artifacts"][0].update(sources=["ftp://x/y"]), "artifacts[0].sources[0]",
         "source must be an http(s):// URL, hf://owner/repo@revision/path, oci://registry/repository or member://archive/path, got 'ftp://x/y'"),
        (lambda d: d["artifacts"][0].update(sources=["hf://owner/repo/file.tflite"]), "artifacts[0].sources[0]",
         "hf:// source must be hf://owner/repo@revision/path, got 'hf://owner/repo/file.tflite'"),
        (lambda d: d["artifacts"][0].update(sources=[]), "artifacts[0]",
         "an artifact without sources must say why in 'unpublished'"),
        (lambda d: d["artifacts"][0].update(unpublished="later"), "artifacts[0]",
         "an artifact with sources cannot also be marked unpublished"),
        (lambda d: d["artifacts"][0].pop("sha256"), "artifacts[0]",
         "a published artifact needs a sha256 (or md5 where upstream publishes only that)"),
        (lambda d: d["artifacts"][0].update(input_quantization={"scale": 0.1, "zero_point": 0}), "artifacts[0]",
         "input_quantization given for a float32 input"),
        (lambda d: d["inputs"][0]["preprocessing"].update(resize="pad"), "inputs[0].preprocessing", "resize 'pad' needs a pad_value"),
        (lambda d: d["inputs"][0]["preprocessing"].update(mean=[1.0]), "inputs[0].preprocessing", "mean and scale must have the same length"),
        (lambda d: d["inputs"][0].update(color_order="GRAY"), "inputs[0]", "3 channel(s) cannot be GRAY: RGB and BGR have 3, GRAY has 1"),
        (lambda d: d["inputs"][0].update(layout="NHW"), "inputs[0]", "a NHW input has 3 dimensions, the shape has 4"),
        (lambda d: d.update(task="captioning"), "task", "unknown task 'captioning'; known tasks: image-classification, object-detection, pose-estimation, semantic-segmentation"),
        (lambda d: d.update(metrics=[{"name": "mIoU", "value": 1, "dataset": "d", "split": "s", "applies_to": "cpu-int8", "source": "upstream"}]),
         "metrics[0]", "an upstream figure needs a citation"),
        (lambda d: d.update(metrics=[{"name": "mIoU", "value": 1, "dataset": "d", "split": "s", "applies_to": "cpu-int8", "source": "measured", "command": "c"}]),
         "metrics[0]", "a measured figure needs the command and the date"),
    ],
)
def test_field_checks_name_field_and_problem(minimal, mutate, field, message):
    mutate(minimal)
    assert (field, message) in problems(minimal)


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d["head"].update(labels=["a", "b"]), "outputs[0].shape",
         "logits have 3 classes in the last dimension but head.labels has 2"),
        (lambda d: d["outputs"][0].update(kind="keypoints-yxs"), "outputs",
         "a semantic-segmentation model's outputs are of kinds class-ids or logits or probabilities or probability; these are keypoints-yxs"),
        (lambda d: d["head"].update(colour="red"), "head.colour", "unknown field (schema version 2)"),
        (lambda d: d["artifacts"].append(dict(d["artifacts"][0], default=True)), "artifacts",
         "id 'cpu-int8' is used 2 times; artifact and upstream ids must be unique"),
        (lambda d: d["artifacts"][0].update(parent="ghost"), "artifacts[0].parent",
         "'ghost' is not another artifact or upstream id; known: cpu-int8"),
        (lambda d: d["artifacts"][0].update(parent="cpu-int8"), "artifacts[0].parent",
         "'cpu-int8' is not another artifact or upstream id; known: cpu-int8"),
        (lambda d: d["artifacts"].append(dict(d["artifacts"][0], id="cpu-b")), "artifacts",
         "target 'cpu' has 2 artifacts (cpu-int8, cpu-b) and 0 marked default: mark exactly one 'default: true'"),
        (lambda d: d["artifacts"].extend([dict(d["artifacts"][0], id="b", default=True), dict(d["artifacts"][0], id="c", default=True)]),
         "artifacts", "target 'cpu' has 3 artifacts (cpu-int8, b, c) and 2 marked default: mark exactly one 'default: true'"),
        (lambda d: d.update(metrics=[{"name": "mIoU", "value": 1, "dataset": "d", "split": "s", "applies_to": "nope", "source": "upstream", "citation": "c"}]),
         "metrics[0].applies_to", "'nope' is not an artifact or upstream id; known: cpu-int8"),
        (lambda d: d.update(aliases=["tiny"]), "aliases", "'tiny' appears 2 times among the name and aliases"),
        (lambda d: d["artifacts"][0].update(outputs=[{"shape": [1, 8, 8, 5], "kind": "logits"}]), "artifacts[0].outputs[0].shape",
         "logits have 5 classes in the last dimension but head.labels has 3"),
    ],
)
def test_cross_field_checks(minimal, mutate, field, message):
    mutate(minimal)
    assert problems(minimal) == [(field, message)]


def test_class_ids_output_needs_no_class_dimension(minimal):
    minimal["outputs"] = [{"shape": [1, 8, 8], "kind": "class-ids"}]
    assert manifest.parse(minimal, "m.yaml").outputs[0].kind == "class-ids"


def test_one_default_makes_several_artifacts_per_target_valid(minimal):
    minimal["artifacts"].append(dict(minimal["artifacts"][0], id="cpu-b", default=True))
    assert [a.default for a in manifest.parse(minimal, "m.yaml").artifacts] == [False, True]


def test_error_message_names_file_field_and_problem(minimal):
    minimal["artifacts"][0]["sha256"] = "00"
    with pytest.raises(ManifestInvalid) as info:
        manifest.parse(minimal, "manifests/tiny.yaml")
    assert str(info.value) == "manifests/tiny.yaml: artifacts[0].sha256: sha256 must be 64 lowercase hex characters, got '00'"


def test_load_reports_yaml_syntax_with_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n  broken: [\n")
    with pytest.raises(ManifestInvalid) as info:
        manifest.load(bad)
    (field, message), = info.value.problems
    assert field.startswith("line ") and message.startswith("not valid YAML")


def test_load_rejects_non_mapping(tmp_path):
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ManifestInvalid) as info:
        manifest.load(bad)
    assert info.value.problems == [("(manifest)", "expected a mapping at the top level, got list")]


def test_round_trip_through_yaml(minimal, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(minimal))
    assert manifest.load(path) == manifest.parse(minimal, "x")


# Hostile files: each of these once crashed, hung or slipped through.

def load_text(tmp_path, data: bytes):
    path = tmp_path / "m.yaml"
    path.write_bytes(data)
    with pytest.raises(ManifestInvalid) as info:
        manifest.load(path)
    return info.value.problems


def test_non_utf8_file_is_one_problem(tmp_path, minimal):
    data = yaml.safe_dump(minimal).encode().replace(b"a tiny test model", b"caf\xe9")
    assert load_text(tmp_path, data) == [("(manifest)", "not UTF-8 text (byte 0xe9 at offset %d)" % data.index(b"\xe9"))]


def test_yaml_alias_bomb_is_refused(tmp_path, minimal):
    text = yaml.safe_dump(minimal) + 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    text += "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    ((where, message),) = load_text(tmp_path, text.encode())
    assert where.startswith("line ") and message == "not valid YAML: YAML aliases (*name) are not allowed in manifests"


def test_duplicate_keys_are_refused(tmp_path, minimal):
    text = yaml.safe_dump(minimal) + "name: other\n"
    ((where, message),) = load_text(tmp_path, text.encode())
    assert where.startswith("line ") and message == "not valid YAML: duplicate key 'name'"


def test_huge_manifest_is_refused_before_parsing(tmp_path, minimal):
    minimal["head"]["labels"] = ["x" * 100] * 20_000
    data = yaml.safe_dump(minimal).encode()
    assert load_text(tmp_path, data) == [("(manifest)", "too large for a manifest (more than 1,048,576 bytes)")]


def test_long_invalid_value_is_not_echoed_in_full(minimal):
    minimal["name"] = "X" * 500_000
    ((field, message),) = problems(minimal)
    assert field == "name" and len(message) < 300 and "(500000 characters)" in message


def test_credentials_and_escapes_never_reach_the_message(minimal):
    minimal["artifacts"][0]["sources"] = ["ftp://alice:s3cret@host/\x1b[31mx"]
    ((field, message),) = problems(minimal)
    assert "s3cret" not in message and "\x1b" not in message and "***@host" in message


def test_oci_sources_name_a_repository(minimal):
    minimal["artifacts"][0]["sources"] = ["oci://127.0.0.1:5000/zoo/tiny"]
    assert manifest.parse(minimal, "m.yaml").artifacts[0].published
    minimal["artifacts"][0]["sources"] = ["oci://127.0.0.1:5000/zoo/tiny:v1"]
    assert problems(minimal) == [("artifacts[0].sources[0]", "an oci:// source names a repository, not a tag: 'oci://127.0.0.1:5000/zoo/tiny:v1'")]


def test_a_version_1_manifest_still_loads_and_means_the_same(minimal):
    v1 = {k: v for k, v in minimal.items() if k not in ("inputs", "outputs", "head")}
    v1.update(schema_version=1, input=minimal["inputs"][0], output=minimal["outputs"][0], classes=minimal["head"])
    v1["artifacts"] = [dict(minimal["artifacts"][0], output={"shape": [1, 8, 8], "kind": "class-ids"})]
    old, new = manifest.parse(v1, "old.yaml"), manifest.parse(dict(minimal, artifacts=[dict(
        minimal["artifacts"][0], outputs=[{"shape": [1, 8, 8], "kind": "class-ids"}])]), "new.yaml")
    assert old == new and old.labels == ["background", "a", "b"] and old.parsed_head.ignore_label == 255


def test_a_version_1_manifest_of_another_task_fails_in_one_line_saying_how_to_migrate(minimal):
    v1 = {k: v for k, v in minimal.items() if k not in ("inputs", "outputs", "head")}
    v1.update(schema_version=1, task="image-classification", input=minimal["inputs"][0], output=minimal["outputs"][0],
              classes=minimal["head"])
    assert problems(v1) == [("schema_version", "version 1 described semantic segmentation only; write version 2 (inputs, "
                                               "outputs, head: see `zoo init` and the bundled manifests)")]


def _cycle(minimal: dict) -> dict:
    """Two compiled artifacts, each made from the other."""
    base = dict(minimal["artifacts"][0], build=True, sources=[], unpublished="built on fetch")
    minimal["artifacts"] += [dict(base, id="npu-a", target="imx93", parent="npu-b"),
                             dict(base, id="npu-b", target="imx8mp", parent="npu-a")]
    return minimal


def test_a_parent_cycle_is_refused(minimal):
    assert problems(_cycle(minimal)) == [
        ("artifacts[1].parent", "the parents form a cycle (npu-a -> npu-b -> npu-a); each artifact is made from one "
                                "nearer its upstream")]


def test_a_parent_cycle_that_escaped_validation_is_never_followed_for_ever(minimal):
    """The resolver's own guard (a manifest object made without validation): RecursionError on every fetch before."""
    from zoo.choice import makers, rebuildable

    _cycle(minimal)["artifacts"][2]["parent"] = "cpu-int8"  # valid: cpu-int8 -> npu-b -> npu-a
    m = manifest.parse(minimal, "m.yaml")
    looped = m.model_copy(update={"artifacts": [*m.artifacts[:2], m.artifacts[2].model_copy(update={"parent": "npu-a"})]})
    a = looped.artifact("npu-a")
    assert rebuildable(looped, a) is False
    assert [x.id for x in makers(looped, a)] == ["npu-b", "npu-a"]
    assert rebuildable(m, a) is True and [x.id for x in makers(m, a)] == ["npu-b", "npu-a"]
