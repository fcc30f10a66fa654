"""The tensors a manifest describes: the image input with its preprocessing, and the outputs. Below the schema and
the tasks, which both read them (zoo/manifest.py, zoo/tasks/)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from zoo.schema import PositiveInt, Strict

DType = Literal["float32", "float16", "int8", "uint8", "int16", "int32", "int64"]


class Preprocessing(Strict):
    """How an app turns an image into the model's float input: resize, then float = (pixel - mean) * scale."""

    resize: Literal["stretch", "pad", "letterbox"] = Field(
        description="stretch: resize to the input size ignoring aspect; pad: scale the longer side to the input size "
        "keeping aspect, then pad bottom/right with pad_value; letterbox: the same, centred (padding on both sides)")
    resize_method: Literal["pillow-bilinear", "tflite-bilinear", "corner-bilinear", "libyuv-bilinear", "opencv-bilinear",
                           "nearest"] = Field(
        default="pillow-bilinear", description="pillow-bilinear: Pillow's bilinear filter (it smooths when shrinking); "
        "tflite-bilinear: LiteRT's RESIZE_BILINEAR with half-pixel centres, truncated to uint8 (libcoral's tests); "
        "corner-bilinear: bilinear sampling with the pixel corners aligned, rounded to uint8 (OpenCV's warp as "
        "MediaPipe's ImageToTensorCalculator uses it); libyuv-bilinear: libyuv's ARGBScale bilinear (TFLite Support's "
        "Task Library); opencv-bilinear: OpenCV's cv2.resize INTER_LINEAR (NXP's eIQ examples); nearest: nearest neighbour")
    pad_value: float | None = None
    mean: list[float] = Field(min_length=1)
    scale: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _pad_needs_value(self) -> Preprocessing:
        if self.resize != "stretch" and self.pad_value is None:
            raise ValueError(f"resize {self.resize!r} needs a pad_value")
        if len(self.mean) != len(self.scale):
            raise ValueError("mean and scale must have the same length")
        return self


class Input(Strict):
    name: str | None = Field(default=None, description="the tensor's name in the model, where it has a useful one")
    shape: list[PositiveInt] = Field(min_length=3)
    layout: Literal["NHWC", "NCHW", "NHW"] = Field(description="NHW: one channel and no channel axis (e.g. 1x28x28)")
    color_order: Literal["RGB", "BGR", "GRAY"]
    dtype: DType = Field(description="dtype of the preprocessed tensor; quantized artifacts state their own")
    preprocessing: Preprocessing

    @model_validator(mode="after")
    def _layout(self) -> Input:
        rank = 3 if self.layout == "NHW" else 4
        if len(self.shape) != rank:
            raise ValueError(f"a {self.layout} input has {rank} dimensions, the shape has {len(self.shape)}")
        channels = 1 if self.layout == "NHW" else self.shape[1 if self.layout == "NCHW" else 3]
        if (channels == 1) != (self.color_order == "GRAY") or channels not in (1, 3):
            raise ValueError(f"{channels} channel(s) cannot be {self.color_order}: RGB and BGR have 3, GRAY has 1")
        if len(self.preprocessing.mean) not in (1, channels):
            raise ValueError(f"preprocessing has {len(self.preprocessing.mean)} mean values for {channels} channel(s)")
        return self


class Output(Strict):
    name: str | None = Field(default=None, description="the tensor's name in the model; outputs are matched by name "
                             "when it is given, else by position")
    shape: list[PositiveInt] = Field(min_length=1)
    kind: str = Field(description="what the tensor holds, one of the kinds the model's task reads (zoo/tasks/)")
    output_stride: PositiveInt | None = None
