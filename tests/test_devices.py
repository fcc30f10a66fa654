"""Detection against real directory trees shaped like each kind of device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from zoo.devices import detect


def put(root: Path, rel: str, text: str | bytes = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def char_device(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(120, 0))
    except PermissionError:
        pytest.skip("creating a character device needs CAP_MKNOD here")


def usable(d) -> dict[str, bool]:
    return {f.what: f.usable for f in d.findings}


def test_bare_x86_machine_has_only_cpu(tmp_path):
    d = detect(tmp_path)
    assert d.targets == ["cpu"] and d.board is None
    assert [f.target for f in d.findings] == ["cpu"]
    assert d.cores == os.cpu_count() and d.arch


@pytest.mark.parametrize(("ids", "state"), [(("1a6e", "089a"), "before firmware load"), (("18d1", "9302"), "firmware loaded")])
def test_coral_usb_host(tmp_path, ids, state):
    put(tmp_path, "sys/bus/usb/devices/1-1/idVendor", ids[0] + "\n")
    put(tmp_path, "sys/bus/usb/devices/1-1/idProduct", ids[1] + "\n")
    put(tmp_path, "sys/bus/usb/devices/1-2/idVendor", "046d\n")
    put(tmp_path, "sys/bus/usb/devices/1-2/idProduct", "c52b\n")
    without = detect(tmp_path)
    (tpu,) = [f for f in without.findings if f.target == "edgetpu"]
    assert tpu.what == f"Coral USB Accelerator ({state})" and not tpu.usable
    assert tpu.fix.startswith("install libedgetpu: apt-get install libedgetpu1-std")
    assert without.targets == ["cpu"]
    lib = put(tmp_path, "usr/lib/x86_64-linux-gnu/libedgetpu.so.1")
    with_lib = detect(tmp_path)
    (tpu,) = [f for f in with_lib.findings if f.target == "edgetpu"]
    assert tpu.usable and str(lib) in tpu.evidence
    assert tpu.evidence[0] == f"{tmp_path}/sys/bus/usb/devices/1-1/idVendor,idProduct = {ids[0]}:{ids[1]}"
    assert with_lib.targets == ["edgetpu", "cpu"]


def test_coral_pcie_host_with_driver(tmp_path):
    put(tmp_path, "sys/class/apex/apex_0/device/vendor", "0x1ac1\n")
    char_device(tmp_path, "dev/apex_0")
    put(tmp_path, "usr/lib/libedgetpu.so.1")
    d = detect(tmp_path)
    assert usable(d)["Coral PCIe/M.2 Edge TPU (apex_0)"] is True
    assert d.targets == ["edgetpu", "cpu"]


def test_coral_pcie_node_that_is_not_a_device_is_not_trusted(tmp_path):
    put(tmp_path, "sys/class/apex/apex_0/device/vendor", "0x1ac1\n")
    put(tmp_path, "dev/apex_0", "a regular file")
    put(tmp_path, "usr/lib/libedgetpu.so.1")
    d = detect(tmp_path)
    assert usable(d) == {"Coral PCIe/M.2 Edge TPU (apex_0) without its device node": False, f"{d.arch} CPU, {d.cores} cores": True}
    assert d.targets == ["cpu"]


def test_coral_pcie_without_driver_says_install_gasket(tmp_path):
    put(tmp_path, "sys/bus/pci/devices/0000:01:00.0/vendor", "0x1ac1\n")
    put(tmp_path, "sys/bus/pci/devices/0000:01:00.0/device", "0x089a\n")
    put(tmp_path, "sys/bus/pci/devices/0000:00:00.0/vendor", "0x8086\n")
    put(tmp_path, "sys/bus/pci/devices/0000:00:00.0/device", "0x1234\n")
    d = detect(tmp_path)
    (tpu,) = [f for f in d.findings if f.target == "edgetpu"]
    assert tpu.what == "Coral PCIe/M.2 Edge TPU present but its driver is missing" and not tpu.usable
    assert "gasket-dkms" in tpu.fix and d.targets == ["cpu"]


def test_imx8mp_with_vx_delegate(tmp_path):
    put(tmp_path, "sys/devices/soc0/soc_id", "i.MX8MP\n")
    put(tmp_path, "dev/galcore")
    put(tmp_path, "usr/lib/libvx_delegate.so")
    put(tmp_path, "proc/device-tree/model", b"NXP i.MX8MPlus EVK board\x00")
    d = detect(tmp_path)
    assert d.board == "NXP i.MX8MPlus EVK board"
    assert usable(d)["NXP i.MX 8M Plus NPU"] is True and d.targets == ["imx8mp", "cpu"]


def test_imx8mp_by_device_tree_compatible_without_delegate(tmp_path):
    put(tmp_path, "proc/device-tree/compatible", b"fsl,imx8mp-evk\x00fsl,imx8mp\x00")
    d = detect(tmp_path)
    (npu,) = [f for f in d.findings if f.target == "imx8mp"]
    assert not npu.usable and npu.what == "NXP i.MX 8M Plus NPU, VX delegate missing"
    assert npu.evidence == [f"{tmp_path}/proc/device-tree/compatible has fsl,imx8mp"]
    assert "libvx_delegate.so not found" in npu.fix and d.targets == ["cpu"]


def test_galcore_alone_is_not_an_imx8mp(tmp_path):
    put(tmp_path, "dev/galcore")
    put(tmp_path, "usr/lib/libvx_delegate.so")
    put(tmp_path, "sys/devices/soc0/soc_id", "i.MX8QM\n")
    assert detect(tmp_path).targets == ["cpu"]


def test_imx93_with_ethos_u(tmp_path):
    put(tmp_path, "sys/devices/soc0/soc_id", "i.MX93\n")
    put(tmp_path, "dev/ethosu0")
    d = detect(tmp_path)
    (npu,) = [f for f in d.findings if f.target == "imx93"]
    assert not npu.usable and "libethosu_delegate.so" in npu.fix
    assert "tensorflow-lite-ethosu-delegate" in npu.fix and "litert-ethosu-delegate" in npu.fix
    put(tmp_path, "usr/lib/libethosu_delegate.so")
    assert detect(tmp_path).targets == ["imx93", "cpu"]


def test_imx93_with_the_newer_litert_ethos_u_delegate(tmp_path):
    put(tmp_path, "sys/devices/soc0/soc_id", "i.MX93\n")
    put(tmp_path, "dev/ethosu0")
    put(tmp_path, "usr/lib/liblitert_ethosu_delegate.so")
    d = detect(tmp_path)
    (npu,) = [f for f in d.findings if f.target == "imx93"]
    assert npu.usable and npu.evidence[-1] == str(tmp_path / "usr/lib/liblitert_ethosu_delegate.so")
    assert d.targets == ["imx93", "cpu"]


def test_raspberry_pi_reports_board_and_cpu(tmp_path):
    put(tmp_path, "proc/device-tree/model", b"Raspberry Pi 4 Model B Rev 1.4\x00")
    d = detect(tmp_path)
    assert d.board == "Raspberry Pi 4 Model B Rev 1.4" and d.targets == ["cpu"]


def test_coral_usb_on_an_imx8mp_prefers_the_edge_tpu(tmp_path):
    put(tmp_path, "sys/bus/usb/devices/2-1/idVendor", "18d1")
    put(tmp_path, "sys/bus/usb/devices/2-1/idProduct", "9302")
    put(tmp_path, "usr/lib/libedgetpu.so.1")
    put(tmp_path, "sys/devices/soc0/soc_id", "i.MX8MP")
    put(tmp_path, "usr/lib/libvx_delegate.so")
    d = detect(tmp_path)
    assert d.targets == ["edgetpu", "imx8mp", "cpu"]
    assert d.to_dict()["targets"] == d.targets


def test_interpreter_is_reported():
    import importlib.util

    expected = "ai_edge_litert" if importlib.util.find_spec("ai_edge_litert") else None
    assert detect("/nonexistent").interpreter in {expected, "tflite_runtime"}
