"""zoo.resolve end to end against a real loopback server: verify, cache, mirrors, md5 pins, offline."""

from __future__ import annotations

import hashlib
import os
import sys
import warnings

import pytest
from conftest import pinned, write_model

import zoo
from zoo.targets import COMPILERS
from zoo.errors import ArtifactUnavailable, FetchFailed, OfflineMiss, ZooWarning

DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()


def test_fetch_verifies_caches_and_returns_a_path(zoo_env, server, tmp_path):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    r = zoo.resolve("m", target="cpu")
    assert r.path.read_bytes() == DATA and r.sha256 == SHA and r.size == len(DATA)
    assert (r.target, r.artifact.id, r.delegate, r.manifest.name) == ("cpu", "cpu-int8", None, "m")
    assert os.fspath(r) == str(r.path) and open(r, "rb").read(4) == DATA[:4]
    cache = tmp_path / "cache"
    assert r.path == cache / "models" / "m" / "cpu-int8" / "tiny.tflite"
    assert (cache / "blobs" / "sha256" / SHA).samefile(r.path)
    assert list((cache / "tmp").iterdir()) == []


def test_cache_hit_does_no_network_io_and_no_rehash(zoo_env, server, monkeypatch):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    first = zoo.resolve("m", target="cpu")
    assert len(server.requests) == 1

    import zoo.cache as cache_mod

    def no_hash(*a, **k):
        raise AssertionError("a cache hit must not re-hash an unchanged file")

    monkeypatch.setattr(cache_mod, "file_digest", no_hash)
    again = zoo.resolve("m", target="cpu")
    assert again.path == first.path and len(server.requests) == 1


def test_changed_cached_file_is_rehashed_and_refetched(zoo_env, server):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    path = zoo.resolve("m", target="cpu").path
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"\x00")
    again = zoo.resolve("m", target="cpu")
    assert again.path.read_bytes() == DATA and len(server.requests) == 2


def test_checksum_mismatch_names_url_and_both_hashes_and_keeps_nothing(zoo_env, server, tmp_path):
    url = server.add("/m.tflite", DATA, "corrupt")
    write_model(zoo_env, "m", [pinned(DATA, sources=[url])])
    with pytest.raises(FetchFailed) as info:
        zoo.resolve("m", target="cpu")
    bad = hashlib.sha256(bytes([DATA[0] ^ 0xFF]) + DATA[1:]).hexdigest()
    assert f"{url}: sha256 mismatch for {url}: expected {SHA}, got {bad}" in str(info.value)
    cache = tmp_path / "cache"
    assert list((cache / "tmp").iterdir()) == []
    assert not (cache / "blobs").exists() and not (cache / "models").exists()


def test_mirrors_are_tried_in_order_and_failures_reported(zoo_env, server):
    urls = [server.add("/a", DATA, "status:404"), server.add("/b", DATA, "corrupt"), server.add("/c", DATA)]
    write_model(zoo_env, "m", [pinned(DATA, sources=urls)])
    with pytest.warns(ZooWarning) as caught:
        r = zoo.resolve("m", target="cpu")
    assert r.path.read_bytes() == DATA
    assert [p for p, _ in server.requests] == ["/a", "/b", "/c"]
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith(f"{urls[0]} failed: HTTP 404") and messages[1].startswith(f"{urls[1]} failed: sha256 mismatch")


def test_all_sources_failing_lists_each(zoo_env, server):
    urls = [server.add("/a", DATA, "status:404"), server.add("/b", DATA, "html")]
    write_model(zoo_env, "m", [pinned(DATA, sources=urls)])
    with pytest.raises(FetchFailed) as info, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zoo.resolve("m", target="cpu")
    text = str(info.value)
    assert text.startswith("could not fetch m/cpu-int8 (tiny.tflite): ")
    assert f"{urls[0]}: HTTP 404 Not Found" in text and f"{urls[1]}: {urls[1]} served an HTML page" in text


def test_md5_only_artifact_warns_verifies_and_records_sha256(zoo_env, server, tmp_path):
    md5 = hashlib.md5(DATA).hexdigest()
    write_model(zoo_env, "m", [{"sha256": None, "size": None, "md5": md5, "sources": [server.add("/uc", DATA, "gdrive")]}])
    with pytest.warns(ZooWarning) as caught:
        r = zoo.resolve("m", target="cpu")
    assert r.sha256 == SHA and r.path.read_bytes() == DATA
    assert "pinned only by md5" in str(caught[0].message)
    assert (tmp_path / "cache" / "pins" / "md5" / md5).read_text() == SHA
    # from now on the recorded sha256 is what the cache checks: no network
    assert zoo.resolve("m", target="cpu").sha256 == SHA and len(server.requests) == 2


def test_md5_mismatch_is_refused(zoo_env, server):
    url = server.add("/uc", DATA)
    write_model(zoo_env, "m", [{"sha256": None, "size": None, "md5": "0" * 32, "sources": [url]}])
    with pytest.raises(FetchFailed, match=f"md5 mismatch for {url}: expected {'0' * 32}, got {hashlib.md5(DATA).hexdigest()}"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zoo.resolve("m", target="cpu")


def test_offline_hit_and_miss(zoo_env, server, monkeypatch):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    with pytest.raises(OfflineMiss, match=r"m/cpu-int8 \(tiny.tflite\) is not in the cache at .* and zoo is offline"):
        zoo.resolve("m", target="cpu", offline=True)
    assert server.requests == []
    zoo.resolve("m", target="cpu")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA
    assert len(server.requests) == 1


def test_shared_bytes_are_stored_once(zoo_env, server, tmp_path):
    url = server.add("/m.tflite", DATA)
    write_model(zoo_env, "a", [pinned(DATA, sources=[url])])
    write_model(zoo_env, "b", [pinned(DATA, sources=[url])])
    pa, pb = zoo.resolve("a", target="cpu").path, zoo.resolve("b", target="cpu").path
    assert pa != pb and pa.samefile(pb)
    assert len(server.requests) == 1
    assert len([p for p in (tmp_path / "cache" / "blobs" / "sha256").iterdir() if p.suffix != ".stat"]) == 1


def test_hf_source_goes_through_huggingface_hub_pinned_revision(zoo_env, server, monkeypatch):
    server.add("/owner/repo/resolve/0123abcd/sub/m.tflite", DATA)
    monkeypatch.setenv("HF_ENDPOINT", server.base)
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_for_test")
    write_model(zoo_env, "m", [pinned(DATA, sources=["hf://owner/repo@0123abcd/sub/m.tflite"])])
    assert zoo.resolve("m", target="cpu").sha256 == SHA
    path, headers = server.requests[0]
    assert path == "/owner/repo/resolve/0123abcd/sub/m.tflite"
    assert headers["authorization"] == "Bearer hf_secret_token_for_test"


def test_explicit_unpublished_target_falls_back_with_warning_or_fails_strict(zoo_env, server):
    write_model(zoo_env, "m", [
        pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
        {"id": "npu", "target": "imx8mp", "sources": [], "sha256": None, "size": None, "unpublished": "not built yet"},
    ])
    with pytest.warns(ZooWarning, match="m's imx8mp artifact 'npu' is not published yet"):
        r = zoo.resolve("m", target="imx8mp")
    assert r.target == "cpu"
    with pytest.raises(ArtifactUnavailable, match="not published yet"):
        zoo.resolve("m", target="imx8mp", strict=True)


def test_a_pinned_derived_file_comes_from_the_mirrors_where_no_compiler_is_installed(zoo_env, server, monkeypatch):
    """A mirror (ZOO_MIRRORS) is asked for a pinned file no manifest source hosts, verified like any download; while no
    mirror has it (or has other bytes) the fetch falls back and says why, and is not remembered, so the file appearing
    on the mirror is seen by the next fetch; offline, what the cache lacks falls back too and is not remembered."""
    from zoo.targets import Compiler

    monkeypatch.setattr(Compiler, "installed", lambda self: False)
    monkeypatch.setattr("zoo.convert.compiled.rebuild_into_cache", lambda *a: pytest.fail("nothing is built here"))
    monkeypatch.setenv("ZOO_MIRRORS", server.url("/mirror"))
    compiled = os.urandom(5000)
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
                               {**pinned(compiled, id="u65", target="imx93", file="m_vela.tflite"), "sources": [],
                                "unpublished": "built from cpu-int8", "build": True, "parent": "cpu-int8"}])
    server.add("/mirror/m/m_vela.tflite", compiled[::-1])  # other bytes: refused
    with pytest.warns(ZooWarning) as said:
        assert zoo.resolve("m", target="imx93").artifact.id == "cpu-int8"
    assert [str(w.message) for w in said][:2] == [
        f"could not fetch m/u65 (m_vela.tflite): {server.url('/mirror/m/m_vela.tflite')}: sha256 mismatch for "
        f"{server.url('/mirror/m/m_vela.tflite')}: expected {hashlib.sha256(compiled).hexdigest()}, got "
        f"{hashlib.sha256(compiled[::-1]).hexdigest()} (the partial file was deleted; the source may be corrupt or "
        "changed upstream); choosing without it",
        "m's imx93 file 'u65' is built here from 'cpu-int8' once the imx93 extra is installed (pip install '.[imx93]' in "
        "zoo's checkout (the imx93 extra of edge-model-zoo)), unless ZOO_BUILD_ON_FETCH=0; using the cpu artifact "
        "'cpu-int8' instead"]
    with pytest.raises(ArtifactUnavailable, match="'u65' is built here from 'cpu-int8' once"), pytest.warns(ZooWarning):
        zoo.resolve("m", target="imx93", strict=True)
    with pytest.warns(ZooWarning, match="using the cpu artifact 'cpu-int8' instead"):
        assert zoo.resolve("m", target="imx93", offline=True).artifact.id == "cpu-int8"
    server.add("/mirror/m/m_vela.tflite", compiled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for r in (zoo.resolve("m", target="imx93"), zoo.resolve("m", target="imx93", strict=True), zoo.resolve("m/u65")):
            assert (r.artifact.id, r.target, r.path.read_bytes()) == ("u65", "imx93", compiled)
        assert zoo.resolve("m", target="imx93", offline=True).artifact.id == "u65"  # now cached
    assert [p for p, _ in server.requests].count("/mirror/m/m_vela.tflite") == 3  # two misses, one download


def test_zoo_target_overrides_auto(zoo_env, server, monkeypatch):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    monkeypatch.setenv("ZOO_TARGET", "edgetpu")
    with pytest.raises(ArtifactUnavailable, match="m has no artifact for target 'edgetpu'"):
        zoo.resolve("m")
    monkeypatch.setenv("ZOO_TARGET", "cpu")
    r = zoo.resolve("m")
    assert r.explanation[0] == "ZOO_TARGET=cpu overrides auto"


def test_auto_on_a_bare_machine_takes_cpu_and_explains(zoo_env, server, tmp_path, capsys):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    r = zoo.resolve("m", root=tmp_path / "bare", explain=True)
    assert r.target == "cpu"
    err = capsys.readouterr().err
    assert "explain: detected targets, best first: cpu" in err
    assert "explain: 'cpu' is the first of them m has an artifact for: 'cpu-int8'" in err


def test_real_coral_model_through_the_whole_path(zoo_env, server, coral):
    data = (coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite").read_bytes()
    real = zoo.get("deeplabv3").artifact("cpu-uint8")
    write_model(zoo_env, "coral-mirror", [{"file": real.file, "size": real.size, "sha256": real.sha256,
                                           "sources": [server.add("/" + real.file, data, "drop", "ok")]}])
    r = zoo.resolve("coral-mirror", target="cpu")
    assert r.sha256 == real.sha256 and r.size == real.size == len(data)


def test_hub_token_never_leaves_the_hub(zoo_env, server, monkeypatch):
    """A Drive-style confirmation page uploaded to a Hub repo points elsewhere: the token must not go there."""
    from loopback import Server

    with Server() as elsewhere:
        elsewhere.add("/grab", DATA)
        server.add("/owner/repo/resolve/0123abcd/m.tflite", DATA, f"gdrive:{elsewhere.url('/grab')}")
        monkeypatch.setenv("HF_ENDPOINT", server.base)
        monkeypatch.setenv("HF_TOKEN", "hf_secret_token_for_test")
        write_model(zoo_env, "m", [pinned(DATA, sources=["hf://owner/repo@0123abcd/m.tflite"])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert zoo.resolve("m", target="cpu").sha256 == SHA
        assert server.requests[0][1]["authorization"] == "Bearer hf_secret_token_for_test"
        assert [h.get("authorization") for _, h in elsewhere.requests] == [None]


@pytest.mark.parametrize("bad", ["redirect:/first", "redirect:file:///etc/passwd", "badgzip", "status:503:nan"])
def test_one_bad_mirror_never_stops_the_next(zoo_env, server, monkeypatch, bad):
    monkeypatch.setenv("ZOO_MIRRORS", server.url("/mirror"))
    server.add("/mirror/m/tiny.tflite", DATA, bad)
    server.add("/first", DATA, "redirect:/first")
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    with pytest.warns(ZooWarning, match="/mirror/m/tiny.tflite failed: "):
        assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA


# Warm hits: zoo.resolve remembers a resolution in the process and answers it again, without the catalog or the
# choice, only while everything it relied on holds (zoo/hit.py).

def test_a_warm_hit_skips_the_catalog_and_the_choice(zoo_env, server, monkeypatch):
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    first = zoo.resolve("m", target="cpu")

    def refuse(*a, **k):
        raise AssertionError("a warm hit must not load the catalog")

    monkeypatch.setattr("zoo.catalog.load", refuse)
    again = zoo.resolve("m", target="cpu")
    assert (again.path, again.sha256, again.artifact.id) == (first.path, SHA, "cpu-int8")
    with pytest.raises(AssertionError, match="must not load the catalog"):
        zoo.resolve("m", target="cpu", strict=True)  # different arguments: not the remembered resolution


def test_a_warm_hit_sees_manifest_edits_new_files_and_changed_cache(zoo_env, server, tmp_path):
    other = os.urandom(3000)
    path = write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    assert zoo.resolve("m", target="cpu").sha256 == SHA
    write_model(zoo_env, "m", [pinned(other, sources=[server.add("/o.tflite", other)])])  # edited in place
    assert zoo.resolve("m", target="cpu").path.read_bytes() == other
    path.unlink()
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.url("/m.tflite")])])  # back: the first pin
    assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA
    later = tmp_path / "later"
    later.mkdir()
    write_model(later, "m", [pinned(other, sources=[server.url("/o.tflite")])])
    os.environ["ZOO_MANIFESTS"] = f"{zoo_env}{os.pathsep}{later}"  # (zoo_env's monkeypatch restores it)
    assert zoo.resolve("m", target="cpu").path.read_bytes() == other  # a later folder overrides
    (later / "m.yaml").rename(later / "m.yml.off")
    served = zoo.resolve("m", target="cpu")  # a file removed from a folder
    assert served.path.read_bytes() == DATA
    os.chmod(served.path, 0o644)
    with open(served.path, "r+b") as f:
        f.write(b"XX")
    assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA  # the cached file changed: verified again


@pytest.fixture(params=["watched", "stat"])
def manifest_checks(request, monkeypatch):
    """Both ways a warm hit sees manifest changes: the inotify watch, and a stat of every file where it has none."""
    from zoo import watch

    if request.param == "stat":
        monkeypatch.setattr(watch, "_queue", [None])
    return request.param


def test_a_warm_hit_sees_any_manifest_edited_in_place(zoo_env, server, tmp_path, manifest_checks):
    """Edits that change neither a folder nor the defining file: another file made to claim the name (it comes later,
    so it overrides), and the defining file edited through a symlink whose target lives elsewhere."""
    other = os.urandom(3000)
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    write_model(zoo_env, "z", [pinned(other, sources=[server.add("/o.tflite", other)])])
    assert zoo.resolve("m", target="cpu").sha256 == SHA
    assert zoo.resolve("m", target="cpu").sha256 == SHA  # a warm hit
    claim = write_model(tmp_path, "m", [pinned(other, sources=[server.url("/o.tflite")])]).read_bytes()
    (zoo_env / "z.yaml").write_bytes(claim)  # z.yaml now defines m: same inode, the folder unchanged
    with pytest.warns(ZooWarning, match="z.yaml: model 'm' overrides"):
        assert zoo.resolve("m", target="cpu").path.read_bytes() == other
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (zoo_env / "z.yaml").unlink()
    target = write_model(elsewhere, "m", [pinned(DATA, sources=[server.url("/m.tflite")])])
    (zoo_env / "m.yaml").unlink()
    (zoo_env / "m.yaml").symlink_to(target)
    assert zoo.resolve("m", target="cpu").sha256 == SHA
    assert zoo.resolve("m", target="cpu").sha256 == SHA  # a warm hit
    write_model(elsewhere, "m", [pinned(other, sources=[server.url("/o.tflite")])])  # edited in place, elsewhere
    assert zoo.resolve("m", target="cpu").path.read_bytes() == other


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the manifest watch is Linux's inotify")
def test_a_quiet_warm_hit_stats_the_folders_not_every_manifest(zoo_env, server, monkeypatch):
    from zoo import manifest_sources

    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    zoo.resolve("m", target="cpu")  # the first warm hit checks every file once and starts watching them

    def every_file(fp):
        raise AssertionError("a warm hit checked every manifest file while none changed")

    monkeypatch.setattr(manifest_sources, "current", every_file)
    assert zoo.resolve("m", target="cpu").sha256 == SHA


def test_a_quiet_warm_hit_neither_reads_nor_marks_the_files_record(zoo_env, server, monkeypatch):
    """Within a minute of its last check, a warm hit compares the file's and its record's stat keys only (the record
    holds the blob's key: size, mtime, inode; comparing the file's full key, ctime included, never matched)."""
    from zoo.cache import Cache

    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    zoo.resolve("m", target="cpu")

    def reread(*args):
        raise AssertionError("a quiet warm hit read and marked the record again")

    monkeypatch.setattr(Cache, "unchanged", reread)
    assert zoo.resolve("m", target="cpu").sha256 == SHA


def test_a_warm_hit_marks_its_file_used_again_once_its_record_changed(zoo_env, server, tmp_path):
    """The record's mtime is the file's last use (`zoo cache prune --older-than`): a warm hit leaves it alone for a
    minute, but a record made old (or rewritten) is read and marked again."""
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    record = tmp_path / "cache" / "blobs" / "sha256" / f"{SHA}.stat"
    os.utime(record, (1e9, 1e9))
    zoo.resolve("m", target="cpu")
    assert record.stat().st_mtime > 1e9 + 1


def test_a_rebuildable_artifact_cached_meanwhile_is_chosen_by_warm_and_cold_hits(zoo_env, server, tmp_path, monkeypatch):
    """When a fetch may not build (ZOO_BUILD_ON_FETCH=0) an unhosted imx93 artifact falls back to cpu; once its pinned
    bytes are in the cache (built by another process), both remembered hits must give way to it."""
    import subprocess
    import sys

    monkeypatch.setenv("ZOO_BUILD_ON_FETCH", "0")
    from zoo.cache import Cache
    from zoo.hashes import Digest

    compiled = os.urandom(5000)
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)]),
                               {**pinned(compiled, id="u65", target="imx93", file="m_vela.tflite"), "sources": [],
                                "unpublished": "built from cpu-int8", "build": True, "parent": "cpu-int8"}])

    def cold():
        return subprocess.run([sys.executable, "-m", "zoo", "fetch", "m", "-t", "imx93"], capture_output=True, text=True,
                              timeout=120).stdout.strip()

    said = ("is not built here from 'cpu-int8' on a fetch, as ZOO_BUILD_ON_FETCH=0" if COMPILERS["vela"].installed()
            else "is built here from 'cpu-int8' once the imx93 extra is installed")
    with pytest.warns(ZooWarning, match=said):
        assert zoo.resolve("m", target="imx93").artifact.id == "cpu-int8"
    assert cold().endswith("tiny.tflite")
    tmp = tmp_path / "built.part"
    tmp.write_bytes(compiled)
    Cache(tmp_path / "cache").install(tmp, Digest(len(compiled), hashlib.sha256(compiled).hexdigest()), "m", "u65", "m_vela.tflite")
    assert zoo.resolve("m", target="imx93").artifact.id == "u65"
    assert cold().endswith("m_vela.tflite")


def test_a_warm_hit_sees_a_release_link_swapped_behind_a_manifest_link(zoo_env, server, tmp_path, manifest_checks):
    """m.yaml -> releases/current/m.yaml, and `current` (a link to v1) swapped to v2 as deployments do: no watched
    file or folder changes, yet m.yaml now means another file."""
    other = os.urandom(3000)
    releases = tmp_path / "releases"
    for version, data, url in (("v1", DATA, server.add("/m.tflite", DATA)), ("v2", other, server.add("/o.tflite", other))):
        (releases / version).mkdir(parents=True)
        write_model(releases / version, "m", [pinned(data, sources=[url])])
    (releases / "current").symlink_to("v1")
    (zoo_env / "m.yaml").symlink_to(releases / "current" / "m.yaml")
    assert zoo.resolve("m", target="cpu").sha256 == SHA
    assert zoo.resolve("m", target="cpu").sha256 == SHA  # a warm hit
    (releases / "next").symlink_to("v2")
    (releases / "next").rename(releases / "current")
    assert zoo.resolve("m", target="cpu").path.read_bytes() == other
