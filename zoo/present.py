"""Plain-text and JSON views of manifests and targets for the CLI (no printing here)."""

from __future__ import annotations

from collections.abc import Sequence

from zoo.manifest import Manifest
from zoo.tasks import get_task
from zoo.text import table
from zoo.targets import TARGETS


def _headline(row: dict) -> str:
    values = [f"{x['name']} {x['value']:g}{x['unit'] if x['unit'] == '%' else ''} ({x['applies_to']})" for x in row["metrics"]]
    return ", ".join(values) or "-"


def measured_text(pair: dict | None) -> str:
    """zoo's own figures in a line: the reference file's, an integer file's and the difference, and the image count."""
    if not pair:
        return "-"
    ref, other = pair["reference"], pair["int8"]
    if other is None:
        return f"{pair['name']} {ref['value']:.1f} ({ref['artifact']}), {pair['images']} img"
    return (f"{pair['name']} {ref['value']:.1f} -> {other['value']:.1f} ({pair['difference']:+.1f}), {pair['images']} img "
            f"({ref['artifact']} -> {other['artifact']})")


def list_table(rows: Sequence[dict]) -> str:
    """`zoo list`: one line per catalog row (catalog.summary); targets built on fetch marked +, unpublished ones *."""
    lines = [(r["name"], r["task"], "x".join(map(str, r["input_shape"])), r["classes"] or "-", _headline(r),
              measured_text(r.get("measured")),
              " ".join([*r["targets"]["published"], *(f"{t}+" for t in r["targets"]["built_on_fetch"]),
                        *(f"{t}*" for t in r["targets"]["unpublished"])])) for r in rows]
    return (table(("name", "task", "input", "classes", "upstream", "measured by zoo", "targets"), lines)
            + "\n(+ = pinned, built on fetch or served by a mirror; * = artifact not published yet; measured: the "
              "reference file -> an int8 file on the same small sample set, by zoo eval; zoo info NAME says how)")


def _output(o) -> str:
    return (f"{o.name + ' ' if o.name else ''}{'x'.join(map(str, o.shape))} {o.kind}"
            + (f", output stride {o.output_stride}" if o.output_stride else ""))


def describe_head(m: Manifest) -> str:
    """The head in a line, as the model's task says it."""
    return get_task(m.task).describe_head(m.parsed_head)


def _size(n: int | None) -> str:
    return "unknown" if n is None else f"{n:,} B"


def info_text(m: Manifest, path: str) -> str:
    """Everything in a manifest, in reading order."""
    p = m.input.preprocessing
    out = [
        f"{m.name}  ({', '.join(m.aliases) or 'no aliases'})",
        f"  {m.description}",
        "",
        f"family      {m.family}",
        f"task        {m.task}",
        f"license     {m.license}",
        f"homepage    {m.homepage}",
        f"manifest    {path}",
        f"input       {'x'.join(map(str, m.input.shape))} {m.input.layout} {m.input.color_order} {m.input.dtype}",
        f"preprocess  resize={p.resize} ({p.resize_method})" + (f" pad_value={p.pad_value:g}" if p.pad_value is not None else "")
        + f"; float = (pixel - {p.mean}) * {p.scale}",
        *(f"output      {_output(o)}" for o in m.outputs),
        f"head        {describe_head(m)}",
    ]
    if m.flops:
        madds = f" ({m.flops.multiply_adds:.3g} multiply-adds)" if m.flops.multiply_adds else ""
        out.append(f"flops       {m.flops.ops:.3g} ops{madds} [{m.flops.citation}]")
    if m.parameters:
        out.append(f"parameters  {m.parameters.count:,} [{m.parameters.citation}]")
    for paper in m.papers:
        out.append(f"paper       {paper.title} {paper.url}")
    out += ["", "artifacts"]
    for a in m.artifacts:
        q = f" q(scale={a.input_quantization.scale:g}, zero_point={a.input_quantization.zero_point})" if a.input_quantization else ""
        out += [
            f"  {a.id}{' (default)' if a.default else ''}: target {a.target}, {a.format} {a.precision}, "
            f"in {a.input_dtype}{q}, out {a.output_dtype} {'; '.join(_output(o) for o in m.outputs_of(a))}",
            f"    file {a.file}, size {_size(a.size)}, "
            + (f"sha256 {a.sha256}" if a.sha256 else f"md5 {a.md5} (weaker pin)" if a.md5 else "no checksum yet"),
            f"    delegate {a.delegate or 'none'}; parent {a.parent or 'none'}; recipe: {a.recipe}",
        ]
        out += [f"    source {s}" for s in a.sources] or [f"    unpublished: {a.unpublished}"]
    if m.upstream:
        out += ["", "upstream"]
        for u in m.upstream:
            pin = f"sha256 {u.sha256}" if u.sha256 else f"md5 {u.md5}" if u.md5 else "no pinned checksum"
            out.append(f"  {u.id}: {u.kind} {u.file}, {pin}")
            out += [f"    source {s}" for s in u.sources]
    if m.metrics:
        out += ["", "metrics"]
        for x in m.metrics:
            sample = f" ({x.subset})" if x.subset else f" ({x.images} images)" if x.images else ""
            out.append(f"  {x.name} {x.value:g}{x.unit if x.unit == '%' else ''} on {x.dataset} {x.split}{sample}, "
                       f"{x.applies_to}, " + _provenance(x))
            if x.caveat:
                out.append(f"    caveat: {x.caveat}")
    if m.benchmarks:
        out += ["", "benchmarks"]
        for b in m.benchmarks:
            threads = f", {b.threads} thread(s)" if b.threads else ""
            out.append(f"  {b.latency_ms:g} ms  {b.device}, {b.accelerator}{threads}, {b.runtime}, "
                       f"{b.input_size[0]}x{b.input_size[1]}, {b.applies_to or '-'}, {_provenance(b)}")
    return "\n".join(out)


def _provenance(x) -> str:
    if x.source == "upstream":
        return f"upstream: {x.citation}"
    tools = getattr(x, "tools", None)
    return f"{x.source} {x.date}: {x.command}" + (f" [{', '.join(f'{k} {v}' for k, v in tools.items())}]" if tools else "")


def targets_table() -> str:
    rows = [(t.name, t.title, t.delegate or "-", " -> ".join(t.chain()), t.install) for t in TARGETS.values()]
    return table(("target", "hardware", "delegate", "fallback chain", "install"), rows)


def targets_json() -> list[dict]:
    return [
        {"name": t.name, "title": t.title, "runtime": t.runtime, "delegate": t.delegate, "fallback": t.fallback,
         "chain": t.chain(), "install": t.install}
        for t in TARGETS.values()
    ]


def detection_text(d) -> str:
    """Findings with their evidence and fixes, then the usable targets."""
    out = [f"machine     {d.arch}, {d.cores} cores" + (f", board: {d.board}" if d.board else "") + (f", SoC: {d.soc}" if d.soc else ""),
           f"interpreter {d.interpreter or 'none (pip install ai-edge-litert to run models)'}", ""]
    for f in d.findings:
        out.append(f"{'usable' if f.usable else 'NOT usable'}: {f.what} [{f.target}]")
        out += [f"    evidence: {e}" for e in f.evidence]
        if f.fix:
            out.append(f"    fix: {f.fix}")
    out += ["", f"usable targets, best first: {', '.join(d.targets)}"]
    return "\n".join(out)


def cache_table(entries, kinds: list[str]) -> str:
    import time

    shown = {"artifact": "artifact", "upstream": "upstream input", "unknown": "?"}
    rows = [(e.model, e.artifact, shown[kind], f"{e.size:,}", time.strftime("%Y-%m-%d %H:%M", time.localtime(e.last_used)),
             e.sha256[:12]) for e, kind in zip(entries, kinds)]
    return table(("model", "id", "what", "size", "last used", "sha256"), rows)


def inspect_text(info) -> str:
    def tensor(t) -> str:
        q = f" q(scale={t.scale[0]:g}, zero_point={t.zero_point[0]})" if t.scale else ""
        return f"{t.name}: {t.dtype} {t.shape}{q}"

    accel = info.accelerator
    out = [f"file        {info.path} ({info.size:,} B, {info.subgraphs} subgraph(s))"]
    out += [f"input       {tensor(t)}" for t in info.inputs]
    out += [f"output      {tensor(t)}" for t in info.outputs]
    out.append(f"compiled    {'for ' + accel if accel else 'no (plain TFLite: every op runs on the CPU or a delegate)'}")
    if accel:
        accel_ops = len(info.ops) - len(info.cpu_ops)
        out.append(f"            {accel_ops} {accel} op(s); {len(info.cpu_ops)} op(s) stay on the CPU: {', '.join(info.cpu_ops)}")
    out.append("ops         " + ", ".join(f"{k} x{v}" for k, v in info.histogram.items()))
    if info.float_ops:
        out.append(f"float ops   {len(info.float_ops)}: {', '.join(sorted(set(info.float_ops)))}")
    return "\n".join(out)


def npu_text(report: dict) -> str:
    """The i.MX 8M Plus NPU report (zoo/convert/compilers/vx.py) for a person."""
    out = [f"i.MX 8M Plus {report['npu_ops']} of {report['operators']} operator(s) delegated to the NPU, in "
           f"{report['partitions']} partition(s) (VX delegate rules: {report['rules']})"]
    out += [f"            on the CPU: {o['op']} ({o['output']}): {o['reason']}" for o in report["cpu_operators"]]
    out.append(f"quantized   {report['per_tensor']} per-tensor, {report['per_channel']} per-channel tensor(s); "
               f"{report['int64_tensors']} int64 tensor(s)")
    return "\n".join(out)


def bench_text(rep: dict) -> str:
    lat, mach = rep["latency"], rep["machine"]
    return "\n".join([
        f"model       {rep['model'] or '-'} / {rep['artifact'] or '-'} ({rep['file']})",
        f"target      {rep['target']}, delegate {mach['delegate'] or 'none'}, {mach['runtime']}, "
        f"threads {lat['threads'] or 'default'}",
        f"machine     {mach['cpu']}, {mach['cores']} cores, {mach['arch']}" + (f", {mach['board']}" if mach["board"] else ""),
        f"init        {lat['init_ms']:.1f} ms   (interpreter, delegate, allocation)",
        f"first run   {lat['first_ms']:.1f} ms   (includes any delegate graph compilation)",
        f"steady      median {lat['median_ms']:.2f} ms, mean {lat['mean_ms']:.2f}, p90 {lat['p90_ms']:.2f}, "
        f"min {lat['min_ms']:.2f}, std {lat['std_ms']:.2f}  ({lat['runs']} runs after {lat['warmup']} warm-up)",
        f"memory      peak RSS {lat['peak_rss_mb']:.1f} MB (after init {lat['init_rss_mb']:.1f} MB)",
    ])


def eval_text(out: dict) -> str:
    """`zoo eval`: the dataset and how it was read, one line per file (its metric, the difference from and agreement
    with the reference file, images, seconds), the manifest's figures to compare with, the caveat."""
    metric, rows = out["metric"], out["artifacts"]
    lines = [f"{out['model']} ({out['task']}) on {out['dataset']} {out['split']}, {out['subset']} ({out['layout']})"]
    lines += [f"  {n}" for n in out["notes"]]
    if out["no_metric"]:
        lines.append(f"  {out['no_metric']}")
    ref = out["reference"]
    table_rows, not_run = [], []
    for r in rows:
        if r["status"] != "ran":
            table_rows.append((r["artifact"], r["precision"], "-", "-", "-", "-", "-"))
            not_run.append(f"not run         {r['artifact']}: {r['status']}")
            continue
        value = "-" if r["value"] is None else f"{r['value']:.2f}"
        diff = "reference" if r["artifact"] == ref else "-" if r["difference"] is None else f"{r['difference']:+.2f}"
        agree = "-" if r["agreement"] is None or r["artifact"] == ref else f"{r['agreement']:.2f}"
        table_rows.append((r["artifact"], r["precision"], value, diff, agree, r["images"], f"{r['seconds']:.1f}"))
    lines += ["", table(("artifact", "precision", f"{metric or 'metric'} %", f"vs {ref or 'reference'}",
                         f"agreement % ({out['agreement_unit']})", "images", "seconds"), table_rows)]
    lines += not_run
    others = sorted({k for r in rows for k, v in r["figures"].items() if isinstance(v, float) and k != metric})
    for k in others:
        lines.append(f"{k:<15} " + ", ".join(f"{r['artifact']} {r['figures'][k]:.2f}%" for r in rows if k in r["figures"]))
    for m in out["manifest"]:
        lines.append(f"manifest        {m['artifact']}: {m['value']:g}% ({m['source']}, {m['dataset']} {m['split']}"
                     + (f", {m['images']} images" if m["images"] else "") + f"): difference {m['difference']:+.2f} points")
    if metric and not out["manifest"]:
        lines.append(f"manifest        no {metric} figure on {out['dataset']} {out['split']} to compare with")
    lines.append(f"caveat          {out['caveat']}")
    per_class = out.get("per_class_iou")
    if per_class and len([r for r in rows if r["status"] == "ran"]) == 1:
        rows_ = [(label, "-" if iou is None else f"{iou:.2f}") for label, iou in per_class.items()]
        return "\n".join(lines) + "\n\n" + table(("class", "IoU %"), rows_)
    return "\n".join(lines)
