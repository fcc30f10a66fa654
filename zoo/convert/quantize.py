"""TFLite conversion: full-integer int8 with float32 (or uint8/int8) input and output, and plain float32."""

from __future__ import annotations

from collections.abc import Callable

from zoo.convert.calibration import Calibration

SETTINGS_DOC = "optimizations=[DEFAULT], supported_ops=[TFLITE_BUILTINS_INT8], representative_dataset=calibration"


def to_float(make_converter: Callable[[], object]) -> bytes:
    """The float32 TFLite model (for comparisons such as the build benchmark's latency)."""
    return make_converter().convert()


def to_int8(make_converter: Callable[[], object], calibration: Calibration, io_dtype: str) -> tuple[bytes, dict]:
    """Full-integer post-training quantization; `io_dtype` float32 keeps float input and output."""
    import tensorflow as tf

    converter = make_converter()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: ([sample[None]] for sample in calibration.samples)
    converter.inference_input_type = converter.inference_output_type = getattr(tf, io_dtype)
    settings = {"version": tf.__version__, "converter": type(converter).__name__, "settings": SETTINGS_DOC,
                "inference_input_type": io_dtype, "inference_output_type": io_dtype}
    return converter.convert(), settings
