"""TF model zoo DeepLab frozen inference graphs (e.g. deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz).

The exported graph takes raw uint8 images (`ImageTensor`) of any size and does its own resizing and scaling;
zoo converts only the float part at the manifest's fixed input shape. Its two ends are found by structure, not
by name (names such as `sub_7` or `ResizeBilinear_2` differ between exports):
- input: the tensor the first convolution reads, i.e. the preprocessed image, (pixel / 127.5) - 1;
- output: the float tensor the final `ArgMax` reads, i.e. the logits resized to the input size. The logits
  themselves come earlier, at logits resolution (output stride 8 or 16), followed by that resize.
"""

from __future__ import annotations

from zoo.convert.recipes import Context, FloatSource
from zoo.errors import ZooError

CONVOLUTIONS = {"Conv2D", "DepthwiseConv2dNative"}


def _tensor(name: str) -> str:
    """A node input as a node name ('^x' control inputs and ':0' ports dropped)."""
    return name.lstrip("^").split(":")[0]


def endpoints(graph_def) -> tuple[str, str]:
    """(preprocessed input, input-size logits) node names of a DeepLab graph."""
    nodes = {n.name: n for n in graph_def.node}
    argmax = [n for n in graph_def.node if n.op == "ArgMax"]
    if not argmax:
        raise ZooError("the frozen graph has no ArgMax, so its logits cannot be found", "is it a DeepLab export?")
    output = _tensor(argmax[-1].input[0])
    seen: dict[str, bool] = {}

    def after_conv(name: str) -> bool:
        """Whether a convolution feeds `name` (iteratively, graphs are deep)."""
        stack = [name]
        while stack:
            current = stack[-1]
            if current in seen:
                stack.pop()
                continue
            inputs = [_tensor(i) for i in nodes[current].input if _tensor(i) in nodes]
            pending = [i for i in inputs if i not in seen]
            if pending:
                stack.extend(pending)
                continue
            seen[current] = any(nodes[i].op in CONVOLUTIONS or seen[i] for i in inputs)
            stack.pop()
        return seen[name]

    first = [n for n in graph_def.node if n.op in CONVOLUTIONS and not after_conv(_tensor(n.input[0]))]
    if not first:
        raise ZooError("the frozen graph has no convolution reading the image", "is it a DeepLab export?")
    return _tensor(first[0].input[0]), output


def prepare(ctx: Context) -> FloatSource:
    import tensorflow as tf

    if ctx.upstream is None:
        raise ZooError("the frozen-graph recipe needs its upstream tarball", "drop --weights random: this recipe has no random variant")
    name = ctx.options.get("graph", "frozen_inference_graph.pb")
    found = sorted(ctx.upstream.rglob(name))
    if not found:
        raise ZooError(f"no {name} inside the upstream archive at {ctx.upstream}")
    graph = found[0]
    graph_def = tf.compat.v1.GraphDef.FromString(graph.read_bytes())
    inp, out = endpoints(graph_def)
    shape = [1, ctx.input_size, ctx.input_size, 3]

    def make_converter():
        return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(graph), [inp], [out], {inp: shape})

    imported = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    run = imported.prune(imported.graph.get_tensor_by_name(f"{inp}:0"), imported.graph.get_tensor_by_name(f"{out}:0"))

    def predict(x):
        return run(tf.constant(x[None])).numpy()

    return FloatSource(make_converter, predict, {"graph": graph.name, "input_tensor": inp, "output_tensor": out, "input_shape": shape})
