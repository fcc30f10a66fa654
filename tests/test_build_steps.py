"""Build steps that fail before or around TensorFlow: upstream pins, archives, the Edge TPU compiler, inspect."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import MINIMAL, REPO

from zoo import archive
from zoo.convert.compilers import edgetpu
from zoo.tflite import InvalidModel, inspect

import edgetpu_logs as logs

def test_v16_fully_mapped_prints_no_counts_and_everything_is_on_the_tpu():
    s = edgetpu.parse_log(logs.V16_FULLY_MAPPED)
    assert (s.compiler_version, s.subgraphs, s.total_ops, s.tpu_ops, s.cpu_ops) == ("16.0.384591198", 1, 246, 246, 0)
    assert s.on_chip_bytes == round(5.90 * 2**20) and s.off_chip_bytes == round(41.75 * 1024)
    assert s.operators["LOGISTIC"] == {"tpu": 64, "cpu": 0} and s.to_dict()["tpu_share"] == 1.0


def test_v15_partial_without_a_table_takes_the_counts():
    s = edgetpu.parse_log(logs.V15_PARTIAL)
    assert (s.compiler_version, s.total_ops, s.tpu_ops, s.cpu_ops, s.operators) == ("15.0.340273435", 165, 117, 48, {})
    assert s.to_dict()["tpu_share"] == round(117 / 165, 4)


def test_v2_partial_splits_one_operator_between_tpu_and_cpu():
    s = edgetpu.parse_log(logs.V2_PARTIAL)
    assert (s.compiler_version, s.total_ops, s.tpu_ops, s.cpu_ops) == ("2.1.302470888", 93, 83, 10)
    assert s.operators["CONCATENATION"] == {"tpu": 3, "cpu": 1} and s.operators["LOGISTIC"] == {"tpu": 0, "cpu": 1}
    assert s.on_chip_bytes == round(6.86 * 2**20) and s.off_chip_bytes == round(1.22 * 2**20)


def test_v14_nothing_mapped_every_status_but_mapped_is_cpu():
    s = edgetpu.parse_log("Model compiled successfully in 1 ms.\n" + logs.V14_NOTHING_MAPPED)
    assert (s.total_ops, s.tpu_ops, s.cpu_ops) == (2, 0, 2)
    assert s.operators == {"MUL": {"tpu": 0, "cpu": 1}, "SPLIT": {"tpu": 0, "cpu": 1}}


def test_segment_block_of_a_segmented_compile():
    s = edgetpu.parse_log(logs.V16_SEGMENT)
    assert (s.total_ops, s.tpu_ops, s.cpu_ops, s.off_chip_bytes) == (84, 84, 0, 0)


def test_failed_compile_names_the_compilers_reason():
    with pytest.raises(edgetpu.CompileFailed) as info:
        edgetpu.parse_log(logs.V16_FAILED)
    assert str(info.value) == ("edgetpu_compiler did not compile the model "
                               "(Compilation failed due to large activation tensors in model.)")


def test_the_operation_log_file_is_not_mistaken_for_a_compile_result():
    with pytest.raises(edgetpu.CompileFailed, match="did not compile the model"):
        edgetpu.parse_log(logs.V15_OPERATION_LOG_HEADER)


@pytest.mark.parametrize(("version", "multiple", "flags"), [
    ("16.0.384591198", False, ["-s", "-t", "60"]), ("15.0.340273435", False, ["-s"]), ("14.1.317412892", True, ["-s", "-a"]),
    ("16.0.384591198", True, ["-s", "-a", "-t", "60"]),
])
def test_compiler_flags_follow_version_and_manifest(version, multiple, flags, tmp_path):
    cmd = edgetpu.command("edgetpu_compiler", version, tmp_path / "m.tflite", tmp_path / "out", 60, multiple)
    assert cmd == ["edgetpu_compiler", *flags, "-o", str(tmp_path / "out"), str(tmp_path / "m.tflite")]


def test_missing_compiler_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(edgetpu.CompilerMissing) as info:
        edgetpu.find_compiler()
    assert "x86-64 Linux only" in info.value.hint and "apt-get install edgetpu-compiler" in info.value.hint


@pytest.mark.skipif(not __import__("shutil").which("edgetpu_compiler"), reason="edgetpu_compiler is not installed here")
def test_real_compiler_version():
    path, version = edgetpu.find_compiler()
    assert Path(path).name == "edgetpu_compiler" and version[0].isdigit()


def tgz(tmp_path: Path, add) -> Path:
    path = tmp_path / "up.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add(tar)
    return path


def member(tar, name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@pytest.mark.parametrize(("name", "kind", "link", "message"), [
    ("../evil.pb", tarfile.REGTYPE, "", "member '../evil.pb' has an absolute path or '..'"),
    ("/etc/evil", tarfile.REGTYPE, "", "member '/etc/evil' has an absolute path or '..'"),
    ("model/link", tarfile.SYMTYPE, "/etc/passwd", "link 'model/link' -> '/etc/passwd' points outside"),
    ("model/up", tarfile.SYMTYPE, "../../x", "link 'model/up' -> '../../x' points outside"),
    ("model/dev", tarfile.CHRTYPE, "", "member 'model/dev' is a device or fifo"),
])
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path, name, kind, link, message):
    path = tgz(tmp_path, lambda t: (member(t, "model/ok.pb"), member(t, name, kind=kind, link=link)))
    with pytest.raises(archive.UnsafeArchive, match=message.replace("(", r"\(").replace(")", r"\)")):
        archive.extract(path, tmp_path / "out")
    assert not (tmp_path / "out" / "model").exists()


def test_safe_archive_extracts(tmp_path):
    path = tgz(tmp_path, lambda t: (member(t, "m/frozen_inference_graph.pb", b"graph"), member(t, "m/link", kind=tarfile.SYMTYPE, link="frozen_inference_graph.pb")))
    out = archive.extract(path, tmp_path / "out")
    assert (out / "m" / "frozen_inference_graph.pb").read_bytes() == b"graph"


def test_inspect_google_edgetpu_model(coral):
    info = inspect(coral / "deeplabv3_mnv2_pascal_quant_edgetpu.tflite")
    assert info.accelerator == "edgetpu" and info.histogram["edgetpu-custom-op"] == 1
    assert sorted(info.cpu_ops) == sorted(["RESIZE_BILINEAR"] * 3 + ["QUANTIZE", "CONCATENATION", "CONV_2D", "CONV_2D", "ARG_MAX"])
    (i,), (o,) = info.inputs, info.outputs
    assert (i.dtype, i.shape, i.scale, i.zero_point) == ("uint8", [1, 513, 513, 3], [0.0078125], [128])
    assert (o.dtype, o.shape) == ("int64", [1, 513, 513])


def test_inspect_google_cpu_model_matches_litert(coral):
    lite = pytest.importorskip("ai_edge_litert.interpreter", reason="the run extra is not installed")
    path = coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite"
    info = inspect(path)
    it = lite.Interpreter(model_path=str(path))
    assert len(info.ops) == len(it._get_ops_details())
    assert [op.name for op in info.ops] == [d["op_name"] for d in it._get_ops_details()]
    assert info.accelerator is None and info.float_ops == []


def test_builtin_op_names_match_the_litert_schema():
    schema = pytest.importorskip("ai_edge_litert.schema_py_generated", reason="the run extra is not installed")
    from zoo.tflite import builtin_names

    codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    assert all(codes[i] == name for i, name in enumerate(builtin_names()) if i in codes)


def test_inspect_refuses_non_models(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"<html>not a model</html>")
    with pytest.raises(InvalidModel, match="is not a TFLite model"):
        inspect(bad)
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(InvalidModel, match="is not a TFLite model \\(it is empty\\)"):
        inspect(tmp_path / "empty.tflite")


def test_operator_code_beyond_the_table_is_named_by_number(coral, tmp_path):
    """Google's file with its first operator code set to 250, a code newer than any table zoo ships."""
    import struct

    from zoo.tflite import _Table

    data = bytearray((coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").read_bytes())
    first = _Table(bytes(data), struct.unpack_from("<I", data, 0)[0]).tables(1)[0]
    before = inspect(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").ops
    struct.pack_into("<i", data, first._field(3), 250)
    (tmp_path / "new.tflite").write_bytes(data)
    after = inspect(tmp_path / "new.tflite").ops
    renamed = {a.name for a, b in zip(after, before) if a.name != b.name}
    assert renamed == {"BUILTIN_250"} and len(after) == len(before)


def upstream_manifest(folder: Path, server, data: bytes, pin: dict, artifact_target: str = "imx8mp") -> None:
    doc = dict(MINIMAL, name="tiny-up")
    doc["upstream"] = [{"id": "up", "kind": "frozen-graph-tarball", "file": "up.tar.gz",
                        "sources": [server.add("/up.tar.gz", data)], **pin}]
    doc["build"] = {"recipe": "deeplab_frozen_graph", "upstream": "up",
                    "options": {}}
    doc["artifacts"] = [{**MINIMAL["artifacts"][0], "target": artifact_target, "sources": [], "sha256": None, "size": None,
                         "unpublished": "tests", "build": True, "parent": "up"}]
    (folder / "tiny-up.yaml").write_text(yaml.safe_dump(doc))


def zoo_build(*args: str) -> subprocess.CompletedProcess:
    import sys

    return subprocess.run([sys.executable, "-m", "zoo", "build", *args], capture_output=True, text=True, timeout=300, env=os.environ)


pytestmark_tf = pytest.mark.skipif(__import__("importlib.util").util.find_spec("tensorflow") is None,
                                   reason="the build extra (tensorflow-cpu) is not installed")


@pytestmark_tf
def test_upstream_checksum_mismatch_is_refused(zoo_env, server, tmp_path):
    data = b"not the real tarball"
    upstream_manifest(zoo_env, server, data, {"sha256": "0" * 64})
    proc = zoo_build("tiny-up", "--calibration", "random", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("error: build step 'upstream' failed: could not fetch tiny-up/up (up.tar.gz):")
    assert f"expected {'0' * 64}, got {hashlib.sha256(data).hexdigest()}" in proc.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytestmark_tf
def test_unpinned_upstream_is_refused_without_trust(zoo_env, server, tmp_path):
    upstream_manifest(zoo_env, server, b"whatever", {})
    proc = zoo_build("tiny-up", "--calibration", "random", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and server.requests == []
    assert "build step 'upstream' failed: tiny-up's upstream 'up' (up.tar.gz) has no pinned checksum" in proc.stderr
    assert "--trust-upstream" in proc.stderr


@pytestmark_tf
def test_trusted_unpinned_upstream_prints_its_sha256(zoo_env, server, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        member(tar, "../escape.pb")
    data = buf.getvalue()
    upstream_manifest(zoo_env, server, data, {})
    proc = zoo_build("tiny-up", "--calibration", "random", "--trust-upstream", "--out", str(tmp_path / "out"))
    assert f"observed sha256 {hashlib.sha256(data).hexdigest()}" in proc.stderr
    assert proc.returncode == 1 and "build step 'upstream' failed:" in proc.stderr and "'..'" in proc.stderr


@pytestmark_tf
def test_edgetpu_target_without_compiler_fails_first_with_install_help(zoo_env, server, tmp_path, monkeypatch):
    upstream_manifest(zoo_env, server, b"x", {"sha256": "1" * 64}, artifact_target="edgetpu")
    monkeypatch.setenv("PATH", str(Path(os.__file__).parent))
    proc = zoo_build("tiny-up", "--calibration", "random", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and server.requests == []
    assert proc.stderr.startswith("error: build step 'compiler' failed: edgetpu_compiler not found on PATH")
    assert "apt-get install edgetpu-compiler" in proc.stderr


@pytestmark_tf
def test_smoke_builds_are_never_recorded(zoo_env, server, tmp_path):
    upstream_manifest(zoo_env, server, b"x", {"sha256": "1" * 64})
    proc = zoo_build("tiny-up", "--calibration", "random", "--record", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "build step 'record' failed: a smoke build" in proc.stderr


def test_recipe_sh_runs_the_checkouts_venv_without_activation_or_says_how_to_set_it_up(tmp_path):
    proc = subprocess.run([str(REPO / "recipe.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: ./recipe.sh NAME [TARGET...]")
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    shutil.copy(REPO / "recipe.sh", checkout / "recipe.sh")
    bare = {"PATH": "/usr/bin:/bin"}  # no venv activated, no zoo on PATH
    proc = subprocess.run([str(checkout / "recipe.sh"), "deeplabv3", "imx93", "--", "--check"], capture_output=True,
                          text=True, env=bare)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == ["recipe.sh: zoo is not installed here. Set it up once with:",
                                        f"  python3 -m venv {checkout}/.venv && {checkout}/.venv/bin/pip install -e "
                                        f"'{checkout}[build,run]'"]
    (checkout / ".venv/bin").mkdir(parents=True)
    fake = checkout / ".venv/bin/zoo"
    fake.write_text('#!/bin/sh\necho "zoo $*"\n')
    fake.chmod(0o755)
    proc = subprocess.run([str(checkout / "recipe.sh"), "deeplabv3", "imx93", "--", "--check"], capture_output=True,
                          text=True, env=bare)
    assert proc.returncode == 0 and proc.stdout == "zoo build deeplabv3 --target imx93 --check\n"


def test_inspect_maps_a_file_rather_than_reading_it(coral, tmp_path):
    """A sparse file of the largest size a flatbuffer can have, starting with Google's model: mapped, not read."""
    big = tmp_path / "big.tflite"
    big.write_bytes((coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").read_bytes())
    os.truncate(big, (1 << 31) - 1)
    info = inspect(big)
    assert info.size == (1 << 31) - 1 and info.histogram == inspect(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").histogram


def _inspect_limited(path: Path, limit: int) -> subprocess.CompletedProcess:
    """`zoo inspect PATH` in a process whose address space is capped at `limit` bytes."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run([sys.executable, "-m", "zoo", "inspect", str(path)], capture_output=True, text=True,
                          preexec_fn=cap, timeout=120)


def test_inspect_refuses_files_no_flatbuffer_can_be_and_says_when_mapping_fails(coral, tmp_path):
    big = tmp_path / "huge.tflite"
    big.write_bytes((coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").read_bytes())
    os.truncate(big, 2 << 30)  # 2 GiB: one byte past what a flatbuffer can address
    proc = _inspect_limited(big, 1 << 30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [f"error: {big} is not a TFLite model: it is 2,147,483,648 bytes, and a TFLite "
                                        "flatbuffer is at most 2,147,483,647"]
    os.truncate(big, 1536 << 20)  # a size a flatbuffer can have, but more than the process may map
    proc = _inspect_limited(big, 1 << 30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: {big} cannot be mapped into memory to be read (Cannot allocate memory)")


def test_inspect_says_what_a_file_is_not(coral, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "zoo", "inspect", str(coral / "bird.bmp")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"error: {coral / 'bird.bmp'} is not a TFLite model (no TFL3 identifier; it looks like a BMP image)\n"


@pytestmark_tf
def test_a_bug_in_zoo_keeps_its_traceback_inside_a_build_step(zoo_env, server, tmp_path, monkeypatch):
    """Only a recipe's or TensorFlow's own exceptions become `build step ... failed` lines; zoo's own bugs surface."""
    from zoo.convert import runner

    upstream_manifest(zoo_env, server, b"x", {"sha256": "1" * 64})

    def broken(*args):
        raise TypeError("a bug in zoo")

    monkeypatch.setattr(runner, "_calibration", broken)
    with pytest.raises(TypeError, match="a bug in zoo"):
        runner.build("tiny-up", runner.Options(calibration="random", weights="random", out=tmp_path / "out"))


def test_a_tool_is_named_once_with_its_versions():
    """aeq's version lists its packages ("ai-edge-quantizer 0.10.0, ai-edge-litert 2.3.0"): the mismatch message and
    the card say the quantizer's name once."""
    pytest.importorskip("ai_edge_quantizer", reason="the quantize extra is not installed")
    from zoo.card import _made
    from zoo.convert.compilers import aeq, vx
    from zoo.convert.record import tool_text

    version = aeq.find_compiler()[1]
    assert version.startswith("ai-edge-quantizer ") and tool_text({"name": "ai-edge-quantizer", "version": version}) == version
    assert _made({"tool": {"name": "ai-edge-quantizer", "version": version}, "checks": []}) == version + ", checks: "
    rewrite = vx.find_compiler()[1]
    assert tool_text({"name": "zoo i.MX 8M Plus rewrite", "version": rewrite}) == f"zoo i.MX 8M Plus rewrite ({rewrite})"
    assert tool_text({"name": "vela", "version": "5.2.0"}) == "vela 5.2.0"


def test_what_tensorflow_prints_from_cpp_or_python_goes_to_the_log_and_zoos_progress_to_the_terminal(tmp_path):
    """Whatever a TensorFlow version prints at start-up (absl's and oneDNN's lines from C++ straight to file
    descriptor 2, deprecation notices through Python's warnings and logging, converter notes to stdout) lands in the
    build log; zoo's own progress still reaches the terminal, and both descriptors are restored afterwards."""
    log = tmp_path / "m.tensorflow.log"
    script = f"""
import logging, os, sys, warnings
from pathlib import Path
from zoo.convert.runner import _tensorflow_log
from zoo.progress import StderrProgress
with _tensorflow_log(Path({str(log)!r}), StderrProgress(bar=False)) as progress:
    os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on\\n")
    os.write(1, b"fully_quantize: 0, inference_type: 6\\n")
    warnings.warn("resize_bilinear is deprecated", DeprecationWarning)
    logging.getLogger("tensorflow").warning("From dispatch.py: deprecated")
    print("Captures:")
    progress.note("[3/6] int8")
print("after", flush=True)
print("after", file=sys.stderr, flush=True)
"""
    proc = subprocess.run([sys.executable, "-W", "default", "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"TensorFlow's own output goes to {log}", "[3/6] int8", "after"]
    assert proc.stdout == "after\n"
    text = log.read_text()
    for line in ("oneDNN custom operations", "fully_quantize", "resize_bilinear is deprecated", "From dispatch.py",
                 "Captures:"):
        assert line in text
