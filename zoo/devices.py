"""Which accelerators this machine has, read from files under a root (default `/`), never by running a model.

Tests point `root` at a directory tree shaped like /sys, /dev, /proc and /usr of a device.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from zoo.targets import TARGETS, by_rank

CORAL_USB_IDS = {("1a6e", "089a"): "before firmware load", ("18d1", "9302"): "firmware loaded"}
CORAL_PCI_ID = ("0x1ac1", "0x089a")
LIBEDGETPU = ("libedgetpu.so.1", "libedgetpu.1.dylib", "edgetpu.dll")
LIB_DIRS = ("usr/lib", "usr/lib64", "usr/local/lib", "lib", "opt/homebrew/lib", "Windows/System32")
COMPATIBLE = {"fsl,imx8mp": "i.MX8MP", "fsl,imx93": "i.MX93"}


@dataclass
class Finding:
    """One piece of hardware or runtime, whether it is usable, the files that said so, and the fix if not."""

    target: str
    what: str
    usable: bool
    evidence: list[str] = field(default_factory=list)
    fix: str | None = None


@dataclass
class Detection:
    arch: str
    cores: int
    board: str | None
    interpreter: str | None
    findings: list[Finding]
    soc: str | None = None

    @property
    def device(self) -> str | None:
        """This device's identity for latency records: the board and its SoC as the device tree and soc0 say
        (e.g. 'NXP i.MX8MPlus EVK board (i.MX8MP)'); None on a machine that reports neither (a PC)."""
        if self.board and self.soc:
            return f"{self.board} ({self.soc})"
        return self.board or self.soc

    @property
    def targets(self) -> list[str]:
        """Usable targets, best first; always ends with cpu."""
        usable = {f.target for f in self.findings if f.usable}
        return [t for t in by_rank() if t in usable or t == "cpu"]

    def to_dict(self) -> dict:
        return {**asdict(self), "targets": self.targets, "device": self.device}


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().replace(b"\x00", b"\n").decode("utf-8", "replace").strip()
    except OSError:
        return None


def _is_char_device(path: Path) -> bool:
    try:
        return stat.S_ISCHR(path.stat().st_mode)
    except OSError:
        return False


def _find_lib(root: Path, names: tuple[str, ...]) -> Path | None:
    arch = platform.machine()
    top = os.fspath(root)
    for d in (*LIB_DIRS, f"usr/lib/{arch}-linux-gnu", f"lib/{arch}-linux-gnu"):
        for name in names:
            candidate = os.path.join(top, d, name)  # strings, not Paths: this runs on every auto resolve
            if os.path.exists(candidate):
                return Path(candidate)
    return None


def _edgetpu(root: Path) -> list[Finding]:
    lib = _find_lib(root, LIBEDGETPU)
    lib_fix = None if lib else f"install libedgetpu: {TARGETS['edgetpu'].install}"
    lib_evidence = [str(lib)] if lib else []
    found = []
    for dev in sorted((root / "sys/bus/usb/devices").glob("*")):
        ids = (_read(dev / "idVendor"), _read(dev / "idProduct"))
        if ids in CORAL_USB_IDS:
            found.append(Finding("edgetpu", f"Coral USB Accelerator ({CORAL_USB_IDS[ids]})", lib is not None,
                                 [f"{dev}/idVendor,idProduct = {ids[0]}:{ids[1]}", *lib_evidence], lib_fix))
    apex = sorted((root / "sys/class/apex").glob("apex_*"))
    for node in apex:
        dev = root / "dev" / node.name
        if _is_char_device(dev):
            found.append(Finding("edgetpu", f"Coral PCIe/M.2 Edge TPU ({node.name})", lib is not None,
                                 [str(node), f"{dev} (character device)", *lib_evidence], lib_fix))
        else:
            found.append(Finding("edgetpu", f"Coral PCIe/M.2 Edge TPU ({node.name}) without its device node", False,
                                 [str(node)], f"{dev} is missing: load the apex driver (modprobe apex) and check udev rules"))
    if not apex:
        for dev in sorted((root / "sys/bus/pci/devices").glob("*")):
            if (_read(dev / "vendor"), _read(dev / "device")) == CORAL_PCI_ID:
                found.append(Finding("edgetpu", "Coral PCIe/M.2 Edge TPU present but its driver is missing", False,
                                     [f"{dev}/vendor,device = 1ac1:089a"],
                                     "install gasket-dkms (Coral apt repository) and reboot, then libedgetpu1-std"))
    return found


def _soc(root: Path) -> tuple[str | None, list[str]]:
    soc_id = _read(root / "sys/devices/soc0/soc_id")
    if soc_id:
        return soc_id, [f"{root / 'sys/devices/soc0/soc_id'} = {soc_id}"]
    compatible = _read(root / "proc/device-tree/compatible") or ""
    for line in compatible.splitlines():
        if line in COMPATIBLE:
            return COMPATIBLE[line], [f"{root / 'proc/device-tree/compatible'} has {line}"]
    return None, []


def _nxp(root: Path) -> list[Finding]:
    soc, evidence = _soc(root)
    if soc == "i.MX8MP":
        delegate = root / TARGETS["imx8mp"].delegate.lstrip("/")
        if delegate.exists():
            return [Finding("imx8mp", "NXP i.MX 8M Plus NPU", True, [*evidence, str(delegate)])]
        return [Finding("imx8mp", "NXP i.MX 8M Plus NPU, VX delegate missing", False, evidence,
                        f"{delegate} not found: {TARGETS['imx8mp'].install}")]
    if soc == "i.MX93":
        names = [root / d.lstrip("/") for d in TARGETS["imx93"].delegates()]
        delegate = next((d for d in names if d.exists()), None)
        npu = root / "dev/ethosu0"
        missing = [str(npu)] * (not npu.exists()) + ([" or ".join(map(str, names))] if delegate is None else [])
        if not missing:
            return [Finding("imx93", "NXP i.MX 93 Ethos-U65 NPU", True, [*evidence, str(npu), str(delegate)])]
        return [Finding("imx93", "NXP i.MX 93 Ethos-U65 NPU, runtime incomplete", False, evidence,
                        f"missing {', '.join(missing)}: {TARGETS['imx93'].install}")]
    return []


def _interpreter() -> str | None:
    for module in ("ai_edge_litert", "tflite_runtime"):
        if importlib.util.find_spec(module) is not None:
            return module
    return None


def detect(root: str | os.PathLike = "/") -> Detection:
    """Find accelerators and runtimes under `root`; see Detection.targets for the usable ones."""
    base = Path(root)
    interpreter = _interpreter()
    cpu = Finding("cpu", f"{platform.machine()} CPU, {os.cpu_count()} cores", True, ["platform.machine(), os.cpu_count()"],
                  None if interpreter else f"to run models here: {TARGETS['cpu'].install}")
    return Detection(
        arch=platform.machine(),
        cores=os.cpu_count() or 1,
        board=_read(base / "proc/device-tree/model"),
        interpreter=interpreter,
        findings=[*_edgetpu(base), *_nxp(base), cpu],
        soc=_soc(base)[0],
    )


def cpu_model(root: str | os.PathLike = "/") -> str:
    """The CPU's name from /proc/cpuinfo (x86 'model name', Arm 'Hardware'/'Model'), else platform.processor()."""
    try:
        text = (Path(root) / "proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return fields.get("model name") or fields.get("Hardware") or fields.get("Model") or platform.machine()
