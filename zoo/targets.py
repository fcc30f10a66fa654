"""The accelerators zoo knows, and every fact about each in one place: its rank for auto-detection, its runtime
delegate, the target to fall back to, the operator that marks a file compiled for it, the label its benchmarks use,
its hub tags, and the compiler that makes its files from a parent file.

The compilers' own facts live beside them: the extra that installs one, whether its bytes are the same on every run
(which is what lets zoo pin a file it builds) and how to tell cheaply that it is installed. Their code is in
zoo/convert/compilers/<name>.py."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.errors import TargetUnknown


@dataclass(frozen=True)
class Target:
    name: str
    title: str
    runtime: str
    delegate: str | None
    fallback: str | None
    install: str
    rank: int  # auto-detection prefers lower ranks
    accelerator: str  # how a benchmark names what ran the model
    marker_op: str | None = None  # the custom operator that marks a file compiled for this target
    hub_tags: tuple[str, ...] = ()
    compiler: str | None = None  # the COMPILERS entry that makes this target's files from a parent file
    alternatives: tuple[str, ...] = ()  # other names the same delegate has on other images
    runs_on_cpu: bool = False  # its files are plain integer/float graphs LiteRT runs without the delegate (zoo eval)

    def delegates(self) -> tuple[str, ...]:
        """Every path the delegate may have, the usual one first."""
        return (self.delegate, *self.alternatives) if self.delegate else ()

    def chain(self) -> list[str]:
        """This target then its fallbacks, in order (e.g. ['edgetpu', 'cpu'])."""
        names, current = [], self
        while current is not None:
            names.append(current.name)
            current = TARGETS[current.fallback] if current.fallback else None
        return names


@dataclass(frozen=True)
class Compiler:
    name: str  # zoo/convert/compilers/<name>.py
    extra: str  # the extra that installs it
    reproducible: bool = False  # its bytes are identical run to run, so its products can be pinned
    probe: str | None = None  # how to tell it is installed, cheaply: "command:NAME" or "module:NAME"

    def installed(self) -> bool:
        """Whether this compiler can run here (a command on PATH or beside this Python, or an importable
        module), without running it: checked on every resolution that could build a file here."""
        if self.probe is None:
            return False
        kind, _, name = self.probe.partition(":")
        if kind == "command":
            import os
            import shutil
            import sys

            return shutil.which(name, path=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])) is not None
        import importlib.util
        import os

        top, _, rest = name.partition(".")
        spec = importlib.util.find_spec(top)  # the top-level package only: finding a submodule would import it
        if spec is None or not rest:
            return spec is not None
        relative = rest.replace(".", os.sep) + ".py"
        return any(os.path.isfile(os.path.join(d, relative)) for d in spec.submodule_search_locations or ())


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            name="cpu",
            title="any CPU (arm64, armv7, x86-64)",
            runtime="LiteRT with XNNPACK",
            delegate=None,
            fallback=None,
            install="pip install ai-edge-litert",
            rank=9,
            accelerator="CPU",
            runs_on_cpu=True,
        ),
        Target(
            name="edgetpu",
            title="Google Coral Edge TPU (USB, PCIe/M.2, Dev Board)",
            runtime="LiteRT + libedgetpu",
            delegate="libedgetpu.so.1",
            fallback="cpu",
            install="apt-get install libedgetpu1-std (Coral apt repository); PCIe/M.2 also gasket-dkms",
            rank=0,
            accelerator="Edge TPU",
            marker_op="edgetpu-custom-op",
            hub_tags=("edge-tpu",),
            compiler="edgetpu",
        ),
        Target(
            name="imx8mp",
            title="NXP i.MX 8M Plus NPU",
            runtime="LiteRT + VX delegate",
            delegate="/usr/lib/libvx_delegate.so",
            fallback="cpu",
            install="use an NXP BSP image with the tflite-vx-delegate package",
            rank=1,
            accelerator="NPU (VX delegate)",
            marker_op="vsi-npu",
            runs_on_cpu=True,  # the NPU computes the same integers, rounding aside
            hub_tags=("nxp", "i.mx8mp"),
            compiler="vx",
        ),
        Target(
            name="imx93",
            title="NXP i.MX 93 Ethos-U65 NPU",
            runtime="LiteRT + Ethos-U delegate (Vela-compiled models)",
            delegate="/usr/lib/libethosu_delegate.so",
            fallback="cpu",
            install="use an NXP BSP image with the Ethos-U delegate: package tensorflow-lite-ethosu-delegate "
            "(older BSPs, /usr/lib/libethosu_delegate.so) or litert-ethosu-delegate (newer LiteRT recipes, "
            "/usr/lib/liblitert_ethosu_delegate.so), with the ethos-u driver stack",
            rank=2,
            accelerator="Ethos-U65 NPU",
            marker_op="ethos-u",
            hub_tags=("nxp", "i.mx93"),
            compiler="vela",
            alternatives=("/usr/lib/liblitert_ethosu_delegate.so",),
        ),
    )
}


COMPILERS: dict[str, Compiler] = {
    c.name: c
    for c in (
        Compiler("edgetpu", "build"),  # edgetpu_compiler, inside `zoo build`: 16 bytes change on every run (google-coral/edgetpu#885)
        Compiler("vela", "imx93", reproducible=True, probe="command:vela"),
        Compiler("vx", "imx8mp", reproducible=True, probe="module:ai_edge_litert.tools.flatbuffer_utils"),
        Compiler("aeq", "quantize", reproducible=True, probe="module:ai_edge_quantizer"),
    )
}


def get_target(name: str) -> Target:
    """The registered target called `name`, or TargetUnknown listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise TargetUnknown(f"unknown target {name!r}", f"known targets: {', '.join(TARGETS)}") from None


def by_rank() -> list[str]:
    """Target names, the one auto-detection prefers first."""
    return [t.name for t in sorted(TARGETS.values(), key=lambda t: t.rank)]
