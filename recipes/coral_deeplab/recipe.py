"""coral-deeplab: the Edge-TPU-friendly tf.keras DeepLab v3 / v3+ (MobileNetV2) of github.com/xadrianzetx/coral-deeplab.

The structure follows the upstream code at e485684 (`_encoders.py`, `_blocks.py`, `applications.py`), read for
facts and written here for Keras 3:
- MobileNetV2 with `int(alpha * C)` widths and the author's expansion widths; blocks 1, 3 and 6 stride 2, block 13
  keeps stride 1 and dilation 1, blocks 14-16 are dilated by 2: output stride 16. ReLU6 in the backbone.
- A two-branch ASPP (image pooling, then 1x1), concatenated in that order and projected to 256, with ReLU.
- v3: `logits/semantic`, a 1x1 convolution with bias, at output stride 16.
- v3+: a 48-channel 1x1 skip from `expanded_conv_3/expand/relu` (stride 4), the ASPP output resized onto it
  with align_corners=True, two full 3x3 convolutions (256, ReLU), then `logits/semantic`: output stride 4.
No final upsampling, no softmax.

Weights are the author's Keras-2 HDF5 files (full model or save_weights), read tensor by tensor with h5py. The
file's `model_config` is never read: it holds marshalled Python bytecode. Keras 3 forbids '/' in layer names, so
each layer here is named after its upstream layer with '/' written as '-'; `upstream_name` maps every weight
back, and a file loads only if every tensor matches by name and shape, both ways.

For fine-tuning: `zoo.keras_model("coral-deeplabv3plus-dm05")`, or `build_model` and `load_weights` here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from zoo.convert.recipes import Context, FloatSource
from zoo.errors import WeightsMismatch, ZooError

# Blocks 1-16 of the backbone at depth multiplier 1.0: (project, expand, stride, dilation, residual).
BLOCKS = (
    (24, 96, 2, 1, False), (24, 144, 1, 1, True),
    (32, 144, 2, 1, False), (32, 192, 1, 1, True), (32, 192, 1, 1, True),
    (64, 192, 2, 1, False), (64, 384, 1, 1, True), (64, 384, 1, 1, True), (64, 384, 1, 1, True),
    (96, 384, 1, 1, False), (96, 576, 1, 1, True), (96, 576, 1, 1, True),
    (160, 576, 1, 1, False), (160, 960, 1, 2, True), (160, 960, 1, 2, True),
    (320, 960, 1, 2, False),
)
SKIP_LAYER = "expanded_conv_3/expand/relu"
ASPP_FILTERS, SKIP_FILTERS = 256, 48
BN_EPSILON = 1e-3  # Keras 2's default, which the upstream BatchNormalization layers use
STRIDE = {"v3": 16, "v3plus": 4}


def keras_name(upstream: str) -> str:
    return upstream.replace("/", "-")


def upstream_name(layer, weight) -> str:
    """The upstream tensor name of one weight of one of zoo's layers, e.g. `expanded_conv_3/depthwise/depthwise_kernel:0`."""
    import tensorflow as tf

    var = weight.name.split("/")[-1]
    if isinstance(layer, tf.keras.layers.DepthwiseConv2D) and var == "kernel":
        var = "depthwise_kernel"
    return f"{layer.name.replace('-', '/')}/{var}:0"


@lru_cache(maxsize=1)
def _aligned_resize():
    """A layer resizing bilinearly with align_corners=True, as upstream's `tf.compat.v1.image.resize_bilinear`
    (half-pixel resizing changes a third of the argmax)."""
    import tensorflow as tf

    class AlignedResize(tf.keras.layers.Layer):
        def __init__(self, size, **kwargs):
            super().__init__(**kwargs)
            self.size = tuple(int(s) for s in size)

        def call(self, x):
            return tf.compat.v1.image.resize_bilinear(x, self.size, align_corners=True)

        def compute_output_shape(self, shape):
            return (shape[0], *self.size, shape[3])

        def get_config(self):
            return {**super().get_config(), "size": self.size}

    return AlignedResize


def build_model(version: str = "v3", depth_multiplier: float = 1.0, input_size: int = 513, classes: int = 21):
    """The float Keras model: logits at output stride 16 (v3) or 4 (v3plus) for a square `input_size`."""
    import tensorflow as tf

    if version not in STRIDE:
        raise ZooError(f"unknown coral-deeplab version {version!r}", "use v3 or v3plus")
    layers = tf.keras.layers

    def conv(x, filters, kernel, name, stride=1, bias=False):
        return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=bias, name=keras_name(name))(x)

    def bn_relu(x, name, cap=None, relu=True):
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=keras_name(f"{name}/BatchNorm"))(x)
        return layers.ReLU(cap, name=keras_name(f"{name}/relu"))(x) if relu else x

    def depthwise(x, name, stride=1, dilation=1):
        x = layers.DepthwiseConv2D(3, strides=stride, dilation_rate=dilation, padding="same", use_bias=False,
                                   name=keras_name(name))(x)
        return bn_relu(x, name, 6.0)

    width = lambda c: int(depth_multiplier * c)  # noqa: E731  (upstream's rounding, not MobileNet's multiples of 8)
    inputs = layers.Input((input_size, input_size, 3), name="image")
    x = bn_relu(conv(inputs, width(32), 3, "Conv", stride=2), "Conv", 6.0)
    x = depthwise(x, "expanded_conv/depthwise")
    x = bn_relu(conv(x, width(16), 1, "expanded_conv/project"), "expanded_conv/project", relu=False)
    skip = None
    for n, (project, expand, stride, dilation, residual) in enumerate(BLOCKS, start=1):
        name = f"expanded_conv_{n}"
        y = bn_relu(conv(x, width(expand), 1, f"{name}/expand"), f"{name}/expand", 6.0)
        if f"{name}/expand/relu" == SKIP_LAYER:
            skip = y
        y = depthwise(y, f"{name}/depthwise", stride, dilation)
        y = bn_relu(conv(y, width(project), 1, f"{name}/project"), f"{name}/project", relu=False)
        x = layers.Add(name=f"{n}_add")([x, y]) if residual else y
    size = x.shape[1:3]
    pooled = layers.AveragePooling2D(pool_size=size, strides=1, name="image_pooling-pool")(x)
    pooled = bn_relu(conv(pooled, ASPP_FILTERS, 1, "image_pooling"), "image_pooling")
    pooled = _aligned_resize()(size, name="image_pooling-resize")(pooled)
    branch0 = bn_relu(conv(x, ASPP_FILTERS, 1, "aspp0"), "aspp0")
    x = layers.Concatenate(name="aspp_concat")([pooled, branch0])
    x = bn_relu(conv(x, ASPP_FILTERS, 1, "concat_projection"), "concat_projection")
    if version == "v3plus":
        low = bn_relu(conv(skip, SKIP_FILTERS, 1, "skip_con_conv"), "skip_con_conv")
        x = _aligned_resize()(low.shape[1:3], name="aspp_resize")(x)
        x = layers.Concatenate(name="decoder_concat")([x, low])
        x = bn_relu(conv(x, ASPP_FILTERS, 3, "decoder_conv_1"), "decoder_conv_1")
        x = bn_relu(conv(x, ASPP_FILTERS, 3, "decoder_conv_2"), "decoder_conv_2")
    outputs = conv(x, classes, 1, "logits/semantic", bias=True)
    return tf.keras.Model(inputs, outputs, name=f"coral_deeplab_{version}")


def read_weights(path: Path) -> dict:
    """Every tensor of a Keras-2 HDF5 file, full model (`/model_weights`) or save_weights layout, by upstream name.

    Only `layer_names`, `weight_names` and the datasets are read; `model_config` is never touched.
    """
    import h5py

    def text(v) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    out = {}
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            for layer in map(text, root.attrs.get("layer_names", [])):
                group = root[layer]
                for name in map(text, group.attrs.get("weight_names", [])):
                    if name in out:
                        raise WeightsMismatch(f"{path} holds the tensor {name} twice", "nothing was loaded")
                    out[name] = group[name][()]
    except (OSError, KeyError) as e:
        raise WeightsMismatch(f"{path} is not a readable Keras HDF5 weights file ({e})",
                              "give a coral-deeplab .h5 (full model or save_weights) or a file zoo saved") from None
    if not out:
        raise WeightsMismatch(f"{path} holds no weights (no layer_names)", "give a coral-deeplab .h5 file")
    return out


def classes_in(weights: dict) -> int:
    """The class count a weights file was trained for (the logits' bias)."""
    bias = weights.get("logits/semantic/bias:0")
    if bias is None or bias.ndim != 1:
        raise WeightsMismatch("the weights have no logits/semantic/bias:0 vector", "give a coral-deeplab .h5 file")
    return int(bias.shape[0])


def load_weights(model, weights: dict, path: Path | str) -> None:
    """Assign every tensor, or none: each of the model's weights must be in `weights` with its shape, and back."""
    wanted = {upstream_name(layer, w): w for layer in model.layers for w in layer.weights}
    missing = sorted(set(wanted) - set(weights))
    extra = sorted(set(weights) - set(wanted))
    shapes = sorted(k for k in set(wanted) & set(weights) if tuple(wanted[k].shape) != weights[k].shape)
    if missing or extra or shapes:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})" if extra else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[0]}: file {weights[shapes[0]].shape}, "
                 f"model {tuple(wanted[shapes[0]].shape)})" if shapes else ""]
        raise WeightsMismatch(f"{path} does not match {model.name}: " + "; ".join(p for p in parts if p),
                              "nothing was loaded; the file must hold exactly this architecture's tensors")
    for name, w in wanted.items():
        w.assign(weights[name])


def save_weights(model, path: Path) -> None:
    """Write the model's weights in upstream's save_weights layout and names, so upstream code can load them too."""
    import h5py

    with h5py.File(path, "w") as f:
        names = []
        for layer in model.layers:
            if not layer.weights:
                continue
            upstream = layer.name.replace("-", "/")
            names.append(upstream)
            group = f.require_group(upstream)
            weight_names = [upstream_name(layer, w) for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for n, w in zip(weight_names, layer.weights):
                group.create_dataset(n, data=w.numpy())
        f.attrs["layer_names"] = [n.encode() for n in names]
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.x-layout (zoo)"


def model_for(options: dict, weights: Path | None, input_size: int, classes: int):
    """The float model a manifest's options describe, with `weights` (a .h5 path) loaded strictly if given."""
    version = options.get("version", "v3")
    stride = int(options.get("output_stride", STRIDE.get(version, 0)))
    if version in STRIDE and stride != STRIDE[version]:
        raise ZooError(f"coral-deeplab {version} outputs at stride {STRIDE[version]}, not {stride}")
    tensors = read_weights(weights) if weights is not None else None
    model = build_model(version, float(options.get("depth_multiplier", 1.0)), input_size,
                        classes_in(tensors) if tensors is not None else classes)
    if tensors is not None:
        load_weights(model, tensors, weights)
    return model


def prepare(ctx: Context) -> FloatSource:
    import tensorflow as tf

    model = model_for(ctx.options, ctx.upstream, ctx.input_size, len(ctx.manifest.labels))

    def make_converter():
        return tf.lite.TFLiteConverter.from_keras_model(model)

    forward = tf.function(lambda batch: model(batch, training=False),
                          input_signature=[tf.TensorSpec([1, ctx.input_size, ctx.input_size, 3], tf.float32)])

    def predict(x):
        return forward(x[None]).numpy()

    return FloatSource(make_converter, predict, {"version": ctx.options.get("version", "v3"),
                                                 "output_stride": STRIDE.get(ctx.options.get("version", "v3")),
                                                 "weights": ctx.weights, "parameters": int(model.count_params())})
