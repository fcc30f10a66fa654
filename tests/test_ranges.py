"""Calibration ranges on a grid (zoo/convert/ranges.py) and what a build that misses its pin says differs
(zoo/convert/compiled.py what_differs)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from zoo import catalog
from zoo.convert import compiled, ranges
from zoo.convert.compilers import Compiled

ULP = float(np.spacing(np.float32(0.375)))


@pytest.mark.parametrize("v, upper, snapped", [
    (-0.375, False, -0.375),  # h-swish's exact minimum is a grid line: it stays
    (-0.375 - ULP, False, -0.375),  # one unit in the last place below it stays there too (the tolerance)
    (-0.375 - 1 / 256, False, -0.375 - 1 / 64),  # a real difference beyond it goes to the next line (1/64 apart)
    (6.0, True, 6.0), (5.9, True, 6.0), (6.01, True, 6.25),  # 5 significant bits: lines 0.25 apart between 4 and 8
    (0.0, True, 0.0), (0.0, False, 0.0), (-3.3, True, -3.25), (3.3, False, 3.25),
])
def test_a_bound_moves_outward_to_a_grid_of_five_significant_bits(v, upper, snapped):
    assert ranges.snap_bound(v, upper) == snapped


def test_snapping_keeps_shapes_and_dtypes_and_a_range_only_widens():
    qsvs = {"a": {"min": np.array([-1.2345], np.float32), "max": np.array([7.77], np.float32)},
            "b": {"min": np.array(0.0, np.float32), "max": np.array(0.001, np.float32)}}
    out = ranges.snap(qsvs)
    for name in qsvs:
        for key in ("min", "max"):
            assert out[name][key].shape == qsvs[name][key].shape and out[name][key].dtype == np.float32
    assert out["a"]["min"] <= qsvs["a"]["min"] and out["a"]["max"] >= qsvs["a"]["max"]
    assert (out["a"]["max"] - out["a"]["min"]) / (qsvs["a"]["max"] - qsvs["a"]["min"]) < 1.07


def test_the_margin_says_how_far_a_bound_is_from_another_grid_line_against_another_kernel_path():
    below = -1.0 - ranges.TOLERANCE - 2e-6  # 2e-6 beyond the grid line at -1 once the tolerance is taken off
    made, near, across = ({"t": {"min": np.array([below + d]), "max": np.array([5.9])}} for d in (0, 1e-6, 3e-6))
    assert ranges.margin(made, made)["smallest_margin"] is None  # no bound differs
    got = ranges.margin(made, near)
    assert got["bounds_differing"] == 1 and got["bounds_on_another_grid_line"] == 0
    assert 1.5 < got["smallest_margin"] < 2.5  # 2e-6 from the line, the paths 1e-6 apart
    assert ranges.margin(made, across)["bounds_on_another_grid_line"] == 1
    assert ranges.snap_bound(below, False) != ranges.snap_bound(below + 3e-6, False)
    assert ranges.digest(made) != ranges.digest(near) and ranges.digest(made) == ranges.digest(copy.deepcopy(made))


def _selfie():
    return catalog.load(extra=[]).get("selfie-segmentation").artifact("cpu-int8")


def test_a_missed_pin_names_what_differs_from_the_build_that_made_it(tmp_path):
    a = _selfie()
    report = copy.deepcopy(a.compile_stats)
    report["versions"]["numpy"] = "1.26.4"
    report["ranges"]["inputs_sha256"] = "0" * 64
    why = compiled.what_differs(a, Compiled(tmp_path / "x", report, {}, []))
    assert why.startswith("differs from the build that made the pin: ")
    assert f"versions.numpy 1.26.4 here, {a.compile_stats['versions']['numpy']} in the pin" in why and f"ranges.inputs_sha256 {'0' * 64} here" in why
    assert "install the pinned versions" in why


def test_a_missed_pin_with_nothing_different_blames_the_machine_not_the_versions(tmp_path):
    a = _selfie()
    report = copy.deepcopy(a.compile_stats)
    report["ranges_margin"]["smallest_margin"] = 0.4  # what the machine measured: not a determinant
    why = compiled.what_differs(a, Compiled(tmp_path / "x", report, {}, []))
    assert "this machine's arithmetic differs" in why and "0.4" in why and "install" not in why
