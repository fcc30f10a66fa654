"""The i.MX 8M Plus NPU, a VeriSilicon VIP behind NXP's VX delegate: which operators the delegate takes, reported like
Vela's compile report, and the rewrite that makes a quantization-aware-trained file one it takes whole.

The rules are the delegate's own (nxp-imx/tflite-vx-delegate-imx@44aab8a, op_map.cc; sourced in
../shared/research/edge-facts.md §4): the registered operators and custom operators; an operator with an int64 or
string input (BROADCAST_TO aside), more than 6 dimensions, a 0 dimension or a height/width over 65535, or an int16 or
int64 output is rejected; and each operator's own constraints (hybrid convolutions, per-channel QUANTIZE/DEQUANTIZE at
a float edge, non-constant resize sizes, unquantized 8-bit resizes, dynamic shapes, ...). The delegate takes the
supported operators as partitions: a run of supported operators that no rejected one separates is one partition.

The rewrite is lossless. Google's quantization-aware-trained files are uint8, asymmetric and per-tensor throughout;
the one thing the delegate cannot take in DeepLab is the final ARG_MAX (its output is int64). The rewrite removes it,
so the model ends in the logits and the class decision happens after the NPU, and gives the graph float32 input and
output through a QUANTIZE after the input and a DEQUANTIZE before each output, with the tensors' own quantization
parameters: no weight, scale or operator of the parent changes. The bytes are LiteRT's own flatbuffer writer's
(ai_edge_litert.tools.flatbuffer_utils), identical run to run for the same parent and versions, so the product is
pinned like a download.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

from zoo.convert import flatbuffer
from zoo.convert.compilers import Compiled, python_tool
from zoo.convert.record import Check
from zoo.errors import CompileFailed, install_extra
from zoo.tflite import ModelInfo, OpInfo, TensorInfo, inspect

if TYPE_CHECKING:
    from zoo.manifest import Artifact, Manifest

RULES = "nxp-imx/tflite-vx-delegate-imx@44aab8a op_map.cc"
INSTALL = install_extra("imx8mp") + ": ai-edge-litert's flatbuffer tools at the versions zoo pins"
# the entries of a compile report that enter the bytes (a pin that is not rebuilt names those that differ)
DETERMINANTS = ("tool_version",)
REGISTERED = frozenset("""ABS ADD ADD_N ARG_MAX ARG_MIN AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BIDIRECTIONAL_SEQUENCE_LSTM BIDIRECTIONAL_SEQUENCE_RNN BROADCAST_TO CAST CONCATENATION CONV_2D CONV_3D DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FLOOR FLOOR_DIV FULLY_CONNECTED GATHER
GATHER_ND GELU GREATER GREATER_EQUAL HARD_SWISH HASHTABLE_LOOKUP L2_NORMALIZATION LEAKY_RELU LESS LESS_EQUAL
LOCAL_RESPONSE_NORMALIZATION LOG LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD
MUL NEG NOT_EQUAL ONE_HOT PACK PAD POW PRELU QUANTIZE REDUCE_ANY REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6
RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR REVERSE_V2 RNN RSQRT SCATTER_ND SELECT SELECT_V2 SHAPE
SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE
SUB SUM TANH TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNIDIRECTIONAL_SEQUENCE_RNN UNPACK
vsi-npu WRNN_BIDI_SEQGRU""".split())
_WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_3D"}
_UNQUANTIZED_8BIT = {"RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPLIT", "SPLIT_V", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE"}
_STATIC_SHAPES = {"RESHAPE", "PAD", "TRANSPOSE", "SLICE", "TRANSPOSE_CONV", "ARG_MAX", "SPLIT", "SPLIT_V"}


@dataclass
class VxReport:
    """Where each operator runs with NXP's VX delegate, how many partitions it takes, and how the file is quantized."""

    operators: int
    npu_ops: int
    cpu_ops: int
    cpu_operators: list[dict[str, str]] = field(default_factory=list)
    partitions: int = 0
    per_tensor: int = 0
    per_channel: int = 0
    int64_tensors: int = 0
    float_ops: list[str] = field(default_factory=list)
    rules: str = RULES
    tool_version: str = ""

    def to_dict(self) -> dict:
        return {"compiler": "vx", **asdict(self)}

    def gates(self) -> list[Check]:
        """What zoo asks of an i.MX 8M Plus file: every operator on the NPU, in one partition (the delegate's graph
        cache is one file per path, so a split graph goes undetected), per-tensor only, no int64 tensor, and floats
        only at the edges (QUANTIZE/DEQUANTIZE)."""
        why = "; ".join(f"{o['op']} ({o['reason']})" for o in self.cpu_operators) or "none"
        return [Check("npu-ops", self.cpu_ops == 0, f"{self.npu_ops} of {self.operators} operator(s) delegated; on the CPU: {why}"),
                Check("partitions", self.partitions == 1, f"{self.partitions} delegated partition(s)"),
                Check("per-tensor", self.per_channel == 0, f"{self.per_tensor} per-tensor and {self.per_channel} per-channel "
                                                           "quantized tensor(s)"),
                Check("no-int64", self.int64_tensors == 0, f"{self.int64_tensors} int64 tensor(s)"),
                Check("integer-only", not self.float_ops, "every compute op is integer" if not self.float_ops
                      else f"float compute ops: {', '.join(sorted(set(self.float_ops)))}")]


def rejection(op: OpInfo, tensors: list[TensorInfo]) -> str | None:
    """Why the VX delegate leaves `op` to the CPU, or None when it takes it."""
    if op.name not in REGISTERED:
        return "unsupported operator" if op.name.isupper() else f"custom operator {op.name!r} is not the delegate's"
    ins = [tensors[i] if i >= 0 else None for i in op.input_ids]
    outs = [tensors[i] for i in op.output_ids]
    for t in filter(None, ins):
        if t.dtype == "int64" and op.name != "BROADCAST_TO":
            return "int64 input"
        if t.dtype == "string":
            return "string input"
        if len(t.shape) > 6:
            return "more than 6 dimensions"
        if 0 in t.shape:
            return "a dimension of 0"
        if any(d > 65535 for d in t.shape[1:]):
            return "height or width over 65535"
    for t in outs:
        if t.dtype in ("int16", "int64"):
            return f"{t.dtype} output"
        if 0 in t.shape:
            return "a dimension of 0"
    return _op_rule(op.name, ins, outs)


def _op_rule(name: str, ins: list[TensorInfo | None], outs: list[TensorInfo]) -> str | None:
    first, out = ins[0], outs[0] if outs else None
    if name == "DEQUANTIZE" and out is not None and out.dtype == "float32":
        if first.dtype in ("int16", "float16") and first.quantized:
            return "asymmetric int16/float16 input to a float32 output"
        if first.dtype in ("int8", "uint8") and first.per_channel:
            return "per-channel int8/uint8 input to a float32 output"
    if name == "QUANTIZE" and out is not None:
        if first.dtype == "float32" and out.dtype in ("int8", "uint8") and out.per_channel:
            return "float32 input to a per-channel int8/uint8 output"
        if first.dtype in ("int16", "int32") and first.quantized and out.dtype in ("int8", "uint8", "int32"):
            return f"quantized {first.dtype} input to {out.dtype}"
    if name in _WEIGHTED and len(ins) > 1 and ins[1] is not None and first.dtype != ins[1].dtype:
        return "hybrid: input and weights of different types (a dynamic-range model)"
    if name == "FULLY_CONNECTED" and first.dtype == "int16":
        return "int16 input"
    if name.startswith("RESIZE_") and (len(ins) < 2 or ins[1] is None or not ins[1].constant):
        return "its size is not a constant"
    if name in _UNQUANTIZED_8BIT and first.dtype in ("int8", "uint8") and not first.quantized:
        return "an 8-bit input without quantization"
    if name in _STATIC_SHAPES and any(-1 in t.signature for t in (*filter(None, ins), *outs)):
        return "a dynamic shape"
    if name == "RESHAPE" and len(ins) == 2 and ins[1] is not None and not ins[1].constant:
        return "its shape is not a constant"
    if name == "STRIDED_SLICE" and not all(t is not None and t.constant for t in ins[1:4]):
        return "begin, end or strides are not constants"
    if name in ("SELECT", "SELECT_V2") and ("bool" in {t.dtype for t in ins[1:] if t} or out.dtype == "bool"):
        return "a bool input or output"
    if name == "CAST" and {first.dtype, out.dtype} & {"complex64", "uint16", "uint32"}:
        return f"a cast between {first.dtype} and {out.dtype}"
    return None


def partitions(info: ModelInfo, supported: list[bool]) -> int:
    """How many delegated partitions the graph splits into: a supported operator joins its producers' partition unless
    a rejected operator lies between them (TFLite's partitioning of a delegate's nodes, by dependency level)."""
    producer = {t: i for i, op in enumerate(info.ops) for t in op.output_ids}
    level = []
    for i, op in enumerate(info.ops):
        here = 0
        for t in op.input_ids:
            p = producer.get(t)
            if p is not None:
                here = max(here, level[p] + (supported[p] != supported[i]))
        level.append(here)
    return len({level[i] for i, ok in enumerate(supported) if ok})


def report(path: Path) -> VxReport:
    """The delegate's verdict on every operator of a .tflite file (no LiteRT and no NPU needed)."""
    info = inspect(path)
    reasons = [rejection(op, info.tensors) for op in info.ops]
    supported = [r is None for r in reasons]
    quantized = [t for t in info.tensors if t.quantized]
    return VxReport(
        operators=len(info.ops), npu_ops=sum(supported), cpu_ops=len(info.ops) - sum(supported),
        cpu_operators=[{"op": op.name, "output": info.tensors[op.output_ids[0]].name if op.output_ids else "", "reason": r}
                       for op, r in zip(info.ops, reasons) if r is not None],
        partitions=partitions(info, supported), per_tensor=sum(not t.per_channel for t in quantized),
        per_channel=sum(t.per_channel for t in quantized), int64_tensors=sum(t.dtype == "int64" for t in info.tensors),
        float_ops=info.float_ops)


def find_compiler() -> tuple[str, str]:
    """(what, version) of the rewrite's tools: LiteRT's flatbuffer schema and writer; CompilerMissing otherwise."""
    return python_tool(("ai_edge_litert.tools.flatbuffer_utils", "ai_edge_litert.schema_py_generated"),
                       "ai-edge-litert's flatbuffer tools are not installed", INSTALL, ("ai-edge-litert", "flatbuffers"))


def rewrite(parent: Path, out: Path) -> Path:
    """The parent without its trailing ARG_MAX, with float32 I/O around its own quantization (see the module docstring).
    CompileFailed when the parent's graph input or an output is not quantized (nothing to rewrite around)."""
    from ai_edge_litert import schema_py_generated as fb

    model = flatbuffer.read(parent.read_bytes(), parent.name)
    if len(model.subgraphs) != 1:
        raise CompileFailed(f"{parent.name} has {len(model.subgraphs)} subgraphs; the rewrite handles one")
    sg = model.subgraphs[0]
    argmax = flatbuffer.code(model, fb.BuiltinOperator.ARG_MAX)
    for k, out_index in enumerate(sg.outputs):
        op = next((o for o in sg.operators if out_index in o.outputs), None)
        if op is not None and op.opcodeIndex == argmax:
            sg.outputs[k] = op.inputs[0]
            sg.operators.remove(op)
    for index in list(sg.inputs):
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = flatbuffer.code(model, fb.BuiltinOperator.QUANTIZE, add=True), [_float_twin(sg, index, parent)], [index]
        sg.inputs[sg.inputs.index(index)] = op.inputs[0]
        sg.operators.insert(0, op)
    for k, index in enumerate(list(sg.outputs)):
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = flatbuffer.code(model, fb.BuiltinOperator.DEQUANTIZE, add=True), [index], [_float_twin(sg, index, parent)]
        sg.outputs[k] = op.outputs[0]
        sg.operators.append(op)
    flatbuffer.drop_unused_tensors(model)  # the ARG_MAX's int64 output and its axis; their buffers stay
    out.write_bytes(flatbuffer.write(model))
    return out


def _float_twin(sg, index: int, parent: Path) -> int:
    """A new float32 tensor shaped like quantized tensor `index`, taking its name; returns its index."""
    from ai_edge_litert import schema_py_generated as fb

    t = sg.tensors[index]
    q = t.quantization
    if q is None or q.scale is None or len(q.scale) != 1 or t.type not in (fb.TensorType.UINT8, fb.TensorType.INT8):
        raise CompileFailed(f"{parent.name}'s tensor {t.name!r} is not 8-bit per-tensor quantized",
                            "the i.MX 8M Plus rewrite takes quantization-aware-trained (uint8 per-tensor) files")
    twin = fb.TensorT()
    twin.shape, twin.type, twin.buffer = list(t.shape), fb.TensorType.FLOAT32, 0
    name = flatbuffer.name(t)
    twin.name, t.name = name, f"{name}/quantized"  # the graph's input and outputs keep the parent's names
    if t.shapeSignature is not None:
        twin.shapeSignature = list(t.shapeSignature)
    sg.tensors.append(twin)
    return len(sg.tensors) - 1


def compile(parent: Path, out_dir: Path, m: Manifest | None = None, a: Artifact | None = None,
            inputs: dict[str, Path] | None = None) -> Compiled:
    """The rewrite of `parent` into `out_dir` (`<stem>_imx8mp.tflite`), the delegate's report on it, and its gates."""
    _, version = find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    product = rewrite(parent, out_dir / f"{parent.stem}_imx8mp.tflite")
    rep = report(product)
    rep.tool_version = version
    return Compiled(product, rep.to_dict(), {"name": "zoo i.MX 8M Plus rewrite", "version": version, "rules": RULES},
                    rep.gates())


def review(path: Path, granularity: str) -> tuple[dict, list[Check]]:
    """The delegate's report on a file another tool made for the i.MX 8M Plus, and the gates such a file must pass: no
    int64 tensor, and weights quantized as the manifest declares (`granularity`: per-tensor, which the NPU runs
    fastest, or per-channel, which it also takes, as NXP's own files are). What stays on the CPU (a custom operator, a
    float operator) is reported, not refused: the delegate hands it to the CPU."""
    rep = report(path)
    rep.tool_version = find_compiler()[1]
    gates = [c for c in rep.gates() if c.name == "no-int64"]
    if granularity == "per-tensor":
        gates += [c for c in rep.gates() if c.name == "per-tensor"]
    return rep.to_dict(), gates


def estimate(m: Manifest, artifact_id: str, compiled: Compiled) -> None:
    """The rewrite estimates no latency (only a measurement on a board tells)."""
    return None
