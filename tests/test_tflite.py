"""zoo's own .tflite reader (zoo/tflite.py) and the flatbuffer edits (zoo/convert/flatbuffer.py) on hostile bytes:
work bounded by the file's size, and bytes that are not a model refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc

import pytest
from conftest import pinned, write_model
from tflite_files import classifier, tflite

from zoo.errors import InvalidModel
from zoo.tflite import inspect

pytest.importorskip("ai_edge_litert", reason="the run extra (ai-edge-litert) is not installed")

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 200


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=os.environ)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory):
    """A valid flatbuffer of 1 MB listing 100,000 empty tensors beside a classifier's three (10 bytes each)."""
    path = tmp_path_factory.mktemp("crowded") / "crowded.tflite"
    path.write_bytes(tflite([("image", [1, 8, 8, 3], "float32"), ("scores", [1, 4], "float32")],
                            [("SOFTMAX", [0], [1])], [0], [1], extra_tensors=100_000))
    return path


def test_a_file_listing_more_tensors_than_its_size_holds_is_refused_before_reading_them(crowded):
    """Was 150x the file's size in memory and 8.7 s for a million empty tensors in 4 MB."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidModel) as info:
            inspect(crowded)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 0.5 and peak < crowded.stat().st_size
    size = crowded.stat().st_size
    assert str(info.value) == (f"{crowded} lists 1 operator codes, 1 subgraphs, 1 buffers, 100,002 tensors, 1 operators "
                               f"in {size:,} bytes: more than a real model fits in its size (one per 64 bytes); a damaged "
                               "or hostile file")


@pytest.mark.parametrize("command", [("inspect",), ("init", "--name", "x", "--task", "image-classification")])
def test_the_commands_that_read_a_file_say_so_in_one_line(crowded, command):
    proc = zoo_cli(command[0], str(crowded), *command[1:])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "more than a real model fits in its size" in proc.stderr


def test_a_small_model_is_read_as_before():
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(classifier(1001))
        f.flush()
        info = inspect(f.name)
    assert [t.shape for t in info.outputs] == [[1, 1001]] and [op.name for op in info.ops] == ["FULLY_CONNECTED", "SOFTMAX"]


def test_the_flatbuffer_editor_refuses_bytes_that_are_not_a_model():
    from zoo.convert import flatbuffer

    with pytest.raises(InvalidModel, match=r"^parent\.tflite is not a TFLite model \(no TFL3 identifier; it looks like a "
                                           r"PNG image\)$"):
        flatbuffer.read(PNG, "parent.tflite")
    damaged = bytearray(classifier(4))
    damaged[0:4] = (len(damaged) + 1000).to_bytes(4, "little")  # the root table's offset points past the end
    with pytest.raises(InvalidModel, match=r"^parent\.tflite is a damaged TFLite model"):
        flatbuffer.read(bytes(damaged), "parent.tflite")


def test_building_on_fetch_from_a_parent_that_is_not_a_model_fails_in_one_line(zoo_env, server, tmp_path):
    """The VX rewrite's parent is a PNG (pinned, so it verifies): was a TypeError traceback from LiteRT's reader."""
    write_model(zoo_env, "m", [pinned(PNG, sources=[server.add("/m.tflite", PNG)]),
                               {"id": "imx8mp-int8", "target": "imx8mp", "build": True, "parent": "cpu-int8",
                                "sources": [], "unpublished": "built on fetch"}])
    proc = zoo_cli("fetch", "m", "--target", "imx8mp")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.splitlines()[-1] == ("error: build step 'compile' failed: tiny.tflite is not a TFLite model (no "
                                            "TFL3 identifier; it looks like a PNG image)")
