"""Shared fixtures: the real Coral files in ../shared (when present) and a minimal valid manifest."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORAL = REPO.parent / "shared" / "testdata" / "coral"

MINIMAL = {
    "schema_version": 1,
    "name": "tiny",
    "family": "test",
    "task": "semantic-segmentation",
    "description": "a tiny test model",
    "license": "Apache-2.0",
    "homepage": "https://example.invalid/tiny",
    "input": {
        "shape": [1, 8, 8, 3],
        "layout": "NHWC",
        "color_order": "RGB",
        "dtype": "float32",
        "preprocessing": {"resize": "stretch", "mean": [127.5] * 3, "scale": [1 / 127.5] * 3},
    },
    "output": {"shape": [1, 8, 8, 3], "kind": "logits"},
    "classes": {"labels": ["background", "a", "b"], "ignore_label": 255},
    "artifacts": [
        {
            "id": "cpu-int8",
            "target": "cpu",
            "format": "tflite",
            "precision": "int8",
            "input_dtype": "float32",
            "output_dtype": "float32",
            "file": "tiny.tflite",
            "size": 1234,
            "sha256": "a" * 64,
            "sources": ["http://127.0.0.1:1/tiny.tflite"],
            "recipe": "made by the tests",
        }
    ],
}


@pytest.fixture
def minimal() -> dict:
    """A fresh deep copy of a valid manifest to mutate."""
    return copy.deepcopy(MINIMAL)


@pytest.fixture(scope="session")
def coral() -> Path:
    """../shared/testdata/coral, or skip: those real upstream files are not in this checkout."""
    if not (CORAL / "SHA256SUMS").is_file():
        pytest.skip(f"real Coral test data not found at {CORAL} (../shared is absent)")
    return CORAL
