"""The manifest schema: one YAML file per model, strict (unknown fields are errors).

Every input and every output is described (several outputs allowed); what the outputs mean for the model's task is
its `head`, whose shape the task defines (zoo/tasks/). Lineage is explicit: every artifact names its `parent` (an
upstream input or another artifact) and the `recipe` that rebuilds it, so upstream -> float -> int8 -> edgetpu can be
followed in the file. Schema version 1 manifests (one input, one segmentation output, `classes`) still load: they
are migrated in memory (migrate_v1).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from zoo import sources
from zoo.errors import ManifestInvalid, shown
from zoo.schema import PositiveInt, Strict
from zoo.targets import COMPILERS, TARGETS, Compiler, get_target
from zoo.tasks import TASKS, get_task
from zoo.tensors import DType, Input, Output

SCHEMA_VERSION = 2
MAX_BYTES = 1 << 20
"""A manifest is a few kilobytes; a larger file is refused before it is parsed (memory, time)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,99}")
_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MD5 = re.compile(r"[0-9a-f]{32}")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML without aliases (an alias bomb expands without bound once printed) and without duplicate keys."""

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(None, None, "YAML aliases (*name) are not allowed in manifests", node.start_mark)
        return super().construct_object(node, deep)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {shown(key.value, 60)}", key.start_mark)
                seen.add(key.value)
        return super().construct_mapping(node, deep)


def _name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{shown(value, 60)} is not a valid name: use up to 100 lowercase letters, digits, '.' and '-', "
                         "starting with a letter or digit")
    return value


def _sha256(value: str) -> str:
    if not _SHA256.fullmatch(value):
        raise ValueError(f"sha256 must be 64 lowercase hex characters, got {shown(value, 70)}")
    return value


def _md5(value: str) -> str:
    if not _MD5.fullmatch(value):
        raise ValueError(f"md5 must be 32 lowercase hex characters, got {shown(value, 40)}")
    return value


def _plain_file(value: str) -> str:
    if not _FILE.fullmatch(value) or value.startswith(".."):
        raise ValueError(f"file must be a plain file name of letters, digits and '._+-' (no folders, spaces or control "
                         f"characters, at most 255), got {shown(value, 60)}")
    return value


def _source(value: str) -> str:
    sources.parse(value)
    return value


def _target(value: str) -> str:
    if value not in TARGETS:
        raise ValueError(f"unknown target {value!r}; known targets: {', '.join(TARGETS)}")
    return value


Name = Annotated[str, AfterValidator(_name)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Md5 = Annotated[str, AfterValidator(_md5)]
FileName = Annotated[str, AfterValidator(_plain_file)]
Source = Annotated[str, AfterValidator(_source)]
TargetName = Annotated[str, AfterValidator(_target)]


class Paper(Strict):
    title: str
    url: str


class Quantization(Strict):
    scale: Annotated[float, Field(gt=0)]
    zero_point: int


class Provenance(Strict):
    """Where a figure comes from: an upstream citation, a zoo measurement with its command and date, or a
    compiler's estimate with the tool, options and date (never mixed up with measured figures)."""

    source: Literal["upstream", "measured", "estimated"]
    citation: str | None = None
    command: str | None = None
    date: Annotated[dt.date, Field(strict=False)] | None = Field(default=None, description="YYYY-MM-DD (a YAML date or a string)")

    @model_validator(mode="after")
    def _provenance(self) -> Provenance:
        if self.source == "upstream" and not self.citation:
            raise ValueError("an upstream figure needs a citation")
        if self.source in ("measured", "estimated") and (not self.command or self.date is None):
            raise ValueError(f"a{'n' if self.source == 'estimated' else ''} {self.source} figure needs the command and the date")
        return self


class Flops(Strict):
    ops: Annotated[float, Field(gt=0)]
    multiply_adds: Annotated[float, Field(gt=0)] | None = None
    citation: str


class Parameters(Strict):
    count: PositiveInt
    citation: str


class Metric(Provenance):
    name: str
    value: float
    unit: Literal["%", "ratio"] = "%"
    dataset: str
    split: str
    applies_to: str = Field(description="id of the artifact or upstream input the figure was obtained with")
    images: PositiveInt | None = None
    subset: str | None = Field(default=None, description="which part of the split, e.g. 'all 250 images'")
    tools: dict[str, str] | None = Field(default=None, description="what computed a measured figure, by package version")
    caveat: str | None = Field(default=None, description="what must stand beside the figure")


class Benchmark(Provenance):
    device: str
    accelerator: str
    runtime: str
    threads: PositiveInt | None = None
    input_size: list[PositiveInt] = Field(min_length=2, max_length=2)
    latency_ms: Annotated[float, Field(gt=0)]
    applies_to: str | None = None
    note: str | None = None


class Build(Strict):
    """How `zoo build` makes the artifacts marked `build: true`: a recipe in recipes/ and its settings."""

    recipe: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")] = Field(description="folder in recipes/ holding recipe.py")
    upstream: str = Field(description="id of the upstream input the recipe starts from")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict, description="passed to the recipe")
    calibration_samples: PositiveInt = 100
    min_agreement: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.9, description="pixel-wise argmax agreement of int8 vs float below which a build fails")
    min_tpu_share: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None, description="share of ops an Edge TPU compile must map to the TPU")
    max_cpu_ops: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="operators an NPU compile (Vela) may leave on the CPU")


class PinnedFile(Strict):
    """A file zoo can fetch: its name, size, pins and the mirrors that serve it (tried in order)."""

    id: Name
    file: FileName
    size: PositiveInt | None = None
    sha256: Sha256 | None = None
    md5: Md5 | None = None
    sources: list[Source] = Field(default_factory=list)

    @property
    def pin(self) -> Literal["sha256", "md5", None]:
        return "sha256" if self.sha256 else "md5" if self.md5 else None


class Upstream(PinnedFile):
    """An input a recipe starts from, as its authors publish it."""

    kind: Literal["tflite", "frozen-graph-tarball", "keras-h5", "saved-model-tarball", "zip-archive", "image"]
    description: str | None = None


class Quantize(Strict):
    """How ai-edge-quantizer makes this artifact from its parent float .tflite: full-integer int8 with float32 graph
    I/O, calibrated on pinned images (image upstreams) and checked on others (the task's agreement with the float
    model). Its bytes are the same on every run, so the product is pinned like a download."""

    granularity: Literal["per-tensor", "per-channel"] = Field(
        description="weights: per-tensor for NPUs that want it (the i.MX 8M Plus), per-channel where it serves the CPU")
    calibration: list[Name] = Field(min_length=1, description="ids of the image upstreams it is calibrated on")
    holdout: list[Name] = Field(min_length=1, description="ids of the image upstreams its quality gate uses")
    crops: bool = Field(default=False, description="also calibrate on each image's four quadrants and centre at half "
                        "size, so objects appear as large as the model must score them (a face detector calibrated "
                        "on whole photos of small faces clips its face scores)")
    min_agreement: Annotated[float, Field(gt=0, le=1)] = Field(
        description="the task's agreement with the float model on the holdout images below which a build fails")


class Artifact(PinnedFile):
    """One deployable file for one target."""

    target: TargetName
    default: bool = False
    format: Literal["tflite"]
    precision: Literal["float32", "float16", "int8", "uint8"]
    input_dtype: DType
    output_dtype: DType
    input_quantization: Quantization | None = None
    outputs: list[Output] | None = Field(default=None, min_length=1,
                                         description="overrides the model's outputs when this file's differ")
    delegate: str | None = None
    parent: str | None = None
    recipe: str
    build: bool = Field(default=False, description="made by `zoo build`: from the model's build section, or from its "
                        "parent by the target's compiler or by `quantize`")
    quantize: Quantize | None = None
    compile_stats: dict[str, Any] | None = Field(default=None, description="the compiler's report, from --record")
    unpublished: str | None = Field(default=None, description="why there are no sources yet")

    @property
    def published(self) -> bool:
        return bool(self.sources)

    @property
    def is_float(self) -> bool:
        """A float file: the reference its integer siblings are compared with (zoo eval, zoo list)."""
        return self.precision in ("float32", "float16")

    @property
    def compiler(self) -> Compiler | None:
        """What makes this file from its parent: ai-edge-quantizer when it is quantized here, else the target's compiler."""
        name = "aeq" if self.quantize else get_target(self.target).compiler
        return COMPILERS[name] if name else None

    @model_validator(mode="after")
    def _publication(self) -> Artifact:
        if self.sources and self.unpublished:
            raise ValueError("an artifact with sources cannot also be marked unpublished")
        if not self.sources and not self.unpublished:
            raise ValueError("an artifact without sources must say why in 'unpublished'")
        if self.sources and self.pin is None:
            raise ValueError("a published artifact needs a sha256 (or md5 where upstream publishes only that)")
        if self.input_quantization is not None and self.input_dtype not in ("int8", "uint8", "int16"):
            raise ValueError(f"input_quantization given for a {self.input_dtype} input")
        return self


def _task(value: str) -> str:
    if value not in TASKS:
        raise ValueError(f"unknown task {value!r}; known tasks: {', '.join(TASKS)}")
    return value


class Manifest(Strict):
    schema_version: Literal[2]
    name: Name
    aliases: list[Name] = Field(default_factory=list)
    family: str
    task: Annotated[str, AfterValidator(_task)]
    description: str
    license: str
    papers: list[Paper] = Field(default_factory=list)
    homepage: str
    inputs: list[Input] = Field(min_length=1, max_length=1, description="one image input (several are not supported yet)")
    outputs: list[Output] = Field(min_length=1)
    head: dict[str, Any] = Field(description="what the outputs mean, in the shape the task defines (zoo/tasks/)")
    flops: Flops | None = Field(default=None, description="left out where upstream publishes no figure")
    parameters: Parameters | None = None
    metrics: list[Metric] = Field(default_factory=list)
    benchmarks: list[Benchmark] = Field(default_factory=list)
    upstream: list[Upstream] = Field(default_factory=list)
    build: Build | None = None
    artifacts: list[Artifact] = Field(min_length=1)
    _head: Any = PrivateAttr(default=None)

    def artifact(self, artifact_id: str) -> Artifact:
        """The artifact with this id (KeyError if none)."""
        for a in self.artifacts:
            if a.id == artifact_id:
                return a
        raise KeyError(artifact_id)

    @property
    def input(self) -> Input:
        return self.inputs[0]

    def outputs_of(self, artifact: Artifact) -> list[Output]:
        return artifact.outputs or self.outputs

    @property
    def parsed_head(self):
        """The head as the task's own model, parsed once when the manifest is validated."""
        return self._head

    @property
    def labels(self) -> list[str]:
        """Class names by class id, for tasks that have classes (else empty)."""
        return get_task(self.task).labels(self._head)

    @property
    def targets(self) -> list[str]:
        """Targets that have at least one artifact, in manifest order."""
        return list(dict.fromkeys(a.target for a in self.artifacts))

    @property
    def published_targets(self) -> list[str]:
        """Targets that have at least one artifact with sources."""
        return [t for t in self.targets if any(a.published for a in self.artifacts if a.target == t)]

    @model_validator(mode="after")
    def _cross_checks(self) -> Manifest:
        problems = list(_cross_problems(self))
        if problems:
            raise PydanticCustomError("cross_field", "{count} cross-field problem(s)", {"count": len(problems), "problems": problems})
        return self


def _cross_problems(m: Manifest):
    """Yield (field, message) for every check that spans fields."""
    ids = [f.id for f in (*m.upstream, *m.artifacts)]
    for dup, n in Counter(ids).items():
        if n > 1:
            yield "artifacts", f"id {dup!r} is used {n} times; artifact and upstream ids must be unique"
    known = set(ids)
    task = get_task(m.task)
    try:
        m._head = task.Head.model_validate(m.head)
    except ValidationError as e:
        for field, message in problems_of(e):
            yield f"head.{field}", message
        return
    for where, outputs in (("outputs", m.outputs), *((f"artifacts[{i}].outputs", a.outputs) for i, a in enumerate(m.artifacts)
                                                     if a.outputs)):
        for field, message in task.problems(outputs, m._head):
            yield f"{where}{field}", message
    archives = {u.id: u for u in m.upstream if u.kind == "zip-archive"}
    for i, f in enumerate(m.artifacts):
        for source in f.sources:
            ref = sources.parse(source)
            if isinstance(ref, sources.Member) and (ref.archive not in archives or archives[ref.archive].sha256 is None):
                yield (f"artifacts[{i}].sources", f"{source!r} names {ref.archive!r}, which is not a zip-archive upstream "
                                                  "pinned by sha256")
    for i, a in enumerate(m.artifacts):
        if a.parent is not None and (a.parent not in known or a.parent == a.id):
            yield f"artifacts[{i}].parent", f"{a.parent!r} is not another artifact or upstream id; known: {', '.join(sorted(known))}"
    yield from _cycles(m)
    for target in m.targets:
        group = [a for a in m.artifacts if a.target == target]
        defaults = [a.id for a in group if a.default]
        if len(group) > 1 and len(defaults) != 1:
            yield "artifacts", (
                f"target {target!r} has {len(group)} artifacts ({', '.join(a.id for a in group)}) "
                f"and {len(defaults)} marked default: mark exactly one 'default: true'"
            )
    for kind, items in (("metrics", m.metrics), ("benchmarks", m.benchmarks)):
        for i, item in enumerate(items):
            if item.applies_to is not None and item.applies_to not in known:
                yield f"{kind}[{i}].applies_to", f"{item.applies_to!r} is not an artifact or upstream id; known: {', '.join(sorted(known))}"
    images = {u.id for u in m.upstream if u.kind == "image" and u.sha256}
    for i, a in enumerate(m.artifacts):
        for field in ("calibration", "holdout") if a.quantize else ():
            for ref in getattr(a.quantize, field):
                if ref not in images:
                    yield (f"artifacts[{i}].quantize.{field}", f"{ref!r} is not an image upstream pinned by sha256; "
                                                               f"known: {', '.join(sorted(images)) or 'none'}")
        if a.quantize and set(a.quantize.calibration) & set(a.quantize.holdout):
            yield f"artifacts[{i}].quantize.holdout", "the holdout images must not be calibration images"
        if a.quantize and a.parent not in {x.id for x in m.artifacts}:
            yield f"artifacts[{i}].parent", "a quantized artifact names the float artifact it is made from"
    artifact_ids = {a.id for a in m.artifacts}
    built = [i for i, a in enumerate(m.artifacts) if a.build and not (a.parent in artifact_ids and a.compiler is not None
                                                                       and a.compiler.reproducible)]
    if built and m.build is None:
        yield f"artifacts[{built[0]}].build", "artifacts marked build: true need the model's build section"
    if m.build is not None and m.build.upstream not in {u.id for u in m.upstream}:
        yield "build.upstream", f"{m.build.upstream!r} is not an upstream id; known: {', '.join(u.id for u in m.upstream) or 'none'}"
    names = [m.name, *m.aliases]
    for dup, n in Counter(names).items():
        if n > 1:
            yield "aliases", f"{dup!r} appears {n} times among the name and aliases"


def _cycles(m: Manifest):
    """A parent chain that comes back to where it started (fetching would build each from the other for ever)."""
    parents = {a.id: a.parent for a in m.artifacts}
    reported: set[str] = set()
    for i, a in enumerate(m.artifacts):
        chain = [a.id]
        while (nxt := parents.get(chain[-1])) is not None and nxt != chain[-1] and nxt not in chain:
            chain.append(nxt)
        if nxt == a.id and len(chain) > 1 and not reported & set(chain):
            reported.update(chain)
            yield f"artifacts[{i}].parent", (f"the parents form a cycle ({' -> '.join([*chain, a.id])}); each artifact is "
                                             "made from one nearer its upstream")


def migrate_v1(data: dict) -> dict:
    """A schema version 1 manifest (one input, one semantic-segmentation output, `classes`) as version 2: `input` ->
    `inputs`, `output` -> `outputs`, `classes` -> `head`, an artifact's `output` -> `outputs`."""
    out = dict(data, schema_version=2)
    if "input" in out:
        out["inputs"] = [out.pop("input")]
    if "output" in out:
        out["outputs"] = [out.pop("output")]
    if "classes" in out:
        out["head"] = out.pop("classes")
    if isinstance(out.get("artifacts"), list):
        out["artifacts"] = [{**{k: v for k, v in a.items() if k != "output"}, "outputs": [a["output"]]}
                            if isinstance(a, dict) and "output" in a else a for a in out["artifacts"]]
    return out


def _field(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(manifest)"


def _schema_fields(cls: type[BaseModel] = Strict) -> set[str]:
    names = set(cls.model_fields)
    for sub in cls.__subclasses__():
        names |= _schema_fields(sub)
    return names


def _unknown_field(name: object) -> str:
    close = difflib.get_close_matches(str(name), _schema_fields(), n=1, cutoff=0.7)
    return f"unknown field{f'; did you mean {close[0]!r}?' if close else ''} (schema version {SCHEMA_VERSION})"


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    """Flatten a pydantic error into (field, message) pairs, cross-field problems included."""
    out = []
    for err in error.errors():
        if err["type"] == "cross_field":
            out.extend(err["ctx"]["problems"])
        elif err["type"] == "extra_forbidden":
            out.append((_field(err["loc"]), _unknown_field(err["loc"][-1])))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            out.append((_field(err["loc"]), msg))
    return out


def parse(data: object, path: str) -> Manifest:
    """Validate already-loaded YAML data; ManifestInvalid names the path, each field and its problem."""
    if not isinstance(data, dict):
        raise ManifestInvalid(path, [("(manifest)", f"expected a mapping at the top level, got {type(data).__name__}")])
    if data.get("schema_version") == 1:
        if data.get("task") != "semantic-segmentation":
            raise ManifestInvalid(path, [("schema_version", "version 1 described semantic segmentation only; write "
                                          "version 2 (inputs, outputs, head: see `zoo init` and the bundled manifests)")])
        data = migrate_v1(data)
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        raise ManifestInvalid(path, problems_of(e)) from None


def load_bytes(data: bytes, path: str) -> Manifest:
    """Validate a manifest from untrusted bytes: at most MAX_BYTES of UTF-8 YAML, no aliases or duplicate keys."""
    if len(data) > MAX_BYTES:
        raise ManifestInvalid(path, [("(manifest)", f"too large for a manifest (more than {MAX_BYTES:,} bytes)")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestInvalid(path, [("(manifest)", f"not UTF-8 text (byte {data[e.start]:#04x} at offset {e.start})")]) from None
    try:
        loaded = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(manifest)"
        raise ManifestInvalid(path, [(where, f"not valid YAML: {getattr(e, 'problem', None) or e}")]) from None
    return parse(loaded, path)


def load(path: Path) -> Manifest:
    """Read and validate one manifest file."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ManifestInvalid(str(path), [("(manifest)", f"cannot read: {e.strerror}")]) from None
    return load_bytes(data, str(path))
