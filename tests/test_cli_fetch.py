"""`zoo fetch`, `zoo detect` and `zoo cache` as real subprocesses against a loopback server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from conftest import pinned, write_model

DATA = os.urandom(100_000)
SHA = hashlib.sha256(DATA).hexdigest()


def zoo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=os.environ)


def test_fetch_prints_the_path_last_and_json(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.splitlines()[-1]
    assert open(path, "rb").read() == DATA
    proc = zoo("fetch", "m", "--target", "cpu", "--json", "--output", str(tmp_path / "out"))
    data = json.loads(proc.stdout)
    assert {k: data[k] for k in ("path", "sha256", "size", "target", "artifact", "delegate", "model")} == {
        "path": path, "sha256": SHA, "size": len(DATA), "target": "cpu", "artifact": "cpu-int8", "delegate": None, "model": "m"}
    assert (tmp_path / "out").read_bytes() == DATA and data["output"] == str(tmp_path / "out")


def test_fetch_explain_and_quiet(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    explained = zoo("fetch", "m", "--explain")
    assert "explain: detected targets, best first:" in explained.stderr
    quiet = zoo("fetch", "m", "--explain", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_fetch_failure_is_one_line_exit_1(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA, "corrupt")])])
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 1 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: could not fetch m/cpu-int8 (tiny.tflite): ") and f"expected {SHA}, got " in line


def test_offline_miss_names_what_to_fetch(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    proc = zoo("fetch", "m", "--offline")
    assert proc.returncode == 1 and server.requests == []
    assert "m/cpu-int8 (tiny.tflite) is not in the cache" in proc.stderr


def test_unknown_target_is_a_usage_error(zoo_env):
    proc = zoo("fetch", "deeplabv3", "--target", "gpu")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: Invalid value for '--target' / '-t': unknown target 'gpu'; use auto or one of: cpu, edgetpu, imx8mp, imx93")


def test_detect_json_on_a_device_tree(tmp_path):
    (tmp_path / "sys/devices/soc0").mkdir(parents=True)
    (tmp_path / "sys/devices/soc0/soc_id").write_text("i.MX8MP\n")
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/libvx_delegate.so").write_bytes(b"")
    proc = zoo("detect", "--json", "--root", str(tmp_path))
    data = json.loads(proc.stdout)
    assert data["targets"] == ["imx8mp", "cpu"]
    text = zoo("detect", "--root", str(tmp_path)).stdout
    assert "usable: NXP i.MX 8M Plus NPU [imx8mp]" in text and "usable targets, best first: imx8mp, cpu" in text


def test_cache_commands(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo("fetch", "m", "-q").stdout.strip()
    assert zoo("cache", "path").stdout.strip() == str(tmp_path / "cache")
    listing = json.loads(zoo("cache", "list", "--json").stdout)
    assert [(e["model"], e["artifact"], e["size"]) for e in listing] == [("m", "cpu-int8", len(DATA))]
    assert zoo("cache", "verify").returncode == 0
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"XX")
    bad = zoo("cache", "verify")
    assert bad.returncode == 1 and bad.stdout.startswith(f"{tmp_path / 'cache' / 'blobs' / 'sha256' / SHA}: sha256 is ")
    assert zoo("cache", "verify", "--remove").returncode == 1  # it found a problem, even though it removed it
    assert zoo("cache", "verify").returncode == 0
    assert json.loads(zoo("cache", "list", "--json").stdout) == []
    assert zoo("cache", "clear", "--yes").returncode == 0 and [p.name for p in (tmp_path / "cache").iterdir()] == ["CACHEDIR.TAG"]


def test_cache_prune_keeps_what_views_link_even_without_the_manifest(zoo_env, server, tmp_path):
    """A private model's manifest not loaded right now must not cost its only cached copy."""
    manifest = write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo("fetch", "m", "-q")
    manifest.unlink()
    assert json.loads(zoo("cache", "prune", "--yes", "--json").stdout)["removed"] == []
    assert json.loads(zoo("cache", "list", "--json").stdout)[0]["model"] == "m"


def test_cache_rm_and_dry_run(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo("fetch", "m", "-q").stdout.strip()
    dry = json.loads(zoo("cache", "rm", "m/cpu-int8", "--dry-run", "--json").stdout)
    assert dry["removed"] == [] and dry["would_remove"] == [path, str(tmp_path / "cache" / "blobs" / "sha256" / SHA)]
    assert os.path.exists(path)
    assert zoo("cache", "rm", "m").returncode == 2  # no terminal to ask on, no --yes: a usage error, nothing removed
    assert os.path.exists(path)
    assert zoo("cache", "rm", "m", "--yes").returncode == 0 and not os.path.exists(path)
    assert json.loads(zoo("cache", "list", "--json").stdout) == []


def test_cache_commands_never_touch_a_folder_zoo_did_not_make(tmp_path, monkeypatch):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(precious))
    for args in (("clear", "--yes"), ("prune", "--yes"), ("rm", "m", "--yes")):
        proc = zoo("cache", *args)
        assert proc.returncode == 1 and "not a zoo cache; nothing was removed" in proc.stderr, proc.stderr
    fetch = zoo("fetch", "deeplabv3", "--target", "cpu")
    assert fetch.returncode == 1 and "holds files zoo did not put there" in fetch.stderr
    assert sorted(p.name for p in precious.iterdir()) == ["thesis.tex"]


def test_a_folder_with_zoos_top_level_names_but_not_its_layout_is_never_adopted(tmp_path, monkeypatch):
    """models/ and tmp/ holding a user's own files look like a cache by their names alone; zoo adopts only its own
    layout (blobs by sha256 with their stat records, views linked to them, temp files of its making)."""
    mine = tmp_path / "mine"
    (mine / "models").mkdir(parents=True)
    (mine / "models" / "resnet.onnx").write_bytes(b"weights I trained for a week")
    (mine / "tmp").mkdir()
    (mine / "tmp" / "notes.txt").write_text("experiment log")
    monkeypatch.setenv("ZOO_CACHE_DIR", str(mine))
    for args in (("clear", "--yes"), ("prune", "--yes"), ("rm", "resnet.onnx", "--yes")):
        proc = zoo("cache", *args)
        assert proc.returncode == 1 and "not a zoo cache; nothing was removed" in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.splitlines()) == 1
    fetch = zoo("fetch", "deeplabv3", "--target", "cpu")
    assert fetch.returncode == 1 and "holds files zoo did not put there" in fetch.stderr
    assert (mine / "models" / "resnet.onnx").read_bytes() == b"weights I trained for a week"
    assert (mine / "tmp" / "notes.txt").read_text() == "experiment log"


def test_prune_with_nothing_to_do_succeeds_and_rm_of_nothing_fails(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    assert zoo("fetch", "m", "-q").returncode == 0
    proc = subprocess.run([sys.executable, "-m", "zoo", "cache", "prune"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)  # no terminal, no --yes: nothing to ask about
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "nothing to remove\n")
    proc = zoo("cache", "rm", "nosuch", "--yes")
    assert proc.returncode == 1
    assert proc.stderr == "error: nothing cached matches nosuch (see what is cached with `zoo cache list`)\n"


def test_fetch_with_output_prints_the_copy_last_on_stdout(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    proc = zoo("fetch", "m", "-t", "cpu", "-o", f"{tmp_path}/out/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{tmp_path / 'out' / 'tiny.tflite'}\n"
    assert (tmp_path / "out" / "tiny.tflite").read_bytes() == DATA
    assert "copied from the cache at " in proc.stderr


def test_a_user_manifest_overriding_another_is_warned_about_on_fetch(zoo_env, server, tmp_path, monkeypatch):
    import warnings

    import zoo as library

    from conftest import REPO

    text = (REPO / "manifests" / "deeplabv3.yaml").read_text().replace("DeepLab v3 semantic", "My DeepLab v3 semantic")
    (zoo_env / "deeplabv3.yaml").write_text(text)
    proc = zoo("fetch", "deeplabv3", "-t", "cpu", "--offline")
    assert f"warning: {zoo_env / 'deeplabv3.yaml'}: model 'deeplabv3' overrides the one in " in proc.stderr
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            library.resolve("deeplabv3", target="cpu", offline=True)
        except library.ZooError:
            pass
    (override,) = [w for w in caught if "overrides the one in" in str(w.message)]
    assert override.filename == __file__  # the warning points at the caller's line, not at zoo's


def test_cache_hit_imports_neither_requests_nor_rich_nor_tensorflow(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo("fetch", "m", "-q")
    probe = (
        "import sys; sys.argv = ['zoo', 'fetch', 'm', '-q']\n"
        "import zoo.cli\n"
        "try: zoo.cli.main()\n"
        "except SystemExit: pass\n"
        "print('HEAVY=' + ','.join(m for m in ('requests', 'rich', 'huggingface_hub', 'tensorflow', 'ai_edge_litert') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "HEAVY=" and len(server.requests) == 1


def test_fetch_errors_never_print_credentials(zoo_env, server):
    url = server.url("/missing.tflite").replace("http://", "http://alice:hunter2@")
    write_model(zoo_env, "m", [pinned(DATA, sources=[url])])
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 1 and "hunter2" not in proc.stderr and "http://***@127.0.0.1" in proc.stderr


def hit_probe(*argv: str) -> subprocess.CompletedProcess:
    """`zoo ARGV` through the console entry point, printing which heavy modules it imported."""
    probe = (
        f"import sys; sys.argv = ['zoo', *{list(argv)!r}]\n"
        "from zoo.entry import main\n"
        "try: main()\n"
        "except SystemExit: pass\n"
        "print('LOADED=' + ','.join(m for m in ('pydantic', 'typer', 'yaml', 'requests', 'zoo.catalog') if m in sys.modules))"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)


def test_a_cold_cli_hit_needs_neither_the_schema_nor_the_cli(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo("fetch", "m", "-t", "cpu").stdout.strip()
    proc = hit_probe("fetch", "m", "-t", "cpu", "--offline", "-q")
    assert proc.stdout.splitlines() == [path, "LOADED="], proc.stderr
    assert hit_probe("fetch", "m", "-t", "cpu", "--json").stdout.splitlines()[-1] != "LOADED="  # not a plain hit


def test_the_hit_memo_never_answers_stale(zoo_env, server, tmp_path):
    other = os.urandom(1000)
    manifest = write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
                                          pinned(other, id="npu", target="imx8mp", file="npu.tflite",
                                                 sources=[server.add("/npu.tflite", other)])])
    first = zoo("fetch", "m", "-t", "imx8mp")
    assert hit_probe("fetch", "m", "-t", "imx8mp").stdout.splitlines()[0] == first.stdout.strip()
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
                               {**pinned(other, id="npu", target="imx8mp", file="npu.tflite"), "sources": [],
                                "unpublished": "withdrawn"}])
    changed = hit_probe("fetch", "m", "-t", "imx8mp")  # the manifest changed: the full path decides again
    assert changed.stdout.splitlines()[-1] != "LOADED=" and changed.stdout.splitlines()[0].endswith("tiny.tflite")
    assert "not published yet (withdrawn)" in changed.stderr
    again = hit_probe("fetch", "m", "-t", "imx8mp")  # remembered with its fallback warning, printed again
    assert again.stdout.splitlines() == [changed.stdout.splitlines()[0], "LOADED="]
    assert again.stderr == changed.stderr
    path = changed.stdout.splitlines()[0]
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"XX")
    tampered = hit_probe("fetch", "m", "-t", "imx8mp")  # the cached file changed: never answered from the memo
    assert tampered.stdout.splitlines()[-1] != "LOADED=" and open(tampered.stdout.splitlines()[0], "rb").read() == DATA
    assert manifest.exists()


def test_warnings_about_a_source_never_print_its_credentials(zoo_env, server):
    bad = server.url("/gone.tflite").replace("http://", "http://alice:hunter2@")
    write_model(zoo_env, "m", [pinned(DATA, sources=[bad, server.add("/m.tflite", DATA)])])
    proc = zoo("fetch", "m", "--target", "cpu")
    assert proc.returncode == 0 and "hunter2" not in proc.stderr and "http://***@127.0.0.1" in proc.stderr


def test_version_is_answered_before_the_cli_loads():
    proc = hit_probe("--version")
    assert proc.stdout.splitlines() == ["zoo 0.1.0", "LOADED="]


def test_cache_list_tells_upstream_inputs_from_artifacts(zoo_env, server):
    """A calibration image a build read is cached beside the model's artifact: listed as an upstream input."""
    from zoo import catalog
    from zoo.obtain import obtain_cached

    image = os.urandom(3000)
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])],
                upstream=[{"id": "calib", "kind": "image", "file": "calib.bmp", "description": "a calibration image",
                           **pinned(image, sources=[server.add("/calib.bmp", image)])}])
    assert zoo("fetch", "m", "--target", "cpu").returncode == 0
    obtain_cached("m", catalog.get("m").upstream[0])
    rows = json.loads(zoo("cache", "list", "--json").stdout)
    assert sorted((r["artifact"], r["kind"]) for r in rows) == [("calib", "upstream"), ("cpu-int8", "artifact")]
    header, _, *lines = zoo("cache", "list").stdout.splitlines()
    assert header.split()[:3] == ["model", "id", "what"]
    assert sorted(line.split()[:4] for line in lines) == [["m", "calib", "upstream", "input"],
                                                          ["m", "cpu-int8", "artifact", "100,000"]]


def test_a_planted_hit_never_answers_with_another_models_file(zoo_env, server):
    """The memo is the cache's: an entry given another model's path and sha256 (both verified files of the cache)
    is confirmed against the manifest that defines the model asked for, and takes the full path."""
    other = os.urandom(2000)
    write_model(zoo_env, "a", [pinned(DATA, sources=[server.add("/a.tflite", DATA)])])
    write_model(zoo_env, "b", [pinned(other, sources=[server.add("/b.tflite", other)])])
    mine = zoo("fetch", "a", "-t", "cpu").stdout.strip()
    theirs = zoo("fetch", "b", "-t", "cpu").stdout.strip()
    assert hit_probe("fetch", "a", "-t", "cpu").stdout.splitlines() == [mine, "LOADED="]  # a genuine hit is answered
    memo_path = os.path.join(os.environ["ZOO_CACHE_DIR"], "index", "hits.json")
    with open(memo_path) as f:
        entries = json.load(f)
    (key_a,) = [k for k in entries if '"a"' in k]
    (key_b,) = [k for k in entries if '"b"' in k]
    entries[key_a].update(path=entries[key_b]["path"], sha256=entries[key_b]["sha256"])
    with open(memo_path, "w") as f:
        json.dump(entries, f)
    planted = hit_probe("fetch", "a", "-t", "cpu")
    assert planted.returncode == 0, planted.stderr
    assert planted.stdout.splitlines()[0] == mine != theirs and planted.stdout.splitlines()[-1] != "LOADED="
    with open(planted.stdout.splitlines()[0], "rb") as f:
        assert f.read() == DATA
