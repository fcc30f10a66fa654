"""coral-deeplab against files the upstream code wrote (../shared/testdata/coral-deeplab): same tensors, same logits."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

np = pytest.importorskip("numpy")
pytest.importorskip("tensorflow", reason="the build extra (tensorflow-cpu) is not installed")
h5py = pytest.importorskip("h5py", reason="the build extra (h5py) is not installed")

import zoo  # noqa: E402
from zoo.build.recipes import recipe_module  # noqa: E402
from zoo.errors import WeightsMismatch  # noqa: E402

from conftest import REPO  # noqa: E402

DATA = REPO.parent / "shared" / "testdata" / "coral-deeplab"
VARIANTS = {  # upstream test-data prefix -> (manifest, version, depth multiplier)
    "deeplabv3_dm1": ("coral-deeplabv3", "v3", 1.0),
    "deeplabv3_dm05": ("coral-deeplabv3-dm05", "v3", 0.5),
    "deeplabv3plus_dm1": ("coral-deeplabv3plus", "v3plus", 1.0),
    "deeplabv3plus_dm05": ("coral-deeplabv3plus-dm05", "v3plus", 0.5),
}
FILES = [(v, f"{v}_upstream_random_seed0{suffix}.h5") for v in VARIANTS for suffix in ("_fullmodel", "")
         if v.endswith("dm05") or suffix]  # the save_weights layout exists for the dm0.5 variants


@pytest.fixture(scope="module")
def data() -> Path:
    if not (DATA / "README.md").is_file():
        pytest.skip(f"upstream coral-deeplab test data not found at {DATA} (../shared is absent)")
    return DATA


@pytest.fixture(scope="module")
def bird(data):
    return np.load(data / "bird_segmentation_input_m1p1_float32.npy")


cdl = recipe_module("coral_deeplab")


def model(variant: str, weights: Path | None, size: int = 513):
    _, version, dm = VARIANTS[variant]
    return cdl.model_for({"version": version, "depth_multiplier": dm}, weights, size, 21)


@pytest.mark.parametrize(("variant", "file"), FILES)
def test_upstream_files_reproduce_upstream_logits(data, bird, variant, file):
    got = model(variant, data / file)(bird, training=False).numpy()
    want = np.load(data / f"{variant}_upstream_random_seed0_bird_logits.npy")
    assert got.shape == want.shape
    assert float(np.abs(got - want).max()) < 1e-3
    assert float((got.argmax(-1) == want.argmax(-1)).mean()) >= 0.999


@pytest.mark.parametrize("variant", VARIANTS)
def test_name_mapping_is_total_and_shapes_match_upstream(data, variant):
    listing = json.loads((data / f"{variant}_upstream_weights.json").read_text())
    m = model(variant, None)
    ours = {cdl.upstream_name(layer, w): tuple(w.shape) for layer in m.layers for w in layer.weights}
    assert len(ours) == len(m.weights) == listing["num_weights"]
    assert ours == {w["name"]: tuple(w["shape"]) for w in listing["weights"]}
    assert m.count_params() == listing["count_params"]


def edited(src: Path, dst: Path, change) -> Path:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        change(f)
    return dst


def drop(f):
    g = f["expanded_conv_3/depthwise"]
    g.attrs["weight_names"] = []
    del g["expanded_conv_3/depthwise/depthwise_kernel:0"]


def extra(f):
    g = f["logits/semantic"]
    g.create_dataset("logits/semantic/scale:0", data=np.ones(21, np.float32))
    g.attrs["weight_names"] = np.array([*g.attrs["weight_names"], b"logits/semantic/scale:0"], dtype="S")


def reshape(f):
    g = f["aspp0"]
    k = g["aspp0/kernel:0"][()]
    del g["aspp0/kernel:0"]
    g.create_dataset("aspp0/kernel:0", data=k[..., :128])


@pytest.mark.parametrize(("change", "message"), [
    (drop, "1 missing \\(e.g. expanded_conv_3/depthwise/depthwise_kernel:0\\)"),
    (extra, "1 unexpected \\(e.g. logits/semantic/scale:0\\)"),
    (reshape, "1 of another shape \\(e.g. aspp0/kernel:0: file \\(1, 1, 160, 128\\), model \\(1, 1, 160, 256\\)\\)"),
])
def test_a_file_with_a_missing_extra_or_reshaped_tensor_loads_nothing(data, tmp_path, change, message):
    bad = edited(data / "deeplabv3_dm05_upstream_random_seed0.h5", tmp_path / "bad.h5", change)
    fresh = model("deeplabv3_dm05", None)
    before = [w.numpy().copy() for w in fresh.weights]
    with pytest.raises(WeightsMismatch, match=message):
        cdl.load_weights(fresh, cdl.read_weights(bad), bad)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, fresh.weights))


def test_model_config_is_never_parsed(data, bird, tmp_path):
    def garbage(f):
        f.attrs["model_config"] = np.void(b"\x00{not json at all; lambda: __import__('os').system('false')")

    bad = edited(data / "deeplabv3_dm05_upstream_random_seed0_fullmodel.h5", tmp_path / "garbage.h5", garbage)
    got = model("deeplabv3_dm05", bad)(bird, training=False).numpy()
    want = np.load(data / "deeplabv3_dm05_upstream_random_seed0_bird_logits.npy")
    assert float(np.abs(got - want).max()) < 1e-3


def test_weights_zoo_saves_load_back_and_keep_upstream_names(data, tmp_path):
    src = model("deeplabv3plus_dm05", data / "deeplabv3plus_dm05_upstream_random_seed0.h5", 129)
    cdl.save_weights(src, tmp_path / "mine.h5")
    assert set(cdl.read_weights(tmp_path / "mine.h5")) == set(cdl.read_weights(data / "deeplabv3plus_dm05_upstream_random_seed0.h5"))
    back = model("deeplabv3plus_dm05", tmp_path / "mine.h5", 129)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(src.weights, back.weights))


def test_keras_model_entry_point(data, zoo_env, server, monkeypatch):
    """weights="upstream" goes through the resolver (md5 pin, cache); a path loads; None is a fresh network."""
    weights = (data / "deeplabv3_dm05_upstream_random_seed0_fullmodel.h5").read_bytes()
    doc = yaml.safe_load((REPO / "manifests" / "coral-deeplabv3-dm05.yaml").read_text())
    doc["upstream"][0].update(md5=hashlib.md5(weights).hexdigest(), sources=[server.add("/w.h5", weights)])
    (zoo_env / "coral-deeplabv3-dm05.yaml").write_text(yaml.safe_dump(doc))
    with pytest.warns(zoo.ZooWarning):
        up = zoo.keras_model("coral-deeplabv3-dm05", input_size=129)
    assert tuple(up.output.shape) == (None, 9, 9, 21) and len(server.requests) == 1
    again = zoo.keras_model("coral-deeplabv3-dm05", weights=data / "deeplabv3_dm05_upstream_random_seed0.h5", input_size=129)
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(up.weights, again.weights))
    assert len(server.requests) == 1
    fresh = zoo.keras_model("coral-deeplabv3plus", weights=None)
    assert tuple(fresh.output.shape) == (None, 129, 129, 21)
