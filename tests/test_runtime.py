"""zoo.load: a real LiteRT interpreter with the target's delegate, falling back when it cannot load."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import zoo
from zoo.errors import RuntimeMissing, ZooWarning

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")


@pytest.fixture
def coral_model(zoo_env, server, coral):
    """A user manifest mirroring Google's dm0.5 cpu and edgetpu files on the loopback server."""
    real = zoo.get("deeplabv3")
    arts = []
    for a in (real.artifact("cpu-uint8"), real.artifact("edgetpu")):
        fields = a.model_dump(exclude_none=True)
        fields["sources"] = [server.add("/" + a.file, (coral / a.file).read_bytes())]
        arts.append(fields)
    data = real.model_dump(mode="json", exclude_none=True)
    data.update(name="mirror", aliases=[], artifacts=arts, metrics=[], benchmarks=[], upstream=[])
    data.pop("build")
    import yaml

    (zoo_env / "mirror.yaml").write_text(yaml.safe_dump(data))
    return "mirror"


def test_cpu_load_runs_the_real_model(coral_model, coral):
    from PIL import Image

    model = zoo.load(coral_model, target="cpu", num_threads=2)
    assert (model.target, model.artifact.id) == ("cpu", "cpu-uint8")
    interpreter = model.interpreter  # the raw tensors stay reachable
    image = np.asarray(Image.open(coral / "bird_segmentation.bmp").convert("RGB"))
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
    interpreter.invoke()
    mask = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    reference = np.asarray(Image.open(coral / "bird_segmentation_mask.bmp"))
    assert mask.shape == reference.shape == (513, 513)
    bird = 3
    inter = np.logical_and(mask == bird, reference == bird).sum()
    union = np.logical_or(mask == bird, reference == bird).sum()
    assert inter / union > 0.8
    # predict normalises as the manifest says, (pixel - 127.5) / 127.5, then quantizes: a pixel may move by one step
    assert (model.predict(coral / "bird_segmentation.bmp").mask == mask).mean() > 0.98  # measured 0.987


def test_edgetpu_without_libedgetpu_falls_back_to_cpu(coral_model):
    with pytest.warns(ZooWarning, match=r"cannot load the edgetpu delegate libedgetpu.so.1 .*; falling back to cpu"):
        model = zoo.load(coral_model, target="edgetpu")
    assert model.target == "cpu" and model.interpreter.get_input_details()[0]["shape"].tolist() == [1, 513, 513, 3]


def test_no_interpreter_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    with pytest.raises(RuntimeMissing, match=r"no LiteRT interpreter is installed \(pip install '\.\[run\]' in zoo's checkout"):
        zoo.load("deeplabv3", target="cpu")


def test_an_installed_zoo_does_not_point_at_a_checkout(tmp_path):
    """zoo laid out as an installed package (its manifests inside it, no pyproject.toml beside it): the hint names
    the package and its extra, not "zoo's checkout"; from the checkout it names the checkout."""
    import os
    import shutil
    import subprocess

    from conftest import REPO

    site = tmp_path / "site-packages"
    shutil.copytree(REPO / "zoo", site / "zoo", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "manifests", site / "zoo" / "manifests")
    code = "from zoo.errors import install_extra; print(install_extra('run'))"
    installed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                               env={**os.environ, "PYTHONPATH": str(site)}, timeout=60).stdout
    assert "checkout" not in installed and installed.startswith("pip install 'edge-model-zoo[run] @ ")
    here = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60).stdout
    assert here == "pip install '.[run]' in zoo's checkout (the run extra of edge-model-zoo)\n"
