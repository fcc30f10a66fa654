"""OCI registries as a hub, against Debian's real docker-registry on 127.0.0.1 (never a stand-in)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys

import pytest
import requests
import yaml
from conftest import pinned, write_model
from registry import BINARY, Registry

import zoo
from zoo import oci
from zoo.errors import FetchFailed

pytestmark = pytest.mark.skipif(BINARY is None, reason="docker-registry is not installed (apt-get install docker-registry apache2-utils)")
DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def zoo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=os.environ)


@pytest.fixture
def model(zoo_env, server):
    """Model m with one published artifact served by the loopback web server, and its bytes in the cache."""
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    zoo.resolve("m", target="cpu")
    return zoo_env / "m.yaml"


def fresh_fetch(monkeypatch, tmp_path, name: str = "fresh") -> zoo.Resolved:
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / name))
    return zoo.resolve("m", target="cpu")


def test_publish_then_fetch_from_the_registry_alone(model, server, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg") as reg:
        proc = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m", "--record", "--json")
        assert proc.returncode == 0, proc.stderr
        (pushed,) = json.loads(proc.stdout)["oci"]
        assert (pushed["tag"], pushed["blob"]) == ("cpu-int8", f"sha256:{SHA}")
        assert yaml.safe_load(model.read_text())["artifacts"][0]["sources"][0] == f"oci://{reg.address}/zoo/m"
        manifest = requests.get(f"http://{reg.address}/v2/zoo/m/manifests/cpu-int8",
                                headers={"Accept": oci.MANIFEST_TYPE}).json()
        assert manifest["artifactType"] == oci.ARTIFACT_TYPE and manifest["config"]["mediaType"] == oci.CONFIG_TYPE
        titles = {layer["annotations"]["org.opencontainers.image.title"]: layer["mediaType"] for layer in manifest["layers"]}
        assert titles == {"tiny.tflite": oci.WEIGHT_TYPE, "README.md": oci.DOC_TYPE, "m.yaml": oci.DOC_TYPE}
        requests_before = len(server.requests)
        r = fresh_fetch(monkeypatch, tmp_path)
        assert r.path.read_bytes() == DATA and len(server.requests) == requests_before  # only the registry served it


def test_publishing_twice_pushes_nothing_again(model, tmp_path):
    with Registry(tmp_path / "reg") as reg:
        first = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m", "--json")
        second = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m", "--json")
        assert first.returncode == second.returncode == 0, first.stderr + second.stderr
        assert sorted(json.loads(first.stdout)["oci"][0]["pushed"]) == sorted(
            ["tiny.tflite", "config.json", "README.md", "m.yaml", "manifest:cpu-int8"])
        assert json.loads(second.stdout)["oci"][0]["pushed"] == []


def test_basic_auth_with_credentials_from_docker_config(model, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg", users={"alice": "s3cret-pw"}) as reg:
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        denied = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m")
        assert denied.returncode == 1 and f"docker login {reg.address}" in denied.stderr
        (tmp_path / "docker").mkdir()
        (tmp_path / "docker" / "config.json").write_text(json.dumps(
            {"auths": {reg.address: {"auth": base64.b64encode(b"alice:s3cret-pw").decode()}}}))
        proc = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m", "--record")
        assert proc.returncode == 0 and "s3cret" not in proc.stdout + proc.stderr, proc.stderr
        assert fresh_fetch(monkeypatch, tmp_path).path.read_bytes() == DATA
        text = yaml.safe_load(model.read_text())
        text["artifacts"][0]["sources"] = [f"oci://{reg.address}/zoo/m"]
        model.write_text(yaml.safe_dump(text))
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nobody"))
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh2"))
        with pytest.raises(FetchFailed, match=f"registry {reg.address} needs a login .*docker login {reg.address}"):
            zoo.resolve("m", target="cpu")


def test_a_blob_tampered_in_the_registry_is_refused_and_nothing_cached(model, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg") as reg:
        assert zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m", "--record").returncode == 0
        blob = reg.blob_path("zoo/m", f"sha256:{SHA}")
        blob.write_bytes(DATA[:-1] + b"\x00")
        text = yaml.safe_load(model.read_text())
        text["artifacts"][0]["sources"] = [f"oci://{reg.address}/zoo/m"]
        model.write_text(yaml.safe_dump(text))
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
        with pytest.raises(FetchFailed, match="sha256 mismatch"):
            zoo.resolve("m", target="cpu")
        assert not (tmp_path / "fresh" / "blobs").exists()


def test_a_dead_registry_falls_through_to_the_next_source(model, server, tmp_path, monkeypatch):
    from registry import free_port

    text = yaml.safe_load(model.read_text())
    text["artifacts"][0]["sources"].insert(0, f"oci://127.0.0.1:{free_port()}/zoo/m")
    model.write_text(yaml.safe_dump(text))
    with pytest.warns(zoo.ZooWarning, match="did not answer"):
        assert fresh_fetch(monkeypatch, tmp_path).path.read_bytes() == DATA


def test_oci_mirror_prefix_and_missing_blob(model, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg") as reg:
        assert zoo_cli("publish", "m", "--oci", f"{reg.address}/mirror/m").returncode == 0
        monkeypatch.setenv("ZOO_MIRRORS", f"oci://{reg.address}/mirror")
        text = yaml.safe_load(model.read_text())
        text["artifacts"][0]["sources"] = [f"oci://{reg.address}/elsewhere/m"]
        model.write_text(yaml.safe_dump(text))
        assert fresh_fetch(monkeypatch, tmp_path).path.read_bytes() == DATA
        monkeypatch.setenv("ZOO_MIRRORS", "")
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh2"))
        with pytest.raises(FetchFailed, match=f"registry {reg.address} has no blob sha256:{SHA} in elsewhere/m"):
            zoo.resolve("m", target="cpu")


def test_https_unless_loopback_or_named(monkeypatch):
    assert oci.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert oci.base_url("ghcr.io") == "https://ghcr.io"
    monkeypatch.setenv("ZOO_OCI_INSECURE", "factory-registry:5000")
    assert oci.base_url("factory-registry:5000") == "http://factory-registry:5000"
    with pytest.raises(ValueError):
        oci.parse("oci://Registry.example/UPPER/case")


def test_deeplabv3_published_to_a_registry_then_fetched_from_it_alone(coral, zoo_env, tmp_path, monkeypatch):
    """The README's flow on the real manifest and Google's real file; the manifest copy lives in ZOO_MANIFESTS."""
    import shutil

    from conftest import REPO
    from loopback import StaticServer

    (zoo_env / "deeplabv3.yaml").write_text((REPO / "manifests" / "deeplabv3.yaml").read_text())
    (tmp_path / "mirror" / "deeplabv3").mkdir(parents=True)
    shutil.copyfile(coral / "deeplabv3_mnv2_dm05_pascal_quant.tflite",
                    tmp_path / "mirror" / "deeplabv3" / "deeplabv3_mnv2_dm05_pascal_quant.tflite")
    with Registry(tmp_path / "reg") as reg:
        with StaticServer(tmp_path / "mirror") as mirror:  # only to fill the publisher's cache
            monkeypatch.setenv("ZOO_MIRRORS", mirror.base)
            zoo.resolve("deeplabv3", target="cpu")
            proc = zoo_cli("publish", "deeplabv3", "--oci", f"{reg.address}/zoo/deeplabv3", "--target", "cpu", "--record")
            assert proc.returncode == 0, proc.stderr
        monkeypatch.delenv("ZOO_MIRRORS")
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
        cpu = next(a for a in yaml.safe_load((zoo_env / "deeplabv3.yaml").read_text())["artifacts"] if a["id"] == "cpu-uint8")
        assert cpu["sources"][0] == f"oci://{reg.address}/zoo/deeplabv3"
        fetched = zoo_cli("fetch", "deeplabv3", "--target", "cpu")
    assert fetched.returncode == 0, fetched.stderr
    assert hashlib.sha256(open(fetched.stdout.strip(), "rb").read()).hexdigest() == cpu["sha256"]
