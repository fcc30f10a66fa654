"""The static catalog: pages and JSON from the validated manifests, escaping, incremental rebuilds, one index.json
shared with `zoo publish --to`, example pictures, and a folder that is both a catalog and a mirror end to end.
(The browser's view of the pages is tests/test_site_browser.py.)"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest
import yaml
from conftest import MINIMAL, pinned, shared_files, write_model

from zoo import catalog, publish
from zoo.errors import ZooError
from zoo.site import build

DATA = os.urandom(30_000)


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600, env=os.environ)


def write_doc(folder, name: str, **changes) -> dict:
    doc = copy.deepcopy(MINIMAL)
    doc.update(name=name, **changes)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc


def test_the_bundled_catalog_gives_a_page_json_and_card_per_model(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ZOO_MANIFESTS", raising=False)
    result = build(tmp_path / "site")
    cat = catalog.load()
    index = json.loads((tmp_path / "site" / "index.json").read_text())
    assert [r["name"] for r in index["models"]] == cat.names() == sorted(result.rendered) and index["files"] == []
    html = (tmp_path / "site" / "index.html").read_text()
    for name in cat.names():
        m = cat.get(name)
        data = json.loads((tmp_path / "site" / "models" / f"{name}.json").read_text())
        assert data["manifest"] == m.model_dump(mode="json", exclude_none=True)
        page = (tmp_path / "site" / "models" / f"{name}.html").read_text()
        assert f'href="models/{name}.html"' in html
        for a in m.artifacts:
            assert f'id="a-{a.id}"' in page and (a.sha256 is None or a.sha256 in page)
        for x in m.metrics:
            assert f"{x.value:g}" in page
        for b in m.benchmarks:
            assert f"{b.latency_ms:g} ms" in page and (b.command is None or b.command.split()[0] in page)
        assert (tmp_path / "site" / "models" / f"{name}.md").read_text().startswith("---\nlicense:")
    vela = catalog.get("face-detection-short-range").artifact("imx93").compile_stats
    page = (tmp_path / "site" / "models" / "face-detection-short-range.html").read_text()
    assert all(o["reason"] in page for o in vela["cpu_operators"]) and "<svg" in page


def test_text_from_a_manifest_is_escaped(zoo_env, tmp_path):
    write_doc(zoo_env, "evil", description='<script>alert("x")</script> & <img src=x onerror=alert(1)>',
              papers=[{"title": "<b>bold</b>", "url": "https://example.invalid/\"onmouseover=\"alert(1)"}])
    build(tmp_path / "site")
    for page in ("index.html", "models/evil.html"):
        text = (tmp_path / "site" / page).read_text()
        assert "<script>alert" not in text and "<img src=x" not in text and "&lt;script&gt;alert" in text
    assert '"onmouseover="' not in (tmp_path / "site" / "models/evil.html").read_text()


def test_only_what_changed_is_rendered_again_and_a_removed_model_goes(zoo_env, tmp_path):
    site = tmp_path / "site"
    write_doc(zoo_env, "first")
    write_doc(zoo_env, "second")
    assert {"first", "second"} <= set(build(site).rendered)
    before = (site / "models" / "first.html").stat().st_mtime_ns
    assert build(site).rendered == []
    write_doc(zoo_env, "second", description="changed")
    assert build(site).rendered == ["second"] and "changed" in (site / "models" / "second.html").read_text()
    assert (site / "models" / "first.html").stat().st_mtime_ns == before
    (site / "models" / "first.html").unlink()
    assert build(site).rendered == ["first"], "a page that is gone is made again"
    (zoo_env / "first.yaml").unlink()
    again = build(site)
    assert again.removed == ["first"] and not (site / "models" / "first.html").exists()
    assert "first" not in [r["name"] for r in json.loads((site / "index.json").read_text())["models"]]


def _published(zoo_env, server, name: str):
    write_model(zoo_env, name, [pinned(DATA, file=f"{name}.tflite", sources=[server.add(f"/{name}.tflite", DATA)])])
    return publish.plan(name)


def test_one_index_json_serves_the_mirror_and_the_site_whichever_writes_first(zoo_env, server, tmp_path):
    folder = tmp_path / "hub"
    publish.to_directory(_published(zoo_env, server, "alpha"), folder)
    build(folder)
    index = json.loads((folder / "index.json").read_text())
    assert [e["model"] for e in index["files"]] == ["alpha"] and "alpha" in [r["name"] for r in index["models"]]
    page = (folder / "models" / "alpha.html").read_text()
    assert 'href="../alpha/alpha.tflite" download' in page and "ZOO_MIRRORS=" in page
    assert 'href="../beta/' not in (folder / "models" / "alpha.html").read_text()
    publish.to_directory(_published(zoo_env, server, "beta"), folder)
    index = json.loads((folder / "index.json").read_text())
    assert [e["model"] for e in index["files"]] == ["alpha", "beta"] and "alpha" in [r["name"] for r in index["models"]]
    assert build(folder).rendered == ["beta"], "only the newly mirrored model's page changes"
    index = json.loads((folder / "index.json").read_text())
    assert [e["model"] for e in index["files"]] == ["alpha", "beta"] and {"alpha", "beta"} <= {r["name"] for r in index["models"]}
    assert 'href="../beta/beta.tflite" download' in (folder / "models" / "beta.html").read_text()


def test_a_folder_whose_index_json_zoo_did_not_write_is_refused_and_left_alone(tmp_path):
    (tmp_path / "index.json").write_text("[1, 2]")
    done = zoo_cli("site", "-o", str(tmp_path))
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "is not a zoo index" in done.stderr
    assert (tmp_path / "index.json").read_text() == "[1, 2]" and not (tmp_path / "index.html").exists()
    with pytest.raises(ZooError, match="is not a zoo index"):
        (tmp_path / "index.json").write_text('{"files": {}}')
        build(tmp_path)


def test_a_planted_index_json_cannot_make_the_site_delete_files_outside_its_pages(zoo_env, tmp_path):
    site = tmp_path / "site"
    build(site)
    victim = tmp_path / "victim.html"
    victim.write_text("mine")
    index = json.loads((site / "index.json").read_text())
    index["models"] += [{"name": "../../victim"}, {"name": "..\\victim"}, {"name": 3}]
    (site / "index.json").write_text(json.dumps(index))
    assert build(site).removed == [] and victim.read_text() == "mine"


def test_the_command_prints_the_index_page_or_json_and_refuses_a_missing_images_folder(zoo_env, tmp_path):
    done = zoo_cli("site", "-o", str(tmp_path / "site"), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["index"] == str(tmp_path / "site" / "index.json")
    done = zoo_cli("site", "-o", str(tmp_path / "other"), "--examples", str(tmp_path / "missing"))
    assert done.returncode == 1 and done.stderr.startswith("error: --examples ") and done.stderr.count("\n") == 1
    assert not (tmp_path / "other").exists(), "nothing is written when the command is refused"


def test_measured_figures_show_with_their_command_dataset_images_and_every_other_field(zoo_env, tmp_path):
    write_doc(zoo_env, "meas", metrics=[
        {"name": "mIoU", "value": 61.25, "dataset": "PASCAL VOC 2012", "split": "val", "applies_to": "cpu-int8",
         "images": 1449, "source": "measured", "command": "zoo eval meas --data VOC2012", "date": "2026-12-01"}],
        benchmarks=[{"device": "Raspberry Pi 5", "accelerator": "CPU", "runtime": "LiteRT 2.3.0", "threads": 4,
                     "input_size": [8, 8], "latency_ms": 3.25, "applies_to": "cpu-int8", "source": "measured",
                     "command": "zoo bench meas --threads 4", "date": "2026-12-02", "note": "cold caches"}])
    build(tmp_path / "site")
    page = (tmp_path / "site" / "models" / "meas.html").read_text()
    for text in ("61.25%", "1449 images", "zoo eval meas --data VOC2012", "2026-12-01", "3.25 ms", "zoo bench meas --threads 4",
                 "cold caches", 'class="bar measured"'):
        assert text in page, text
    data = json.loads((tmp_path / "site" / "models" / "meas.json").read_text())
    assert [x["command"] for x in data["measured"]["metrics"] + data["measured"]["benchmarks"]] == [
        "zoo eval meas --data VOC2012", "zoo bench meas --threads 4"]
    row = next(r for r in json.loads((tmp_path / "site" / "index.json").read_text())["models"] if r["name"] == "meas")
    assert row["headline"]["int8"] == {"value": 61.25, "unit": "%", "source": "measured", "applies_to": "cpu-int8",
                                       "text": "61.25%"} and row["headline"]["float"] is None


def test_example_pictures_are_drawn_when_asked_kept_and_shown(shared_mirror, tmp_path):
    """The face detector's float file from the (loopback) mirror; its picture on Grace Hopper drawn once, reused."""
    pytest.importorskip("ai_edge_litert")
    assert zoo_cli("fetch", "face-detection-short-range/cpu", "-q").returncode == 0
    images = tmp_path / "images"
    images.mkdir()
    shutil.copyfile(shared_files()["grace_hopper.bmp"], images / "object-detection.bmp")
    site = tmp_path / "site"
    first = build(site, images=images)
    assert first.examples == 1 and "face-detection-short-range" in first.rendered
    page = (site / "models" / "face-detection-short-range.html").read_text()
    src = page.split('<img src="')[1].split('"')[0]
    picture = (site / "models" / src)
    assert picture.is_file() and picture.read_bytes()[:3] == b"\xff\xd8\xff" and "object-detection.bmp" in page
    assert "face" in page.split("<pre>")[1].split("</pre>")[0], "what zoo predict printed is under the picture"
    again = build(site, images=images)
    assert again.examples == 0 and again.rendered == []
    assert build(site).rendered == [] and src in (site / "models" / "face-detection-short-range.html").read_text()


def test_a_mirror_with_its_site_serves_pages_and_zoo_fetch_end_to_end(shared_mirror, coral_tasks, tmp_path, monkeypatch):
    """Publish mobilenet-v2's CPU file to a folder, render the site into it, serve it on 127.0.0.1: the pages link
    the file, and a fresh cache fetches through ZOO_MIRRORS from that folder and predicts cat.bmp (class 286)."""
    from loopback import StaticServer

    pytest.importorskip("ai_edge_litert")
    hub = tmp_path / "hub"
    assert zoo_cli("fetch", "mobilenet-v2", "-t", "cpu", "-q").returncode == 0
    done = zoo_cli("publish", "mobilenet-v2", "-t", "cpu", "--to", str(hub))
    assert done.returncode == 0, done.stderr
    done = zoo_cli("site", "-o", str(hub))
    assert done.returncode == 0 and done.stdout.strip() == str(hub / "index.html"), done.stderr
    with StaticServer(hub) as site:
        page = urllib.request.urlopen(f"{site.base}/models/mobilenet-v2.html").read().decode()
        href = page.split('" download>')[0].rsplit('href="', 1)[1]
        assert href == "../mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite"
        linked = urllib.request.urlopen(f"{site.base}/models/{href}").read()
        index = json.loads(urllib.request.urlopen(f"{site.base}/index.json").read())
        assert [e["sha256"] for e in index["files"]] == [catalog.get("mobilenet-v2").artifact("cpu-uint8").sha256]
        assert __import__("hashlib").sha256(linked).hexdigest() == index["files"][0]["sha256"]
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
        monkeypatch.setenv("ZOO_MIRRORS", site.base)
        shared_before = len(shared_mirror.requests)
        done = zoo_cli("predict", "mobilenet-v2", str(coral_tasks / "cat.bmp"), "-t", "cpu", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["classes"][0]["id"] == 286
        assert "/mobilenet-v2/mobilenet_v2_1.0_224_quant.tflite" in site.requests
        assert len(shared_mirror.requests) == shared_before, "the file came from the site's folder"


def test_a_manifest_address_that_is_not_http_is_shown_not_linked(zoo_env, tmp_path):
    write_doc(zoo_env, "evil", homepage="javascript:alert(document.domain)",
              papers=[{"title": "p", "url": " JaVaScRiPt:alert(2)"}, {"title": "q", "url": "data:text/html,<script>x</script>"}],
              metrics=[{"name": "acc", "value": 1.0, "source": "upstream", "citation": "http\tjavascript:alert(4)",
                        "dataset": "d", "split": "s", "applies_to": MINIMAL["artifacts"][0]["id"]}])
    build(tmp_path / "site")
    page = (tmp_path / "site" / "models" / "evil.html").read_text()
    hrefs = [h.lower() for h in re.findall(r'href="([^"]*)"', page)]
    assert not [h for h in hrefs if "script" in h or h.startswith("data:text")]
    assert "javascript:alert(document.domain)" in page and "http\tjavascript:alert(4)" in page


@pytest.mark.parametrize("sub", ["models", "assets", "examples", "examples/first"])
def test_a_link_in_the_folder_is_refused_and_nothing_is_written_or_removed_through_it(zoo_env, tmp_path, sub):
    write_doc(zoo_env, "first")
    site, victim = tmp_path / "site", tmp_path / "victim"
    victim.mkdir()
    for suffix in ("html", "json", "md"):
        (victim / f"thesis.{suffix}").write_text("precious")
    (site / sub).parent.mkdir(parents=True)
    (site / sub).symlink_to(victim)
    (site / "index.json").write_text(json.dumps({"files": [], "models": [{"name": "thesis"}]}))
    with pytest.raises(ZooError, match="is a link"):
        build(site)
    assert sorted(p.name for p in victim.iterdir()) == ["thesis.html", "thesis.json", "thesis.md"]


def test_a_planted_row_in_index_json_is_rendered_again_not_laid_out(zoo_env, tmp_path):
    write_doc(zoo_env, "first")
    write_doc(zoo_env, "second")
    site = tmp_path / "site"
    build(site)
    index = json.loads((site / "index.json").read_text())
    for r in index["models"]:
        if r["name"] == "first":
            r["page"] = "javascript:alert(1)"
        if r["name"] == "second":
            for key in set(r) - {"name", "digest"}:
                del r[key]
    (site / "index.json").write_text(json.dumps(index))
    assert sorted(build(site).rendered) == ["first", "second"]
    assert "javascript" not in (site / "index.html").read_text()
    rows = {r["name"]: r for r in json.loads((site / "index.json").read_text())["models"]}
    assert rows["first"]["page"] == "models/first.html" and rows["second"]["task"] == MINIMAL["task"]


def test_a_planted_file_name_too_long_for_the_file_system_is_not_a_download(zoo_env, tmp_path):
    write_doc(zoo_env, "first")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.json").write_text(json.dumps({"files": [{"model": "first", "artifact": "cpu", "file": "a" * 5000}]}))
    build(site)
    assert json.loads((site / "models" / "first.json").read_text())["downloads"] == {}


def test_an_index_json_that_is_a_folder_is_named_in_one_line(zoo_env, tmp_path):
    (tmp_path / "site" / "index.json").mkdir(parents=True)
    r = zoo_cli("site", "-o", str(tmp_path / "site"), "-q")
    assert r.returncode == 1 and r.stderr == f"error: Is a directory: {tmp_path / 'site' / 'index.json'} (give a file path, not a folder)\n"


def test_a_fifo_or_link_among_the_example_pictures_is_skipped_not_waited_on(zoo_env, tmp_path):
    write_doc(zoo_env, "first")
    folder = tmp_path / "site" / "examples" / "first"
    folder.mkdir(parents=True)
    stem = MINIMAL["artifacts"][0]["sha256"][:16]
    os.mkfifo(folder / f"{stem}-0000.json")
    (folder / f"{stem}-0000.jpg").write_bytes(b"")
    (tmp_path / "meta.json").write_text(json.dumps({"artifact": MINIMAL["artifacts"][0]["id"], "text": "secret"}))
    (folder / f"{stem}-1111.json").symlink_to(tmp_path / "meta.json")
    (folder / f"{stem}-1111.jpg").write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "zoo", "site", "-o", str(tmp_path / "site"), "-q"], capture_output=True,
                       text=True, timeout=60, env=os.environ)
    assert r.returncode == 0, r.stderr
    assert "secret" not in (tmp_path / "site" / "models" / "first.html").read_text()


def test_an_invalid_manifest_left_out_of_the_site_is_said(zoo_env, tmp_path):
    write_doc(zoo_env, "broken", description=None)
    r = zoo_cli("site", "-o", str(tmp_path / "site"), "-q")
    assert r.returncode == 0 and not (tmp_path / "site" / "models" / "broken.html").exists()
    assert f"skipped invalid manifest {zoo_env / 'broken.yaml'} (1 problem(s); run `zoo validate`)" in r.stderr


def test_a_huge_sample_image_is_scaled_down_before_it_is_predicted_and_drawn(shared_mirror, tmp_path):
    """A 12000x12000 photo (a 140 kB PNG) as the sample: drawn at most LARGEST px wide, not at full size (2.5 GB)."""
    pytest.importorskip("ai_edge_litert")
    from PIL import Image

    assert zoo_cli("fetch", "deeplabv3/cpu-uint8", "-q").returncode == 0
    images = tmp_path / "images"
    images.mkdir()
    Image.new("L", (12000, 12000)).save(images / "semantic-segmentation.png")
    # The child's own peak (VmHWM of its image after exec): getrusage counts the forking parent's pages too, and this
    # test's parent holds TensorFlow after the build tests.
    peak = tmp_path / "peak"
    script = ("import atexit, runpy, sys; out = sys.argv[-1]; sys.argv = ['zoo', *sys.argv[1:-1]]; "
              "atexit.register(lambda: open(out, 'w').write(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])); "
              "runpy.run_module('zoo', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script, "site", "-o", str(tmp_path / "site"), "--examples", str(images),
                           "-q", str(peak)], capture_output=True, text=True, timeout=300, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    assert int(peak.read_text()) < 1 << 20, f"{peak.read_text()} kB"
    assert len(list((tmp_path / "site" / "examples" / "deeplabv3").glob("*.jpg"))) == 1


def test_a_description_without_spaces_is_cut_in_the_index_too(zoo_env, tmp_path):
    write_doc(zoo_env, "wordy", description="x" * 50_000)
    build(tmp_path / "site")
    row = next(r for r in json.loads((tmp_path / "site" / "index.json").read_text())["models"] if r["name"] == "wordy")
    assert row["summary"] == "x" * 140 + " …"
    assert (tmp_path / "site" / "index.html").read_text().count("x" * 141) == 0


def test_a_file_in_this_folder_is_not_called_not_hosted(shared_mirror, tmp_path):
    """mobilenet-v2's imx8mp file, built on fetch and published to the folder: its row says it is in this folder, and
    its details call the manifest's note what it is (no source upstream hosts it), not 'Not hosted'."""
    pytest.importorskip("ai_edge_litert")
    hub = tmp_path / "hub"
    assert zoo_cli("fetch", "mobilenet-v2", "-t", "imx8mp", "-q").returncode == 0
    assert zoo_cli("publish", "mobilenet-v2", "-t", "imx8mp", "--to", str(hub), "-q").returncode == 0
    done = zoo_cli("site", "-o", str(hub), "-q")
    assert done.returncode == 0, done.stderr
    page = (hub / "models" / "mobilenet-v2.html").read_text()
    assert "<td>imx8mp<small>in this folder</small></td>" in page
    assert page.count("<dt>Not hosted</dt>") == 1, "only imx93, which is not in the folder"
    assert page.count("<dt>Not hosted upstream</dt>") == 1


def test_float_and_int8_headlines_come_from_one_provenance_and_dataset(zoo_env, tmp_path):
    """Upstream's float mIoU on PASCAL VOC beside zoo's int8 mIoU on a few COCO images would read as a loss it is not:
    the index pairs figures of one provenance and dataset, the pair that covers both kinds first."""
    fp32 = {**copy.deepcopy(MINIMAL["artifacts"][0]), "id": "cpu", "precision": "float32", "file": "f.tflite", "sha256": "b" * 64,
            "default": True}
    figure = {"name": "mIoU", "unit": "%", "split": "val"}
    write_doc(zoo_env, "mixed", artifacts=[*MINIMAL["artifacts"], fp32], metrics=[
        {**figure, "value": 70.0, "dataset": "PASCAL VOC 2012", "applies_to": "cpu", "source": "upstream", "citation": "a paper"},
        {**figure, "value": 69.5, "dataset": "PASCAL VOC 2012", "applies_to": "cpu-int8", "source": "upstream", "citation": "a paper"},
        {**figure, "value": 38.0, "dataset": "coco-val2017-128", "applies_to": "cpu-int8", "source": "measured",
         "images": 100, "command": "zoo eval mixed --data coco", "date": "2026-12-07"}])
    build(tmp_path / "site")
    row = next(r for r in json.loads((tmp_path / "site" / "index.json").read_text())["models"] if r["name"] == "mixed")
    assert (row["headline"]["float"]["value"], row["headline"]["int8"]["value"]) == (70.0, 69.5)
    assert {row["headline"][k]["source"] for k in ("float", "int8")} == {"upstream"}
