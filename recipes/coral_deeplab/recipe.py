"""coral-deeplab: an Edge-TPU-friendly tf.keras DeepLab v3 / v3+ with a MobileNetV2 backbone.

Written from the papers (DeepLab v3: arXiv 1706.05587; v3+: 1802.02611; MobileNetV2: 1801.04381) and
coral-deeplab's description: the backbone keeps output stride 16 by turning the last strided block
into atrous (dilated) convolutions, an ASPP head (1x1, atrous 3x3 separable branches and image
pooling) follows, v3+ adds a decoder that fuses stride-4 features, and the last upsampling to the
input size is left out (the output is logits at stride 16 for v3, 4 for v3+). Any square input size.

For fine-tuning:
    from zoo.build.recipes import recipe_module
    cdl = recipe_module("coral_deeplab")
    model = cdl.build_model("v3plus", depth_multiplier=0.5, input_size=224, classes=21)
    cdl.load_weights_h5(model, "weights.h5")     # strict: every tensor must match by name and shape
"""

from __future__ import annotations

from pathlib import Path

from zoo.build.recipes import Context, FloatSource
from zoo.errors import WeightsMismatch, ZooError

# (expansion, output channels, repeats, first stride) of MobileNetV2's inverted residual stages.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))



def _channels(c: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(c + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * c else rounded


def _conv_bn(layers, x, filters, kernel, name, stride=1, dilation=1, relu=True):
    x = layers.Conv2D(filters, kernel, strides=stride, dilation_rate=dilation, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _separable(layers, x, filters, name, dilation=1):
    x = layers.DepthwiseConv2D(3, dilation_rate=dilation, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    return _conv_bn(layers, x, filters, 1, f"{name}_pw")


def _inverted_residual(layers, x, expansion, out, stride, dilation, name):
    cin = x.shape[-1]
    y = _conv_bn(layers, x, cin * expansion, 1, f"{name}_expand") if expansion != 1 else x
    y = layers.DepthwiseConv2D(3, strides=stride, dilation_rate=dilation, padding="same", use_bias=False, name=f"{name}_dw")(y)
    y = layers.BatchNormalization(epsilon=1e-3, momentum=0.999, name=f"{name}_dw_bn")(y)
    y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
    y = _conv_bn(layers, y, out, 1, f"{name}_project", relu=False)
    return layers.Add(name=f"{name}_add")([x, y]) if stride == 1 and cin == out else y


def _backbone(layers, x, alpha: float):
    """MobileNetV2 at output stride 16: the last strided stage keeps resolution and dilates instead."""
    x = _conv_bn(layers, x, _channels(32 * alpha), 3, "stem", stride=2)
    stride, dilation, block, low_level = 2, 1, 0, None
    for expansion, channels, repeats, first_stride in STAGES:
        for i in range(repeats):
            s = first_stride if i == 0 else 1
            if s == 2 and stride == 16:
                s, dilation = 1, dilation * 2
            elif s == 2:
                stride *= 2
            x = _inverted_residual(layers, x, expansion, _channels(channels * alpha), s, dilation, f"block{block}")
            block += 1
            if stride == 4 and low_level is None and i == repeats - 1:
                low_level = x
    return x, low_level


def build_model(version: str = "v3", depth_multiplier: float = 1.0, input_size: int = 513, classes: int = 21,
                aspp_filters: int = 256, aspp_rates: tuple[int, ...] = (6, 12, 18)):
    """The Keras model: logits at stride 16 (v3) or 4 (v3plus), no final upsampling."""
    import tensorflow as tf

    layers = tf.keras.layers
    if version not in ("v3", "v3plus"):
        raise ZooError(f"unknown coral-deeplab version {version!r}", "use v3 or v3plus")
    inputs = layers.Input((input_size, input_size, 3), name="image")
    features, low_level = _backbone(layers, inputs, depth_multiplier)
    h, w = features.shape[1], features.shape[2]
    pooled = layers.AveragePooling2D((h, w), name="aspp_pool")(features)
    pooled = _conv_bn(layers, pooled, aspp_filters, 1, "aspp_pool_conv")
    pooled = layers.Resizing(h, w, interpolation="bilinear", name="aspp_pool_up")(pooled)
    branches = [pooled, _conv_bn(layers, features, aspp_filters, 1, "aspp_1x1")]
    branches += [_separable(layers, features, aspp_filters, f"aspp_r{r}", dilation=r) for r in aspp_rates]
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = _conv_bn(layers, x, aspp_filters, 1, "aspp_project")
    if version == "v3plus":
        lh, lw = low_level.shape[1], low_level.shape[2]
        x = layers.Resizing(lh, lw, interpolation="bilinear", name="decoder_up")(x)
        skip = _conv_bn(layers, low_level, 48, 1, "decoder_skip")
        x = layers.Concatenate(name="decoder_concat")([x, skip])
        x = _separable(layers, x, aspp_filters, "decoder_conv1")
        x = _separable(layers, x, aspp_filters, "decoder_conv2")
    outputs = layers.Conv2D(classes, 1, name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=f"coral_deeplab{version}")


def _key(name: str) -> str:
    return name.removesuffix(":0")


def save_weights_h5(model, path: Path) -> None:
    """Write the weights in the Keras 2 HDF5 layout (layer groups, `weight_names` attributes)."""
    import h5py

    with h5py.File(path, "w") as f:
        names = []
        for layer in model.layers:
            if not layer.weights:
                continue
            names.append(layer.name)
            group = f.create_group(layer.name)
            weight_names = [f"{w.path}:0" for w in layer.weights]
            group.attrs["weight_names"] = [n.encode() for n in weight_names]
            for n, w in zip(weight_names, layer.weights):
                group.create_dataset(n, data=w.numpy())
        f.attrs["layer_names"] = [n.encode() for n in names]


def load_weights_h5(model, path: Path) -> None:
    """Load a Keras 2 HDF5 weights file only if every tensor matches the model by name and shape."""
    import h5py

    stored = {}
    with h5py.File(path, "r") as f:
        for layer in f.attrs.get("layer_names", []):
            group = f[layer.decode() if isinstance(layer, bytes) else layer]
            for n in group.attrs.get("weight_names", []):
                n = n.decode() if isinstance(n, bytes) else n
                stored[_key(n)] = group[n][()]
    wanted = {w.path: w for w in model.weights}
    missing = sorted(set(wanted) - set(stored))
    extra = sorted(set(stored) - set(wanted))
    shapes = sorted(k for k in set(wanted) & set(stored) if tuple(wanted[k].shape) != stored[k].shape)
    if missing or extra or shapes:
        parts = [f"{len(missing)} missing (e.g. {', '.join(missing[:3])})" if missing else "",
                 f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})" if extra else "",
                 f"{len(shapes)} of another shape (e.g. {shapes[0]}: file {stored[shapes[0]].shape}, "
                 f"model {tuple(wanted[shapes[0]].shape)})" if shapes else ""]
        raise WeightsMismatch(f"{path} does not match the model: " + "; ".join(p for p in parts if p),
                              "nothing was loaded; the file must hold exactly this architecture's tensors")
    for k, w in wanted.items():
        w.assign(stored[k])


def prepare(ctx: Context) -> FloatSource:
    import tensorflow as tf

    version = ctx.options.get("version", "v3")
    stride = int(ctx.options.get("output_stride", 16 if version == "v3" else 4))
    if stride != (16 if version == "v3" else 4):
        raise ZooError(f"coral-deeplab {version} outputs at stride {16 if version == 'v3' else 4}, not {stride}")
    model = build_model(version, float(ctx.options.get("depth_multiplier", 1.0)), ctx.input_size,
                        len(ctx.manifest.classes.labels))
    if ctx.upstream is not None:
        load_weights_h5(model, ctx.upstream)

    def make_converter():
        return tf.lite.TFLiteConverter.from_keras_model(model)

    forward = tf.function(lambda batch: model(batch, training=False),
                          input_signature=[tf.TensorSpec([1, ctx.input_size, ctx.input_size, 3], tf.float32)])

    def predict(x):
        return forward(x[None]).numpy()

    return FloatSource(make_converter, predict, {"version": version, "output_stride": stride, "weights": ctx.weights,
                                        "parameters": int(model.count_params())})
