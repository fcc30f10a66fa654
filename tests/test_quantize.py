"""ai-edge-quantizer on MediaPipe's published float16 files (zoo/convert/compilers/aeq.py): each pitfall the recipe
handles (../shared/research/edge-facts.md §6), shown failing without its fix, on the real files."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("ai_edge_quantizer", reason="the quantize extra (ai-edge-quantizer) is not installed")

from conftest import SHARED  # noqa: E402
from zoo import catalog  # noqa: E402
from zoo.convert import flatbuffer  # noqa: E402
from zoo.convert.compilers import aeq  # noqa: E402
from zoo.preprocess import prepare as prepare_image  # noqa: E402
from zoo.tasks.detection import raw_detections  # noqa: E402
from zoo.tflite import inspect  # noqa: E402

MEDIAPIPE = SHARED / "mediapipe"
CALIBRATION = [SHARED / "coral/bird.bmp", SHARED / "coral/bird_segmentation.bmp", SHARED / "coral-tasks/cat.bmp",
               SHARED / "coral-tasks/squat.bmp"]


@pytest.fixture(scope="module")
def face(coral, coral_tasks):
    if not (MEDIAPIPE / "SHA256SUMS").is_file():
        pytest.skip(f"MediaPipe's files are not at {MEDIAPIPE} (../shared is absent)")
    return (MEDIAPIPE / "face_detection_short_range.tflite").read_bytes()


def manifest(name: str):
    return catalog.load(extra=[]).get(name)


def samples(name: str, images, crops: bool = False, key: str = "input") -> list[dict]:
    m = manifest(name)
    return [{key: prepare_image(v, m.input).array[None]} for p in images for v in aeq.views(p, crops)]


def run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()]


def grace_hopper_faces(model: bytes):
    m = manifest("face-detection-short-range")
    x = prepare_image(MEDIAPIPE / "grace_hopper.bmp", m.input).array[None]
    return raw_detections([o[0] for o in run(model, x)], m.parsed_head)


def without(data: bytes, fix) -> bytes:
    """`aeq.prepare` with one of its fixes left out."""
    model = flatbuffer.read(data)
    for each in (aeq.new_operator_codes, aeq.float32_weights, aeq.serving_signature):
        if each is not fix:
            each(model)
    return flatbuffer.write(model)


@pytest.mark.parametrize(("fix", "failure"), [
    (aeq.serving_signature, 'Invalid signature_key provided: "serving_default"'),  # 1. no SignatureDef
    (aeq.new_operator_codes, "zero_point"),  # 2. every operator read as ADD: a convolution's weights get a zero point
    (aeq.float32_weights, "'NoneType' object has no attribute"),  # 3. float16 weights behind DEQUANTIZE
])
def test_each_fix_of_prepare_prevents_a_failure_of_the_quantizer(face, fix, failure):
    with pytest.raises((ValueError, RuntimeError, AttributeError), match=failure):
        run(aeq.quantize(without(face, fix), samples("face-detection-short-range", CALIBRATION[:2]), "per-tensor"),
            samples("face-detection-short-range", CALIBRATION[:1])[0]["input"])


def test_prepare_keeps_the_float_outputs_and_drops_the_float16_weights(face):
    prepared = aeq.prepare(face)
    x = samples("face-detection-short-range", CALIBRATION[3:])[0]["input"]
    for a, b in zip(run(face, x), run(prepared, x)):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99999
    info = inspect_bytes(prepared)
    assert not any(t.dtype == "float16" for t in info.tensors) and "DEQUANTIZE" not in info.histogram
    model = flatbuffer.read(prepared)
    used = {0, *(t.buffer for t in model.subgraphs[0].tensors), *(m.buffer for m in model.metadata or [])}
    assert len(model.buffers) == len(used)  # no float16 buffer left behind
    assert len(prepared) < 2.2 * len(face)  # the weights doubled (float16 to float32), nothing more
    assert [s.signatureKey for s in model.signatureDefs] == [aeq.SIGNATURE.encode()]


def inspect_bytes(data: bytes):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(data)
        f.flush()
        return inspect(f.name)


def test_the_quantizers_moving_average_clips_the_face_score_and_min_max_does_not(face):
    """Fix 4: with the quantizer's default calibration (a moving average of each image's ranges, smoothing 0.95) the
    face logits' range ends at 0 and Grace Hopper's face scores 0.5 (MediaPipe: 0.936), at the threshold; zoo takes the
    minimum and maximum over all images."""
    prepared = aeq.prepare(face)
    views = samples("face-detection-short-range", CALIBRATION, crops=True)
    assert [f.score for f in grace_hopper_faces(quantize_with(prepared, views, "moving_average_update"))] in ([], [0.5])
    assert [f.score > 0.9 for f in grace_hopper_faces(quantize_with(prepared, views, "min_max_update"))] == [True]
    assert [f.score > 0.9 for f in grace_hopper_faces(aeq.quantize(prepared, views, "per-channel"))] == [True]


def quantize_with(prepared: bytes, views: list[dict], update: str) -> bytes:
    """The quantizer's static int8 recipe with float I/O, calibrated with one of its range updates."""
    from ai_edge_quantizer import algorithm_manager, calibrator, qtyping, quantizer, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    recipe = recipe_manager.RecipeManager()
    recipe.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                             weight_num_bits=8)
    for io in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        recipe.add_quantization_config(regex=".*", operation_name=io, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    ranges = calibrator.Calibrator(prepared, qsv_update_func=getattr(qsv_utils, update))
    ranges.calibrate({aeq.SIGNATURE: views}, recipe)
    q = quantizer.Quantizer(bytearray(prepared))
    q.load_quantization_recipe(recipe.get_quantization_recipe())
    return bytes(q.quantize(ranges.get_model_qsvs(), enable_progress_report=False).quantized_model)


def test_the_quantizers_static_recipe_quantizes_the_graph_io_and_zoos_keeps_it_float(face):
    """Fix 5: the quantizer's static recipe alone gives int8 graph I/O; zoo's keeps float32 I/O."""
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager

    prepared = aeq.prepare(face)
    views = samples("face-detection-short-range", CALIBRATION[:2])
    recipe = recipe_manager.RecipeManager()
    recipe.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                             weight_num_bits=8)
    q = quantizer.Quantizer(bytearray(prepared))
    q.load_quantization_recipe(recipe.get_quantization_recipe())
    plain = bytes(q.quantize(q.calibrate({aeq.SIGNATURE: views}), enable_progress_report=False).quantized_model)
    assert {t.dtype for t in (*inspect_bytes(plain).inputs, *inspect_bytes(plain).outputs)} == {"int8"}
    ours = inspect_bytes(aeq.quantize(prepared, views, "per-tensor"))
    assert [(t.name, t.dtype) for t in (*ours.inputs, *ours.outputs)] == [
        ("input", "float32"), ("regressors", "float32"), ("classificators", "float32")]  # the float model's names


def test_crops_keep_the_face_score_that_whole_photos_of_small_faces_clip(face):
    """Calibrated on whole photos whose faces are small, the face logits' range ends below a close face's logit:
    MediaPipe scores Grace Hopper's face 0.936, the int8 file 0.667. With each image's quadrants and centre too: 0.945."""
    prepared = aeq.prepare(face)
    whole = grace_hopper_faces(aeq.quantize(prepared, samples("face-detection-short-range", CALIBRATION), "per-channel"))
    cropped = grace_hopper_faces(aeq.quantize(prepared, samples("face-detection-short-range", CALIBRATION, crops=True),
                                              "per-channel"))
    assert len(whole) == len(cropped) == 1
    assert whole[0].score < 0.7 and abs(cropped[0].score - 0.936) < 0.02


def test_operators_after_a_custom_one_stay_float_or_the_selfie_mask_loses_a_tenth(face, monkeypatch):
    """The selfie segmenter ends in a custom transpose convolution (left float) and a sigmoid: quantizing that sigmoid
    alone takes the mask IoU on the holdout image from 0.968 to 0.872, under the 0.9 gate."""
    data = (MEDIAPIPE / "selfie_segmentation.tflite").read_bytes()
    prepared = aeq.prepare(data)
    assert aeq.float_tail(prepared) == ["activation_10"]
    m = manifest("selfie-segmentation")
    views = samples("selfie-segmentation", [*CALIBRATION[:3], MEDIAPIPE / "grace_hopper.bmp"], crops=True, key="input_1")
    squat = prepare_image(SHARED / "coral-tasks/squat.bmp", m.input).array[None]
    reference = run(prepared, squat)[0] >= 0.5

    def iou(model: bytes) -> float:
        mask = run(model, squat)[0] >= 0.5
        return float((mask & reference).sum() / (mask | reference).sum())

    ours = aeq.quantize(prepared, views, "per-channel")
    monkeypatch.setattr(aeq, "float_tail", lambda model: [])
    quantized_tail = aeq.quantize(prepared, views, "per-channel", ("xnnpack", 2))  # the only kernels for the tail
    assert iou(quantized_tail) < 0.9 <= iou(ours)
    assert "LOGISTIC" in inspect_bytes(ours).float_ops


def test_two_runs_give_the_same_bytes(face):
    views = samples("face-detection-short-range", CALIBRATION[:2])
    prepared = aeq.prepare(face)
    assert aeq.quantize(prepared, views, "per-tensor") == aeq.quantize(aeq.prepare(face), views, "per-tensor")


# each pin aeq makes, as the manifest says it is made: (model, artifact, the parent file in ../shared)
PINS = [("face-detection-short-range", "cpu-int8", "mediapipe/face_detection_short_range.tflite"),
        ("face-detection-short-range", "imx8mp", "mediapipe/face_detection_short_range.tflite"),
        ("selfie-segmentation", "cpu-int8", "mediapipe/selfie_segmentation.tflite"),
        ("selfie-segmentation-landscape", "cpu-int8", "mediapipe/selfie_segmentation_landscape.tflite"),
        ("selfie-segmentation-landscape", "imx8mp", "mediapipe/selfie_segmentation_landscape.tflite"),
        ("deeplabv3-257", "cpu-int8", "tflite-support/deeplabv3.tflite"),
        ("deeplabv3-257", "imx8mp", "tflite-support/deeplabv3.tflite")]
IMAGES = {"bird": SHARED / "coral/bird.bmp", "bird-segmentation": SHARED / "coral/bird_segmentation.bmp",
          "cat": SHARED / "coral-tasks/cat.bmp", "squat": SHARED / "coral-tasks/squat.bmp",
          "grace-hopper": MEDIAPIPE / "grace_hopper.bmp", "cats-and-dogs": SHARED / "tflite-support/cats_and_dogs.jpg",
          "burger": SHARED / "tflite-support/burger.jpg", "sparrow": SHARED / "tflite-support/sparrow.png",
          "multi-objects": SHARED / "tflite-support/multi_objects.jpg"}


def pinned_inputs(name: str, artifact: str, file: str):
    """(prepared float model, calibration samples, granularity, pinned sha256) of a pinned aeq artifact."""
    m = manifest(name)
    a = m.artifact(artifact)
    prepared = aeq.prepare((SHARED / file).read_bytes())
    key = inspect_bytes(prepared).inputs[0].name
    views = [{key: prepare_image(v, m.input).array[None]} for i in a.quantize.calibration
             for v in aeq.views(IMAGES[i], a.quantize.crops)]
    return prepared, views, a.quantize.granularity, a.sha256


@pytest.mark.parametrize("name, artifact, file", PINS, ids=[f"{n}/{a}" for n, a, _ in PINS])
def test_every_pin_is_the_same_bytes_along_other_kernels_and_thread_counts(face, name, artifact, file):
    """The ranges come from LiteRT's reference kernels and sit on a grid, so XNNPACK (whose kernels differ by CPU:
    AVX-512 here gave other bytes than the AVX2 machine that made the first pins) and other thread counts calibrate
    to the same bytes: the pin."""
    import hashlib

    prepared, views, granularity, pin = pinned_inputs(name, artifact, file)
    for kernels in (("reference", 1), ("xnnpack", 1), ("xnnpack", 2)):
        assert hashlib.sha256(aeq.quantize(prepared, views, granularity, kernels)).hexdigest() == pin, kernels


def test_without_the_grid_xnnpack_and_the_reference_kernels_give_other_bytes(face, monkeypatch):
    """The grid is what makes the kernel paths agree: the ranges as measured differ in their last bits."""
    from zoo.convert import ranges

    prepared, views, granularity, _ = pinned_inputs(*PINS[1])
    monkeypatch.setattr(ranges, "snap", lambda qsvs: qsvs)
    assert aeq.quantize(prepared, views, granularity, ("reference", 1)) != \
        aeq.quantize(prepared, views, granularity, ("xnnpack", 2))


def test_the_calibration_graph_stops_before_the_custom_operator(face):
    """LiteRT's reference kernels cannot run MediaPipe's Convolution2DTransposeBias (only XNNPACK implements it): the
    graph calibrated ends at the tensor that operator reads, and the reference kernels run it."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    prepared = aeq.prepare((MEDIAPIPE / "selfie_segmentation.tflite").read_bytes())
    with pytest.raises(RuntimeError, match="Convolution2DTransposeBias|prepare"):
        Interpreter(model_content=prepared, experimental_op_resolver_type=OpResolverType.BUILTIN_REF).allocate_tensors()
    graph = aeq.calibration_graph(prepared)
    info = inspect_bytes(graph)
    assert "Convolution2DTransposeBias" not in info.float_ops and [t.name for t in info.outputs] != ["activation_10"]
    Interpreter(model_content=graph, experimental_op_resolver_type=OpResolverType.BUILTIN_REF).allocate_tensors()
    assert aeq.calibration_graph(aeq.prepare(face)) == aeq.prepare(face)  # nothing to cut in BlazeFace
