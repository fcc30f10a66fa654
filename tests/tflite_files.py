"""Small .tflite flatbuffers written here with LiteRT's own schema (ai_edge_litert.schema_py_generated): graphs zoo
reads but never runs, shaped to be hostile (a million tensors, a class count of 2^31-1) or to be one kind of model."""

from __future__ import annotations


def tflite(tensors: list[tuple[str, list[int], str]], ops: list[tuple[str, list[int], list[int]]], inputs: list[int],
           outputs: list[int], extra_tensors: int = 0) -> bytes:
    """A one-subgraph model: tensors as (name, shape, dtype), ops as (builtin name, input ids, output ids), the graph's
    input and output ids, and `extra_tensors` empty tensors listed after them (used by nothing)."""
    from ai_edge_litert import schema_py_generated as fb
    from ai_edge_litert.tools import flatbuffer_utils

    model = fb.ModelT()
    model.version, model.buffers = 3, [fb.BufferT()]
    names = list(dict.fromkeys(op for op, _, _ in ops))
    model.operatorCodes = []
    for name in names:
        code = fb.OperatorCodeT()
        code.builtinCode = getattr(fb.BuiltinOperator, name)
        code.deprecatedBuiltinCode, code.version = min(code.builtinCode, 127), 1
        model.operatorCodes.append(code)
    graph = fb.SubGraphT()
    graph.tensors = []
    for name, shape, dtype in tensors:
        t = fb.TensorT()
        t.name, t.shape, t.type = name, list(shape), getattr(fb.TensorType, dtype.upper())
        graph.tensors.append(t)
    graph.tensors += [fb.TensorT() for _ in range(extra_tensors)]
    graph.operators = []
    for name, ins, outs in ops:
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = names.index(name), ins, outs
        graph.operators.append(op)
    graph.inputs, graph.outputs = inputs, outputs
    model.subgraphs = [graph]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def classifier(classes: int) -> bytes:
    """An image classifier's graph: 1x8x8x3 float in, 1 x `classes` scores out (after a SOFTMAX)."""
    return tflite([("image", [1, 8, 8, 3], "float32"), ("logits", [1, classes], "float32"), ("scores", [1, classes], "float32")],
                  [("FULLY_CONNECTED", [0], [1]), ("SOFTMAX", [1], [2])], [0], [2])


def one_channel_probability() -> bytes:
    """A runnable segmenter of one class: a 1x8x8x1 greyscale input through a LOGISTIC, each pixel's own score."""
    return tflite([("image", [1, 8, 8, 1], "float32"), ("mask", [1, 8, 8, 1], "float32")], [("LOGISTIC", [0], [1])], [0], [1])


def argmax_segmenter(channels: int) -> bytes:
    """DeepLab's ending: per-class logits (1x8x8x`channels`) into an ARG_MAX whose class ids (1x8x8) are the output."""
    return tflite([("image", [1, 8, 8, 3], "float32"), ("logits", [1, 8, 8, channels], "float32"), ("axis", [], "int32"),
                   ("ArgMax", [1, 8, 8], "int64")],
                  [("CONV_2D", [0], [1]), ("ARG_MAX", [1, 2], [3])], [0], [3])
