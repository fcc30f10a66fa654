"""The accelerators zoo knows: name, runtime delegate, and the target to fall back to."""

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
    compiler: str | None = None  # a deterministic offline compiler zoo runs to rebuild pinned artifacts (pip extra = target)
    alternatives: tuple[str, ...] = ()  # other names the same delegate has on other images

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
        ),
        Target(
            name="edgetpu",
            title="Google Coral Edge TPU (USB, PCIe/M.2, Dev Board)",
            runtime="LiteRT + libedgetpu",
            delegate="libedgetpu.so.1",
            fallback="cpu",
            install="apt-get install libedgetpu1-std (Coral apt repository); PCIe/M.2 also gasket-dkms",
        ),
        Target(
            name="imx8mp",
            title="NXP i.MX 8M Plus NPU",
            runtime="LiteRT + VX delegate",
            delegate="/usr/lib/libvx_delegate.so",
            fallback="cpu",
            install="use an NXP BSP image with the tflite-vx-delegate package",
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
            compiler="vela",
            alternatives=("/usr/lib/liblitert_ethosu_delegate.so",),
        ),
    )
}


def get_target(name: str) -> Target:
    """The registered target called `name`, or TargetUnknown listing the known ones."""
    try:
        return TARGETS[name]
    except KeyError:
        raise TargetUnknown(f"unknown target {name!r}", f"known targets: {', '.join(TARGETS)}") from None
