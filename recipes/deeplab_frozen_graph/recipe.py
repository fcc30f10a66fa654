"""TF model zoo DeepLab frozen inference graphs (e.g. deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz).

The exported graph takes raw uint8 images of any size and does its own resizing; zoo converts only the
float part between the preprocessed input (`input_tensor`, e.g. sub_7: (pixel / 127.5) - 1) and the
logits upsampled to the input size (`output_tensor`, e.g. ResizeBilinear_2), at the manifest's fixed
input shape.
"""

from __future__ import annotations

from zoo.build.recipes import Context, FloatSource
from zoo.errors import ZooError


def prepare(ctx: Context) -> FloatSource:
    import tensorflow as tf

    if ctx.upstream is None:
        raise ZooError("the frozen-graph recipe needs its upstream tarball", "drop --weights random: this recipe has no random variant")
    name = ctx.options.get("graph", "frozen_inference_graph.pb")
    found = sorted(ctx.upstream.rglob(name))
    if not found:
        raise ZooError(f"no {name} inside the upstream archive at {ctx.upstream}")
    graph, inp, out = found[0], ctx.options["input_tensor"], ctx.options["output_tensor"]
    shape = [1, ctx.input_size, ctx.input_size, 3]

    def make_converter():
        return tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(str(graph), [inp], [out], {inp: shape})

    graph_def = tf.compat.v1.GraphDef.FromString(graph.read_bytes())
    imported = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    run = imported.prune(imported.graph.get_tensor_by_name(f"{inp}:0"), imported.graph.get_tensor_by_name(f"{out}:0"))

    def predict(x):
        return run(tf.constant(x[None])).numpy()

    return FloatSource(make_converter, predict, {"graph": graph.name, "input_tensor": inp, "output_tensor": out, "input_shape": shape})
