"""The recipe runner behind `zoo build`: upstream -> float model -> int8 -> checks -> Edge TPU compile -> record.

Every failure names its step. Nothing here runs on the fetch path (TensorFlow is imported by the steps).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass, field
from pathlib import Path

from zoo import archive, atomic, catalog, hashes, manifest_edit, settings
from zoo.cache import Cache
from zoo.convert import calibration, check, compiled, quantize, record
from zoo.convert.compilers import compiler_module, edgetpu
from zoo.tflite import inspect
from zoo.choice import compiled_parent, compilers_for
from zoo.convert.record import Built
from zoo.convert.recipes import Context, recipe_module
from zoo.errors import install_extra, BuildFailed, ZooError
from zoo.obtain import obtain_cached
from zoo.manifest import Artifact, Manifest
from zoo.progress import Progress



@dataclass
class Options:
    targets: list[str] = field(default_factory=list)
    out: Path = Path("build")
    calibration: str | None = None
    samples: int | None = None
    input_size: int | None = None
    weights: str = "pretrained"
    trust_upstream: bool = False
    record: bool = False
    check: bool = False
    compile_timeout: int = 600


@contextmanager
def _step(name: str):
    """Report a zoo error inside a step as BuildFailed naming the step (ZOO_DEBUG=1 shows the cause)."""
    try:
        yield
    except BuildFailed:
        raise
    except ZooError as e:
        raise BuildFailed(name, e.message, e.hint) from e


@contextmanager
def _foreign(name: str):
    """Around a recipe's or TensorFlow's own code only, which raise many kinds of errors for bad input: any of them
    is BuildFailed naming the step. zoo's own bugs outside these calls keep their tracebacks."""
    try:
        yield
    except (BuildFailed, KeyboardInterrupt):
        raise
    except ZooError as e:
        raise BuildFailed(name, e.message, e.hint) from e
    except Exception as e:
        raise BuildFailed(name, f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}",
                          "TensorFlow's own output is in the build log named above") from e


def buildable(m: Manifest, targets: list[str]) -> list[Artifact]:
    chosen = [a for a in m.artifacts if a.build and (not targets or a.target in targets)]
    if not chosen:
        have = ", ".join(f"{a.id} ({a.target})" for a in m.artifacts if a.build) or "none"
        raise BuildFailed("select", f"{m.name} has no artifact zoo builds for {', '.join(targets) or 'any target'}",
                          f"buildable: {have}")
    return chosen


def _upstream(m: Manifest, opts: Options, work: Path, progress: Progress) -> tuple[Path | None, dict]:
    """The recipe's input: fetched and verified, extracted if an archive; None for a random-weights smoke build."""
    if opts.weights == "random":
        return None, {"weights": "random"}
    if opts.weights != "pretrained":
        local = Path(opts.weights)
        if not local.is_file():
            raise BuildFailed("upstream", f"weights file {local} does not exist")
        return local, {"weights": str(local), "sha256": hashes.file_digest(local).sha256}
    up = next(u for u in m.upstream if u.id == m.build.upstream)
    if up.pin is None and not opts.trust_upstream:
        raise BuildFailed("upstream", f"{m.name}'s upstream {up.id!r} ({up.file}) has no pinned checksum",
                          "pass --trust-upstream to accept what the server sends; its sha256 is printed (and recorded with --record)")
    path, sha256 = obtain_cached(m.name, up, progress, trust_unpinned=opts.trust_upstream)
    info = {"id": up.id, "file": up.file, "sha256": sha256, "pinned_by": up.pin or "trusted (unpinned)", "sources": up.sources}
    if up.kind.endswith("tarball"):
        return archive.extract(path, work / "upstream"), info
    return path, info


def _calibration(m: Manifest, opts: Options, size: int) -> calibration.Calibration:
    count = opts.samples or m.build.calibration_samples
    if opts.calibration == "random":
        return calibration.random_noise(m.input, size, count)
    if opts.calibration is None:
        raise BuildFailed("calibration", "no calibration images given",
                          "--calibration DIR (real images, e.g. VOC2012/JPEGImages), or --calibration random for a smoke build")
    return calibration.from_directory(Path(opts.calibration), m.input, size, count)


@contextmanager
def _tensorflow_log(path: Path, progress: Progress):
    """TensorFlow and Keras print hundreds of lines (tracing "Captures", converter notes) to stdout, and absl, oneDNN
    and Python's warnings add start-up lines to stderr, from Python and from C++, differently by version and CPU; a
    build's stdout is for its results and its stderr for zoo's progress, so both file descriptors go to a log file
    beside the output, named once, and zoo's progress reaches the terminal through the progress yielded here.
    C++ INFO and WARNING lines are off unless TF_CPP_MIN_LOG_LEVEL says otherwise."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path.parent.mkdir(parents=True, exist_ok=True)
    progress.note(f"TensorFlow's own output goes to {path}")
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    terminal = open(os.dup(saved[2]), "w", encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                    errors="backslashreplace")
    with open(path, "a", encoding="utf-8") as log, terminal:
        for fd in saved:
            os.dup2(log.fileno(), fd)
        try:
            yield _Beside(progress, terminal)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            log.flush()
            if path.stat().st_size == 0:
                path.unlink()


class _Beside(Progress):
    """`progress` writing to the terminal while stderr goes to the TensorFlow log."""

    def __init__(self, progress: Progress, terminal):
        self._progress, self._terminal = progress, terminal

    def _call(self, method: str, *args) -> None:
        with redirect_stderr(self._terminal):
            getattr(self._progress, method)(*args)
            self._terminal.flush()

    def start(self, label: str, total: int | None, unit: str = "B") -> None:
        self._call("start", label, total, unit)

    def advance(self, n: int) -> None:
        self._call("advance", n)

    def restart(self) -> None:
        self._call("restart")

    def done(self) -> None:
        self._call("done")

    def message(self, text: str) -> None:
        self._call("message", text)

    def note(self, text: str) -> None:
        self._call("note", text)


def build(name: str, opts: Options, progress: Progress | None = None) -> list[Built]:
    """Run `name`'s recipe for the selected targets; returns what was built, each checked and recorded.

    What TensorFlow prints goes to `<out>/<name>.tensorflow.log` (see _tensorflow_log)."""
    return _build(name, opts, progress or Progress())


def _build(name: str, opts: Options, progress: Progress) -> list[Built]:
    entry = catalog.load().entry(name)
    m = entry.manifest
    artifacts = buildable(m, opts.targets)
    if opts.record and opts.check:
        raise BuildFailed("record", "--check compares against the manifest; it does not record")
    derived = [a for a in artifacts if compiled_parent(m, a)]
    with _step("compiler"):  # before any download: say at once what to install
        for name in sorted({c for a in derived for c in (a.compiler.name, *compilers_for(m, a))}):
            compiler_module(name).find_compiler()
    with _step("parent"):
        cache = Cache(settings.cache_dir())
        results = [compiled.build(m, a, cache, opts.out, opts.check, progress) for a in derived]
    converted = [a for a in artifacts if a not in derived]
    upstream_info: dict = {}
    if converted:
        results_converted, upstream_info = _convert(m, converted, opts, progress)
        results += results_converted
    if opts.record:
        _record(catalog.record_path(m.name), m, results, upstream_info, opts)
    return results


def _convert(m: Manifest, artifacts: list[Artifact], opts: Options, progress: Progress) -> tuple[list[Built], dict]:
    """The recipe path: upstream, float model, int8, checks, optional Edge TPU compile (needs TensorFlow)."""
    if m.build is None:
        raise BuildFailed("select", f"{m.name} has no build section: its artifacts are published as is upstream")
    if importlib.util.find_spec("tensorflow") is None:
        raise BuildFailed("setup", "TensorFlow is not installed", install_extra("build"))
    size = opts.input_size or m.input.shape[1]
    smoke = opts.weights == "random" or opts.calibration == "random" or size != m.input.shape[1]
    if opts.record and smoke:
        raise BuildFailed("record", "a smoke build (random weights or calibration, or another input size) is never recorded")
    compiler = None
    if any(a.target == "edgetpu" for a in artifacts):
        with _step("compiler"):
            compiler = edgetpu.find_compiler()
    opts.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zoo-build-") as tmp, \
            _tensorflow_log(opts.out / f"{m.name}.tensorflow.log", progress) as progress:
        work = Path(tmp)
        with _step("upstream"):
            progress.note(f"[1/6] upstream for {m.name}")
            upstream, upstream_info = _upstream(m, opts, work, progress)
        with _step("calibration"):
            calib = _calibration(m, opts, size)
        with _foreign("model"):
            progress.note(f"[2/6] float model via recipe {m.build.recipe!r} at {size}x{size}")
            source = recipe_module(m.build.recipe).prepare(
                Context(m, dict(m.build.options), upstream, size, opts.weights))
        results = [_build_one(m, a, opts, source, calib, size, smoke, work, progress, upstream_info,
                              compiler if a.target == "edgetpu" else None) for a in artifacts]
    return results, upstream_info


def _build_one(m, a, opts, source, calib, size, smoke, work, progress, upstream_info, compiler) -> Built:
    with _foreign("quantize"):
        progress.note(f"[3/6] int8 for {a.id} ({a.target}) with {a.input_dtype} input/output, {calib.count} calibration image(s)")
        model, settings_used = quantize.to_int8(source.make_converter, calib, a.input_dtype)
    quantized = work / f"{Path(a.file).stem}.tflite"
    quantized.write_bytes(model)
    progress.note(f"[4/6] checks for {a.id}")
    with _foreign("check"):
        info = inspect(quantized)
        agree = check.agreement(m, source.predict, check.tflite_runner(quantized), calib.samples, m.build.min_agreement)
        checks = [check.io_check(info, m, a, size), check.integer_check(info)]
        notes = []
        if opts.weights == "random":
            notes.append(f"agreement not checked: {agree.detail}; random weights have no stable argmax")
        else:
            checks.append(agree)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise BuildFailed("check", "; ".join(f"{c.name}: {c.detail}" for c in failed))
    stats = None
    product = quantized
    if compiler is not None:
        progress.note(f"[5/6] edgetpu_compiler {compiler[1]} on {a.id}")
        with _step("compile"):
            product, compiled = edgetpu.compile_model(quantized, work / "edgetpu", opts.compile_timeout,
                                                      bool(m.build.options.get("edgetpu_multiple_subgraphs", False)))
        stats = compiled.to_dict()
        floor = m.build.min_tpu_share
        if floor is not None and compiled.tpu_share < floor:
            raise BuildFailed("compile", f"only {compiled.tpu_ops} of {compiled.total_ops} ops map to the Edge TPU "
                                         f"({compiled.tpu_share:.0%}), under the manifest's floor of {floor:.0%}")
    if opts.check:
        compared, same_bytes = _compare(m, a, product, calib, compiler is not None, progress)
        checks += compared
        notes.append("identical bytes to the published file" if same_bytes
                     else "bytes differ from the published file (converter output is not byte-stable)")
    out = atomic.copy(product, opts.out / a.file)
    digest = hashes.file_digest(out)
    progress.note(f"[6/6] recorded {out}")
    rec = record.make(m, a, digest.sha256, digest.size, made_from={"kind": "upstream", **upstream_info},
                      tool={"name": "tensorflow", **settings_used}, checks=checks, smoke=smoke,
                      calibration=calib.describe(), compile=stats, notes=notes, input_size=size,
                      recipe={"name": m.build.recipe, "options": dict(m.build.options), **source.notes},
                      edgetpu_compiler=compiler[1] if compiler else None)
    return Built(a, out, digest.sha256, digest.size, checks, record.write_record(out.with_name(out.name + ".build.json"), rec),
                 smoke, stats, notes)


def _compare(m: Manifest, a: Artifact, product: Path, calib, compiled: bool, progress: Progress) -> tuple[list[check.Check], bool]:
    if not a.published:
        raise BuildFailed("compare", f"{m.name}/{a.id} is not published, so there is nothing to compare the rebuild with")
    with _foreign("compare"):
        reference, _ = obtain_cached(m.name, a, progress, archives=m.upstream)
        checks, same_bytes = check.compare(m, reference, product, calib.samples, m.build.min_agreement, compiled)
    failed = [c for c in checks if not c.passed]
    if failed:
        raise BuildFailed("compare", "; ".join(f"{c.name}: {c.detail}" for c in failed))
    return checks, same_bytes


def _record(path: Path, m: Manifest, results: list[Built], upstream_info: dict, opts: Options) -> None:
    changes = {b.artifact.id: {"size": b.size, "sha256": b.sha256,
                               "parent": b.artifact.parent if compiled_parent(m, b.artifact) else m.build.upstream,
                               "recipe": f"zoo build {m.name} --target {b.artifact.target}",
                               **({"compile_stats": b.compile_stats} if b.compile_stats else {})} for b in results}
    upstream = {}
    if opts.trust_upstream and upstream_info.get("pinned_by", "").startswith("trusted"):
        upstream[upstream_info["id"]] = {"sha256": upstream_info["sha256"]}
    estimates = [e for b in results if compiled_parent(m, b.artifact) and (e := compiled.estimate(m, b))]
    ids = {e["applies_to"] for e in estimates}
    manifest_edit.update_manifest(path, artifacts=changes, upstream=upstream, append={"benchmarks": estimates},
                           remove={"benchmarks": lambda b: b.get("source") == "estimated" and b.get("applies_to") in ids})
