from __future__ import annotations

import pytest

from zoo.errors import TargetUnknown
from zoo.targets import TARGETS, get_target


@pytest.mark.parametrize("name", ["edgetpu", "imx8mp", "imx93"])
def test_accelerators_fall_back_to_cpu(name):
    assert get_target(name).chain() == [name, "cpu"]


def test_cpu_is_the_end_of_every_chain():
    assert get_target("cpu").chain() == ["cpu"]
    assert all(t.chain()[-1] == "cpu" for t in TARGETS.values())


def test_unknown_target_lists_known_ones():
    with pytest.raises(TargetUnknown, match="unknown target 'gpu'") as info:
        get_target("gpu")
    assert info.value.hint == "known targets: cpu, edgetpu, imx8mp, imx93"
