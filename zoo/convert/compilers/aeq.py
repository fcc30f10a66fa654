"""Full-integer int8 with float32 I/O from a published float .tflite, by Google's ai-edge-quantizer (no TensorFlow).

Files as MediaPipe and others publish them trip the quantizer in five ways (measured on exactly these files,
../shared/research/edge-facts.md §6); `prepare` and `quantize` handle each:
1. no SignatureDef: calibration runs signature runners, so a `serving_default` one is added over the graph's I/O;
2. operator codes kept only in the old `deprecated_builtin_code` field read as ADD by the quantizer: copied into
   `builtin_code`;
3. float16 weights behind DEQUANTIZE ops are left float16: each is materialised as a float32 constant and its
   DEQUANTIZE removed (the float outputs do not change), and the float16 buffers no tensor uses any more are dropped;
4. the default calibration keeps a moving average of each image's ranges, which clipped BlazeFace's face scores:
   ranges here are the minimum and maximum over all calibration images;
5. static recipes quantize the graph's input and output by default: they are kept float32 (a QUANTIZE after the
   input, a DEQUANTIZE before each output).
Operators fed only by a custom operator's float output stay float too (see float_tail).
The quantizer's own calibration runs XNNPACK, whose results differ in the last bits between CPUs (AVX2 and AVX-512
gave other bytes): here the ranges are measured with LiteRT's reference kernels on the graph before any custom
operator (see calibration_graph) and moved to a coarse grid (zoo.convert.ranges), so the products are the same bytes on
every machine and are pinned.
"""

from __future__ import annotations

import io
import re
import warnings
from contextlib import contextmanager, redirect_stderr
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.convert import flatbuffer
from zoo.convert.compilers import Compiled, compiler_module, python_tool
from zoo.errors import CompileFailed, install_extra

if TYPE_CHECKING:
    import numpy as np

    from zoo.manifest import Artifact, Manifest

INSTALL = install_extra("quantize") + ": Google's ai-edge-quantizer at the version zoo pins, no TensorFlow needed"
SIGNATURE = "serving_default"
# how the bytes' ranges are measured, and the other path each build compares them with (margin in the build record)
KERNELS, CHECKED_AGAINST = ("reference", 1), ("xnnpack", 2)
# the entries of a compile report that enter the bytes (a pin that is not rebuilt names those that differ)
DETERMINANTS = ("tool_version", "versions", "granularity", "calibration", "calibration_samples", "ranges")
# every package whose output enters the bytes: the images' pixels (pillow, numpy), the ranges and the file
VERSIONED = ("ai-edge-quantizer", "ai-edge-litert", "numpy", "pillow", "ml_dtypes", "flatbuffers")


def find_compiler() -> tuple[str, str]:
    """(what, versions) of the quantizer; CompilerMissing otherwise."""
    return python_tool(("ai_edge_quantizer",), "ai-edge-quantizer is not installed", INSTALL,
                       ("ai-edge-quantizer", "ai-edge-litert"))


def versions() -> dict[str, str]:
    """The installed version of each package whose output enters the bytes."""
    from importlib import metadata

    return {p: metadata.version(p) for p in VERSIONED}


def prepare(data: bytes, what: str = "the model") -> bytes:
    """The float model as the quantizer can read it (fixes 1-3 of the module docstring); outputs unchanged."""
    model = flatbuffer.read(data, what)
    if len(model.subgraphs) != 1:
        raise CompileFailed(f"the model has {len(model.subgraphs)} subgraphs; zoo quantizes models of one")
    for fix in (new_operator_codes, float32_weights, serving_signature):
        fix(model)
    return flatbuffer.write(model)


def new_operator_codes(model) -> None:
    """Fix 2: each operator code's builtin in the field the quantizer reads."""
    for c in model.operatorCodes:
        c.builtinCode = flatbuffer.builtin(c)


def float32_weights(model) -> None:
    """Fix 3: every DEQUANTIZE of a float16 constant becomes a float32 constant; unused tensors and buffers go."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as fb

    sg = model.subgraphs[0]
    dequantize = flatbuffer.code(model, fb.BuiltinOperator.DEQUANTIZE)
    for op in list(sg.operators):
        source = sg.tensors[op.inputs[0]]
        if op.opcodeIndex != dequantize or source.type != fb.TensorType.FLOAT16 or model.buffers[source.buffer].data is None:
            continue
        weights = np.frombuffer(bytes(model.buffers[source.buffer].data), np.float16).astype("<f4")
        buffer = fb.BufferT()
        buffer.data = np.frombuffer(weights.tobytes(), np.uint8)
        model.buffers.append(buffer)
        sg.tensors[op.outputs[0]].buffer = len(model.buffers) - 1
        sg.operators.remove(op)
    flatbuffer.drop_unused_tensors(model)
    flatbuffer.drop_unused_buffers(model)


def serving_signature(model) -> None:
    """Fix 1: a `serving_default` signature over the graph's inputs and outputs."""
    from ai_edge_litert import schema_py_generated as fb

    sg = model.subgraphs[0]
    signature = fb.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE, 0
    signature.inputs, signature.outputs = [_entry(sg, i) for i in sg.inputs], [_entry(sg, i) for i in sg.outputs]
    model.signatureDefs = [signature]


def _entry(sg, index: int):
    from ai_edge_litert import schema_py_generated as fb

    entry = fb.TensorMapT()
    entry.name, entry.tensorIndex = flatbuffer.name(sg.tensors[index]), index
    return entry


def quantize(prepared: bytes, samples: list[dict[str, np.ndarray]], granularity: str,
             kernels: tuple[str, int] = KERNELS) -> bytes:
    """int8 weights (symmetric, per-tensor or per-channel) and activations (asymmetric) calibrated on `samples` (one
    {input name: batch} per image) along `kernels` (see calibrate), float32 graph I/O (fixes 4 and 5 of the module
    docstring)."""
    recipe = _recipe(prepared, granularity)
    return quantize_with(prepared, recipe, calibrate(prepared, samples, recipe, kernels))


def quantize_with(prepared: bytes, recipe, measured: dict) -> bytes:
    """The quantizer's product for the `measured` ranges, moved to the grid first (zoo.convert.ranges)."""
    from ai_edge_quantizer import quantizer

    from zoo.convert import ranges

    with _quietly():
        q = quantizer.Quantizer(bytearray(prepared))
        q.load_quantization_recipe(recipe.get_quantization_recipe())
        product = q.quantize(ranges.snap(measured), enable_progress_bar=False, enable_progress_report=False)
    return _named_like(bytes(product.quantized_model), prepared)


def _recipe(prepared: bytes, granularity: str):
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    recipe = recipe_manager.RecipeManager()
    recipe.add_static_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, activation_num_bits=8,
                             weight_num_bits=8, weight_granularity=qtyping.QuantGranularity.TENSORWISE
                             if granularity == "per-tensor" else qtyping.QuantGranularity.CHANNELWISE)
    for end in (qtyping.TFLOperationName.INPUT, qtyping.TFLOperationName.OUTPUT):
        recipe.add_quantization_config(regex=".*", operation_name=end, algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    tail = float_tail(prepared)
    if tail:  # the quantizer matches a regex against an operator's output names, each followed by ";"
        recipe.add_quantization_config(regex=f"^(?:{'|'.join(map(re.escape, tail))});$",
                                       operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
                                       algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    return recipe


def calibrate(prepared: bytes, samples: list[dict[str, np.ndarray]], recipe, kernels: tuple[str, int]) -> dict:
    """The quantizer's statistics (each tensor's minimum and maximum over all samples, fix 4), measured by LiteRT's
    `reference` kernels (plain loops, the same arithmetic on every x86 CPU) on calibration_graph, or by `xnnpack`
    (kernels chosen by instruction set, as the quantizer calibrates by default) on the whole graph, with the given
    number of threads. The quantizer's calibrator decides which tensors; its interpreter (XNNPACK, 16 threads) is
    replaced by ours."""
    from ai_edge_litert import interpreter as tfl
    from ai_edge_quantizer import calibrator
    from ai_edge_quantizer.utils import qsv_utils

    name, threads = kernels
    resolver = {"reference": tfl.OpResolverType.BUILTIN_REF, "xnnpack": tfl.OpResolverType.BUILTIN}[name]
    graph = calibration_graph(prepared) if name == "reference" else prepared
    with _quietly():
        ranges = calibrator.Calibrator(graph, num_threads=threads, qsv_update_func=qsv_utils.min_max_update)
        ranges._tfl_interpreter = tfl.Interpreter(model_content=graph, num_threads=threads,
                                                  experimental_op_resolver_type=resolver,
                                                  experimental_preserve_all_tensors=True)
        ranges._tfl_interpreter.allocate_tensors()
        ranges.calibrate({SIGNATURE: samples}, recipe)
    return ranges.get_model_qsvs()


def calibration_graph(prepared: bytes) -> bytes:
    """The prepared graph without its custom operators and every operator after them, its outputs being the tensors
    those read: what LiteRT's reference kernels can run (MediaPipe's Convolution2DTransposeBias has only an XNNPACK
    implementation). Only the float tail follows the selfie segmenter's, so no quantized operator loses its ranges."""
    from ai_edge_litert import schema_py_generated as fb

    model = flatbuffer.read(prepared)
    sg = model.subgraphs[0]
    unknown, dropped = set(), []
    for op in sg.operators:
        if flatbuffer.builtin(model.operatorCodes[op.opcodeIndex]) == fb.BuiltinOperator.CUSTOM or unknown & set(op.inputs):
            dropped.append(op)
            unknown.update(op.outputs)
    if not dropped:
        return prepared
    kept = [op for op in sg.operators if op not in dropped]
    made = {i for op in kept for i in op.outputs}
    sg.operators = kept
    sg.outputs = list(dict.fromkeys(i for op in dropped for i in op.inputs if i in made))
    flatbuffer.drop_unused_tensors(model)
    serving_signature(model)
    return flatbuffer.write(model)


@contextmanager
def _quietly():
    """The quantizer's own progress bars, its interpreter's debugging warning and LiteRT's delegate announcement are
    kept off the terminal (zoo reports the steps); anything else LiteRT prints still shows."""
    from zoo.litert import without_announcements

    with redirect_stderr(io.StringIO()), warnings.catch_warnings(), without_announcements():
        warnings.simplefilter("ignore", UserWarning)
        yield


def float_tail(prepared: bytes) -> list[str]:
    """Output names of the operators fed only by float results of custom operators (which the quantizer leaves float)
    and constants: they stay float too. Quantizing one would wrap it in a QUANTIZE and a DEQUANTIZE for nothing and
    round where the model decides (MediaPipe's selfie segmenter ends in a custom transpose convolution and a sigmoid:
    a quantized sigmoid there costs 0.1 of mask IoU)."""
    from ai_edge_litert import schema_py_generated as fb

    model = flatbuffer.read(prepared)
    sg = model.subgraphs[0]
    constant = {i for i, t in enumerate(sg.tensors) if model.buffers[t.buffer].data is not None}
    floats, names = set(), []
    for op in sg.operators:
        custom = flatbuffer.builtin(model.operatorCodes[op.opcodeIndex]) == fb.BuiltinOperator.CUSTOM
        fed = [i for i in op.inputs if i >= 0 and i not in constant]
        if custom or (fed and all(i in floats for i in fed)):
            floats.update(op.outputs)
            if not custom:
                names += [flatbuffer.name(sg.tensors[i]) for i in op.outputs]
    return names


def _named_like(product: bytes, prepared: bytes) -> bytes:
    """The quantizer names the float outputs it adds `<name>_dequant` and keeps `<name>` on the int8 tensor; the graph's
    inputs and outputs take the float model's names back (matched by name, as the manifest's outputs are), and the
    tensor that had the name becomes `<name>/quantized`."""
    model, source = flatbuffer.read(product), flatbuffer.read(prepared).subgraphs[0]
    sg = model.subgraphs[0]
    for ends, wanted in ((sg.inputs, source.inputs), (sg.outputs, source.outputs)):
        for index, original in zip(ends, wanted):
            name = flatbuffer.name(source.tensors[original])
            if flatbuffer.name(sg.tensors[index]) == name:
                continue
            for t in sg.tensors:
                if flatbuffer.name(t) == name:
                    t.name = f"{name}/quantized"
            sg.tensors[index].name = name
    return flatbuffer.write(model)


def compile(parent: Path, out_dir: Path, m: Manifest, a: Artifact, inputs: dict[str, Path]) -> Compiled:
    """`a` made from the float `parent`: prepared, calibrated on the artifact's calibration images, quantized, and
    checked on its holdout images against the float model (the task's agreement; cosine similarity of each output,
    as NXP reports it). A target whose compiler reviews files (the i.MX 8M Plus) adds its report and gates."""
    from zoo.convert import check, ranges
    from zoo.preprocess import prepare as prepare_image
    from zoo.targets import get_target
    from zoo.tflite import inspect

    _, version = find_compiler()
    settings = a.quantize
    out_dir.mkdir(parents=True, exist_ok=True)
    prepared = out_dir / f"{parent.stem}.prepared.tflite"
    data = prepare(parent.read_bytes(), parent.name)
    prepared.write_bytes(data)
    name = inspect(prepared).inputs[0].name
    samples = [{name: prepare_image(view, m.input).array[None]}
               for i in settings.calibration for view in views(inputs[i], settings.crops)]
    holdout = [prepare_image(inputs[i], m.input).array for i in settings.holdout]
    product = out_dir / a.file
    try:
        recipe = _recipe(data, settings.granularity)
        qsvs = calibrate(data, samples, recipe, KERNELS)
        product.write_bytes(quantize_with(data, recipe, qsvs))
        other = calibrate(data, samples, recipe, CHECKED_AGAINST)
    except (ValueError, RuntimeError, KeyError) as e:
        raise CompileFailed(f"ai-edge-quantizer failed: {type(e).__name__}: {str(e).strip()[:200]}") from e
    reference, candidate = check.tflite_runner(prepared), check.tflite_runner(product)
    outputs = [(reference(x), candidate(x)) for x in holdout]  # each model runs each holdout image once
    agreement = check.agreement_of(m, outputs, settings.min_agreement)
    info = inspect(product)
    report = {"compiler": "aeq", "tool_version": version, "granularity": settings.granularity,
              "calibration": _files(m, settings.calibration), "calibration_samples": len(samples),
              "holdout": _files(m, settings.holdout), "versions": versions(),
              "ranges": {"kernels": f"LiteRT {KERNELS[0]}, {KERNELS[1]} thread(s)", "grid_bits": ranges.GRID_BITS,
                         "inputs_sha256": _inputs_digest(samples), "sha256": ranges.digest(ranges.snap(qsvs))},
              "ranges_margin": {"against": f"LiteRT {CHECKED_AGAINST[0]}, {CHECKED_AGAINST[1]} thread(s)",
                                **ranges.margin(qsvs, other)},
              "agreement": agreement.detail, "cosine_similarity": _cosine(outputs, info),
              "float_ops": sorted(set(info.float_ops))}
    checks = [check.io_check(info, m, a, m.input.shape[1]), agreement]
    target = get_target(a.target).compiler
    review = getattr(compiler_module(target), "review", None) if target else None
    if review is not None:
        report["npu"], gates = review(product, settings.granularity)
        checks += gates
    return Compiled(product, report, {"name": "ai-edge-quantizer", "version": version}, checks)


def views(path: Path, crops: bool) -> list:
    """The image, and with `crops` also its four quadrants and its centre, each half its width and height."""
    from zoo.preprocess import as_image

    image = as_image(path).convert("RGB")
    if not crops:
        return [image]
    w, h = image.size
    corners = [(0, 0), (w // 2, 0), (0, h // 2), (w // 2, h // 2), (w // 4, h // 4)]
    return [image, *(image.crop((x, y, x + w // 2, y + h // 2)) for x, y in corners)]


def _inputs_digest(samples: list[dict[str, np.ndarray]]) -> str:
    """sha256 of the calibration inputs as the model reads them (decoded, cropped, resized, scaled: numpy and Pillow)."""
    from zoo.hashes import sha256_of

    return sha256_of(b"".join(name.encode() + b"\0" + sample[name].astype("<f4").tobytes()
                              for sample in samples for name in sorted(sample)))


def _files(m: Manifest, ids: list[str]) -> list[dict[str, str]]:
    return [{"id": u.id, "file": u.file, "sha256": u.sha256} for u in m.upstream if u.id in ids]


def _cosine(outputs: list[tuple], info) -> dict[str, float]:
    """Cosine similarity of each output's values between the float and the quantized model, over (float outputs,
    quantized outputs) of each image."""
    import numpy as np

    out = {}
    for k, t in enumerate(info.outputs):
        a = np.concatenate([p[0][k].ravel() for p in outputs]).astype(np.float64)
        b = np.concatenate([p[1][k].ravel() for p in outputs]).astype(np.float64)
        out[t.name] = round(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0)), 4)
    return out


def estimate(m: Manifest, artifact_id: str, compiled: Compiled) -> None:
    """The quantizer estimates no latency."""
    return None
