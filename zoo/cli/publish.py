"""Publishing: publish, card, bundle, import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from zoo import atomic
from zoo.cli._app import (
    JsonOpt,
    QuietOpt,
    NameArg,
    _err,
    _json,
    _load_catalog,
    _out,
    _output,
    _progress,
    app,
    given_path,
)


@app.command()
def publish(
    name: NameArg,
    repo: Annotated[Optional[str], typer.Option(metavar="OWNER/REPO", help="Hugging Face repo OWNER/REPO to upload to in one commit.")] = None,
    to: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Write a static mirror folder instead (any file server can serve it).")] = None,
    oci: Annotated[Optional[str], typer.Option("--oci", metavar="REGISTRY/REPOSITORY[:TAG]",
                                               help="Push to an OCI registry instead: one artifact per tag (the artifact id, "
                                                    "or TAG-id), the blob digest being its sha256.")] = None,
    url: Annotated[Optional[str], typer.Option(help="With --to --record: the URL the folder is served at.")] = None,
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only these targets (repeatable).")] = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", metavar="DIR", help="A `zoo build --out` folder (else published files from the cache).")] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo as private.")] = False,
    revision: Annotated[Optional[str], typer.Option(metavar="BRANCH", help="Branch to commit to (created if needed).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Print what would be uploaded and the model card; no network.")] = False,
    record: Annotated[bool, typer.Option(help="Put the new source first in the manifest (pinned to the commit).")] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Publish verified artifacts, the manifest, build records and a model card to the Hub, an OCI registry or a folder."""
    from zoo import publish as pub

    if sum(x is not None for x in (repo, to, oci)) != 1:
        raise typer.BadParameter("give exactly one of --repo OWNER/REPO, --oci REGISTRY/REPOSITORY or --to DIR")
    ref = None
    if oci is not None:
        from zoo.sources import parse_oci

        try:
            ref = parse_oci(oci)
        except ValueError as e:
            raise typer.BadParameter(str(e), param_hint="--oci") from None
    if to is not None and record and not url:
        raise typer.BadParameter("--to --record needs --url: the http(s) address the folder is served at")
    p = pub.plan(name, target or [], from_dir, repo, _progress(quiet))
    if dry_run:
        result = {**p.to_dict(), "card": p.card}
        if as_json:
            _json(result)
        else:
            for f in result["files"]:
                _out(f"{f['path']}  {f['size']:,} B  sha256 {f['sha256']}")
            _out("\n" + p.card)
        return
    result = pub.publish(p, repo=repo, oci=ref, folder=to, url=url, private=private, revision=revision, record=record,
                         progress=_progress(quiet))
    if as_json:
        _json(result)
        return
    for pushed in result.get("oci", []) if not quiet else []:
        sent = pushed["pushed"]
        blobs, manifests = sum(not x.startswith("manifest:") for x in sent), sum(x.startswith("manifest:") for x in sent)
        _err(f"{pushed['reference']}: sent {blobs} blob(s) and {manifests} manifest(s) the registry did not have "
             f"(model blob {pushed['blob']})")
    if "recorded" in result:
        _err(f"recorded the new source in {result['recorded']}")
    if oci is not None and not quiet:
        _err(f"to fetch through this registry first: ZOO_MIRRORS={result['mirror']}" if result["mirror"] else
             f"this repository does not end with /{p.manifest.name}, so it cannot serve as a ZOO_MIRRORS prefix; "
             "record it as a source with --record instead")
    _out(result.get("index") or (result["mirror"] or ref.source if oci else f"https://huggingface.co/{repo}/tree/{result['commit']}"))


@app.command()
def card(
    name: NameArg,
    out: Annotated[Optional[str], typer.Option("--output", "-o", "--out", metavar="PATH", callback=given_path,
                                                help="Write the card here (a file, or a folder for README.md) instead of stdout.")] = None,
    quiet: QuietOpt = False,
) -> None:
    """Generate the Hugging Face model card (README.md) of a model from its manifest."""
    from zoo import card as model_card

    text = model_card.render(_load_catalog().get(name))
    model_card.validate(text)
    if out:
        out = _output(out, "README.md")
        atomic.write(out, text)  # replaces a link itself, never writes through it
        if not quiet:
            _err(f"wrote {out}")
    else:
        _out(text)


@app.command()
def bundle(
    name: NameArg,
    output: Annotated[str, typer.Option("--output", "-o", metavar="PATH", callback=given_path, help="The .tar file to write (a folder gets NAME.tar).")],
    target: Annotated[Optional[list[str]], typer.Option("--target", "-t", help="Only these targets (repeatable).")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Pack a model's published artifacts, manifest, checksums and license into one tar for air-gapped devices."""
    from zoo import bundle as bundles

    path = _output(output, f"{name}.tar")
    index = bundles.create(name, path, target or [], _progress(quiet))
    if as_json:
        _json({**index, "output": str(path)})
    else:
        for f in index["files"] if not quiet else []:
            _err(f"packed {f['artifact']} ({f['file']}, {f['size']:,} B)")
        _out(str(path))


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(metavar="FILE.tar", help="A bundle made by `zoo bundle`.")],
    manifests: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Also write the bundle's manifest into this folder (for ZOO_MANIFESTS).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Verify every file of a bundle, then install them into the cache so `zoo fetch --offline` works."""
    from zoo import bundle as bundles

    installed = bundles.install(path, manifests)
    if as_json:
        _json([{"model": i.model, "artifact": i.artifact, "path": str(i.path), "sha256": i.sha256} for i in installed])
    else:
        for i in installed:
            _out(f"{i.model}/{i.artifact}: {i.path}")


@app.command()
def site(
    output: Annotated[str, typer.Option("--output", "-o", metavar="DIR", callback=given_path, help="The folder to render into (a `zoo publish --to` mirror folder too).")],
    examples: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Draw example pictures first: `zoo predict` on a sample image from DIR (NAME.jpg, TASK.jpg, else the first) for every CPU file in the cache; kept for later builds.")] = None,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Render a static web catalog of the models (index, a page and JSON per model) into DIR; only what changed is redone."""
    from zoo.site import build

    result = build(Path(output), images=examples, progress=_progress(quiet))
    if as_json:
        _json(result.to_dict())
        return
    if not quiet:
        _err(f"{result.models} model(s), {len(result.rendered)} page(s) rendered, {len(result.removed)} removed"
             + (f", {result.examples} example picture(s) drawn" if examples else ""))
    _out(str(Path(output) / "index.html"))
