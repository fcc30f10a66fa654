"""Edits of a .tflite file through LiteRT's own flatbuffer object API (ai_edge_litert.schema_py_generated and
tools.flatbuffer_utils), whose writer gives the same bytes for the same model on every run."""

from __future__ import annotations


def read(data: bytes, what: str = "the model"):
    """The model object of a .tflite file's bytes; InvalidModel in one line for bytes that are not one (LiteRT's
    reader trusts its input: a PNG gives a TypeError, a damaged offset a struct.error)."""
    import struct

    from ai_edge_litert.tools import flatbuffer_utils

    from zoo.errors import InvalidModel
    from zoo.tflite import check_bytes

    check_bytes(data, what)
    try:
        return flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    except (struct.error, TypeError, ValueError, IndexError, UnicodeDecodeError, RecursionError) as e:
        raise InvalidModel(f"{what} is a damaged TFLite model ({type(e).__name__}: {e})") from None


def write(model) -> bytes:
    from ai_edge_litert.tools import flatbuffer_utils

    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def builtin(code) -> int:
    """An operator code's builtin operator: old files keep it only in `deprecated_builtin_code` (which caps at 127)."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def code(model, op: int, add: bool = False) -> int | None:
    """The operator-code index of builtin `op` (added when asked for and missing), reading the old and the new field."""
    from ai_edge_litert import schema_py_generated as fb

    for i, c in enumerate(model.operatorCodes):
        if builtin(c) == op:
            return i
    if not add:
        return None
    c = fb.OperatorCodeT()
    c.builtinCode, c.deprecatedBuiltinCode, c.version = op, min(op, 127), 1
    model.operatorCodes.append(c)
    return len(model.operatorCodes) - 1


def drop_unused_tensors(model) -> None:
    """Remove the tensors of the first subgraph that no operator, graph end or signature uses any more, and renumber
    the rest (signature entries of removed tensors go too)."""
    sg = model.subgraphs[0]
    used = sorted({*sg.inputs, *sg.outputs, *(i for op in sg.operators for i in (*op.inputs, *op.outputs) if i >= 0)})
    new = {old: i for i, old in enumerate(used)}
    sg.tensors = [sg.tensors[i] for i in used]
    sg.inputs, sg.outputs = [new[i] for i in sg.inputs], [new[i] for i in sg.outputs]
    for op in sg.operators:
        op.inputs = [new[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [new[i] for i in op.outputs]
    for sig in model.signatureDefs or []:
        sig.inputs = [m for m in sig.inputs or [] if m.tensorIndex in new]
        sig.outputs = [m for m in sig.outputs or [] if m.tensorIndex in new]
        for m in (*sig.inputs, *sig.outputs):
            m.tensorIndex = new[m.tensorIndex]


def drop_unused_buffers(model) -> None:
    """Remove the buffers no tensor or metadata entry points at (buffer 0, the empty sentinel, stays), renumbering."""
    keep = {0, *(t.buffer for sg in model.subgraphs for t in sg.tensors), *(m.buffer for m in model.metadata or [])}
    new = {old: i for i, old in enumerate(sorted(keep))}
    model.buffers = [model.buffers[i] for i in sorted(keep)]
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = new[t.buffer]
    for m in model.metadata or []:
        m.buffer = new[m.buffer]


def name(tensor) -> str:
    """A tensor's name as text (the object API gives bytes)."""
    return tensor.name.decode() if isinstance(tensor.name, bytes) else tensor.name
