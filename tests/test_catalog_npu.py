"""The NPU files of the models of issue 25: every pinned imx93 (Vela) and imx8mp (VX rules) file rebuilt by
`zoo build --check` from its verified upstream parent to the same bytes and report, and the imx8mp files that pass
no gate listed as unpublished with the VX report's own reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import SHARED
from zoo import catalog
from zoo.convert.compilers import vela, vx
from zoo.errors import ZooError

try:
    vela.find_compiler()
    VELA = True
except ZooError:
    VELA = False

DERIVED = [("ssd-mobilenet-v1", "imx93"), ("mobilenet-v1-0.25-224", "imx93"), ("mobilenet-v1-0.75-192", "imx93"),
           ("yolo-face", "imx93"), ("fastestdet-person", "imx93"), ("mobilenet-v1-0.25-224", "imx8mp"),
           ("mobilenet-v1-0.75-192", "imx8mp"), ("deeplabv3-257", "cpu"), ("deeplabv3-257", "imx93"),
           ("deeplabv3-257", "imx8mp"), ("selfie-segmentation-landscape", "cpu"),
           ("selfie-segmentation-landscape", "imx93"), ("selfie-segmentation-landscape", "imx8mp")]


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600, env=os.environ)


@pytest.mark.parametrize(("name", "target"), DERIVED)
def test_build_check_reproduces_every_new_pinned_npu_file(shared_mirror, tmp_path, name, target):
    if target == "imx93" and not VELA:
        pytest.skip("vela is not installed (pip install 'edge-model-zoo[imx93]')")
    proc = zoo_cli("build", name, "--target", target, "--check", "--out", str(tmp_path / "check"))
    assert proc.returncode == 0, proc.stderr
    assert "same-bytes: ok (identical bytes to the pinned file)" in proc.stdout


def test_the_ssd_runs_on_the_imx8mp_as_published_its_post_processing_on_the_cpu():
    m = catalog.load(extra=[]).get("ssd-mobilenet-v1")
    a, cpu = m.artifact("imx8mp"), m.artifact("cpu-uint8")
    assert (a.sha256, a.sources, a.delegate) == (cpu.sha256, cpu.sources, "/usr/lib/libvx_delegate.so")
    report = vx.report(SHARED / "tflite-support" / cpu.file).to_dict()
    assert {k: v for k, v in report.items() if k != "tool_version"} == a.compile_stats
    assert [op["op"] for op in report["cpu_operators"]] == ["TFLite_Detection_PostProcess"] and report["partitions"] == 1
    vela_report = m.artifact("imx93").compile_stats  # the Ethos-U cannot take the custom operator either
    assert [(op["op"], op["output"]) for op in vela_report["cpu_operators"]] == [("CUSTOM", "TFLite_Detection_PostProcess")]


@pytest.mark.parametrize(("name", "folder", "file"), [("yolo-face", "faceDet", "yolo_face_detect.tflite"),
                                                      ("fastestdet-person", "fastestDet", "dperson_shufflenetv2.tflite")])
def test_nxps_per_channel_files_say_why_they_have_no_imx8mp_file(name, folder, file):
    a = catalog.load(extra=[]).get(name).artifact("imx8mp")
    report = vx.report(SHARED / "nxp-eiq" / folder / file).to_dict()
    assert not a.published and not a.build and report["per_channel"] > 0
    assert f"{report['per_channel']} tensors are per-channel where the rules want per-tensor" in " ".join(a.unpublished.split())
    if report["partitions"] > 1:
        assert f"into {report['partitions']} NPU partitions ({report['npu_ops']} of {report['operators']} operators" in \
            " ".join(a.unpublished.split())
