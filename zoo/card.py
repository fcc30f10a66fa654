"""A Hugging Face model card generated from a manifest only: front matter the Hub understands, then a body
in the manner of NXP's model cards."""

from __future__ import annotations

import yaml

from zoo.convert.record import tool_text
from zoo.manifest import Manifest
from zoo.present import describe_head
from zoo.targets import get_target
from zoo.tasks import get_task

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: the same text, faster (zoo site renders a card per model)
DATASET_IDS = {"PASCAL VOC 2012": "pascal_voc"}


def metadata(m: Manifest) -> dict:
    """Front matter: license, library, tags, datasets and a model-index with every metric and its source."""
    tags = ["tflite", m.task, m.family, *sorted({a.precision for a in m.artifacts})]
    tags += list(dict.fromkeys(tag for t in m.targets for tag in get_target(t).hub_tags))
    datasets = sorted({DATASET_IDS.get(x.dataset, x.dataset) for x in m.metrics})
    results = [
        {
            "task": {"type": get_task(m.task).hub_tag, "name": m.task.replace("-", " ")},
            "dataset": {"type": DATASET_IDS.get(x.dataset, x.dataset), "name": x.dataset, "split": x.split},
            "metrics": [{"type": x.name.lower(), "name": f"{x.name} ({x.applies_to})", "value": x.value,
                         "verified": False}],
            "source": {"name": "measured by zoo" if x.source == "measured" else "upstream",
                       "url": x.citation if x.citation and x.citation.startswith("http") else m.homepage},
        }
        for x in m.metrics
    ]
    data = {"license": m.license.lower(), "library_name": "litert", "pipeline_tag": get_task(m.task).hub_tag, "tags": tags}
    if datasets:
        data["datasets"] = datasets
    if results:
        data["model-index"] = [{"name": m.name, "results": results}]
    return data


def _size(n: int | None) -> str:
    return f"{n:,} B" if n else "unknown"


def render(m: Manifest, repo: str | None = None, records: dict[str, dict] | None = None) -> str:
    """The README.md of a model repository; `records` are build records by artifact id, when there are some."""
    records = records or {}
    p = m.input.preprocessing
    lines = ["---", yaml.dump(metadata(m), Dumper=_DUMPER, sort_keys=False).rstrip(), "---", "", f"# {m.name}", "", m.description, "",
             "## Model information", "", "Information | Value", "--- | ---",
             f"Input shape | {'x'.join(map(str, m.input.shape))} {m.input.layout} {m.input.color_order}",
             f"Preprocessing | resize: {p.resize} ({p.resize_method}){f', pad value {p.pad_value:g}' if p.pad_value is not None else ''}; "
             f"float = (pixel - {p.mean}) * {p.scale}",
             *(f"Output | {'x'.join(map(str, o.shape))} {o.kind}" + (f" ({o.name})" if o.name else "")
               + (f", output stride {o.output_stride}" if o.output_stride else "") for o in m.outputs),
             f"Head | {describe_head(m)}"]
    if m.flops:
        lines.append(f"FLOPs | {m.flops.ops / 1e9:.2f}B ops"
                     + (f" ({m.flops.multiply_adds / 1e9:.2f}B multiply-adds)" if m.flops.multiply_adds else "")
                     + f" ({m.flops.citation})")
    lines += [f"File size ({a.id}) | {_size(a.size)}" for a in m.artifacts]
    lines += [f"License | {m.license}", "", "## Artifacts", "",
              "Artifact | Target | Precision | I/O | Delegate | File | sha256", "--- | --- | --- | --- | --- | --- | ---"]
    for a in m.artifacts:
        pin = a.sha256 or (f"md5 {a.md5}" if a.md5 else "not published yet")
        lines.append(f"{a.id} | {a.target} | {a.precision} | {a.input_dtype} / {a.output_dtype} | {a.delegate or '-'} | "
                     f"{a.file} | {pin}")
    if m.metrics:
        lines += ["", "## Accuracy", "", "Metric | Value | Dataset | Split | Images | Applies to | Source", "--- | --- | --- | --- | --- | --- | ---"]
        lines += [f"{x.name} | {x.value:g}{x.unit if x.unit == '%' else ''} | {x.dataset} | {x.split} | "
                  f"{x.subset or x.images or '-'} | {x.applies_to} | "
                  f"{x.citation if x.source == 'upstream' else f'{x.source} {x.date}: `{x.command}`'}"
                  + (f" ({', '.join(f'{k} {v}' for k, v in x.tools.items())})" if x.tools else "") for x in m.metrics]
        caveats = list(dict.fromkeys(x.caveat for x in m.metrics if x.caveat))
        lines += ["", *(f"Caveat (measured figures): {c}." for c in caveats)] if caveats else []
    if m.benchmarks:
        lines += ["", "## Performance", "", "Latency | Applies to | Device | Accelerator | Threads | Runtime | Input | Source",
                  "--- | --- | --- | --- | --- | --- | --- | ---"]
        lines += [f"{b.latency_ms:g} ms | {_applies_to(m, b.applies_to)} | {b.device} | {b.accelerator} | {b.threads or '-'} | "
                  f"{b.runtime} | {b.input_size[0]}x{b.input_size[1]} | "
                  f"{b.citation if b.source == 'upstream' else f'{b.source} {b.date}: `{b.command}`'}" for b in m.benchmarks]
    lines += ["", "## Download and run", "", "```bash", "pip install ./zoo   # a checkout of zoo's repository (or a wheel built there with `pip wheel .`): "
              "edge-model-zoo is not on PyPI yet", f"zoo fetch {m.name}            # the right file for this machine",
              *(f"zoo fetch {m.name} --target {t}" for t in m.targets), "```", "", "```python", "import zoo",
              f'path = zoo.resolve("{m.name}")       # verified local path, offline once cached',
              f'model = zoo.load("{m.name}")         # LiteRT with the target\'s delegate',
              'result = model.predict("photo.jpg")  # prepared and decoded as the manifest says',
              "print(result.to_dict())", "```"]
    if repo:
        lines += ["", f"The files here are pinned by zoo as `hf://{repo}@<commit>/<file>`."]
    lines += ["", "## How each artifact was made", ""]
    for a in m.artifacts:
        rec = records.get(a.id)
        made = f"`{a.recipe}`" if a.build else a.recipe
        lines.append(f"- **{a.id}** (parent: {a.parent or 'upstream'}): {made}" + (f"; build record: {_made(rec)}" if rec else ""))
    lines += ["", "## References", "", *(f"- [{p.title}]({p.url})" for p in m.papers), f"- Homepage: {m.homepage}", ""]
    return "\n".join(lines)


def _applies_to(m: Manifest, ident: str | None) -> str:
    """Which file a figure was measured on: one of this model's artifacts, or an upstream file (someone else's)."""
    if ident is None:
        return "-"
    upstream = next((u for u in m.upstream if u.id == ident), None)
    return f"{ident} (upstream {upstream.file}, not a zoo artifact)" if upstream else ident


def _made(rec: dict) -> str:
    """One line from a build record (zoo/convert/record.py's shape): the tool, calibration if any, the checks."""
    tool, calibration = rec["tool"], rec.get("calibration")
    text = tool_text(tool)
    if calibration:
        text += f", calibration {calibration['count']} image(s) ({calibration['source']})"
    return text + ", checks: " + ", ".join(f"{c['name']} {'ok' if c['passed'] else 'failed'}" for c in rec["checks"])


def validate(text: str) -> None:
    """Parse the card with huggingface_hub's card tools (offline): front matter and model-index must load."""
    from huggingface_hub import ModelCard

    card = ModelCard(text, ignore_metadata_errors=False)
    if card.data.to_dict().get("model-index") and not card.data.eval_results:
        raise ValueError("model-index did not parse into evaluation results")
