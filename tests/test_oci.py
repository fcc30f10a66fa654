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
from zoo import oci, sources
from zoo.errors import FetchFailed

pytestmark = pytest.mark.skipif(BINARY is None, reason="docker-registry is not installed (apt-get install docker-registry apache2-utils)")
DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


def zoo_cli(*args: str, env_mirrors: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"ZOO_MIRRORS": env_mirrors} if env_mirrors is not None else {})}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=120, env=env)


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
        sources.parse_oci("oci://Registry.example/UPPER/case")


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


def test_an_https_registry_sending_uploads_to_plain_http_gets_no_credentials_in_clear(model, tmp_path, monkeypatch):
    """The real registry behind a TLS-terminating proxy, but configured as served at http:// (a common mistake): its
    upload Location points at plain http on the proxy's own host and port. zoo reaches loopback registries over http,
    so the client is pointed at the proxy's https address explicitly."""
    from registry import TLSProxy, free_port, self_signed

    from zoo.progress import Progress
    from zoo.publish import plan

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    port = free_port()
    ref = sources.parse_oci(f"127.0.0.1:{port}/zoo/m")
    monkeypatch.setenv("ZOO_REGISTRY_HOST", ref.registry)
    monkeypatch.setenv("ZOO_REGISTRY_USERNAME", "alice")
    monkeypatch.setenv("ZOO_REGISTRY_PASSWORD", "s3cret-pw")
    with Registry(tmp_path / "reg", users={"alice": "s3cret-pw"}, host=f"http://127.0.0.1:{port}") as reg, \
            TLSProxy(reg.port, cert, key, port=port) as proxy:
        with pytest.raises(zoo.ZooError, match=rf"sent zoo to 'http://127\.0\.0\.1:{port}/v2/zoo/m/blobs/uploads/.*plain http"):
            oci.push(ref, plan("m"), Progress(), base=f"https://{ref.registry}")
        assert proxy.plaintext == []  # nothing reached the https port in clear, so no password either
        assert proxy.connections > 0  # the client did talk to the registry, over TLS


@pytest.mark.parametrize("answer", ["dead", "html", "list", "endless", "no-token"])
def test_a_bad_token_service_is_one_failed_source(answer, zoo_env, server, tmp_path, monkeypatch):
    """Whatever the token service does (down, an HTML page, a JSON list, a body without end, no token in it), the
    registry is one failed source and the next source serves the file."""
    from registry import BearerChallenge, free_port

    bodies = {"html": (b"<html><body>sign in</body></html>", "html"), "list": (b"[1, 2, 3]", "ok"),
              "endless": (b"", "endless"), "no-token": (b'{"token": 5}', "ok")}
    realm = f"http://127.0.0.1:{free_port()}/token" if answer == "dead" else server.add("/token", *bodies[answer])
    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    with BearerChallenge(realm) as reg:
        monkeypatch.setenv("ZOO_MIRRORS", f"oci://{reg.address}/zoo")
        proc = zoo_cli("fetch", "m", "-t", "cpu")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert open(proc.stdout.strip(), "rb").read() == DATA
    (warning,) = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert "token service" in warning and "oci://" in warning


def test_passwords_go_to_the_named_registry_alone_and_never_to_a_token_service_on_another_host(zoo_env, server,
                                                                                             monkeypatch):
    from registry import BearerChallenge

    write_model(zoo_env, "m", [pinned(DATA, sources=[server.add("/m.tflite", DATA)])])
    realm = server.add("/token", b'{"token": "anonymous-token"}').replace("127.0.0.1", "localhost")
    monkeypatch.setenv("ZOO_REGISTRY_USERNAME", "alice")
    monkeypatch.setenv("ZOO_REGISTRY_PASSWORD", "s3cret-pw")
    with BearerChallenge(realm) as reg:
        monkeypatch.setenv("ZOO_MIRRORS", f"oci://{reg.address}/zoo")
        unscoped = zoo_cli("fetch", "m", "-t", "cpu")
        assert unscoped.returncode == 1 and unscoped.stderr.splitlines() == [
            "error: ZOO_REGISTRY_USERNAME and ZOO_REGISTRY_PASSWORD are set but ZOO_REGISTRY_HOST is not (set "
            "ZOO_REGISTRY_HOST to the registry (host[:port]) they are for: they are sent to it alone)"]
        monkeypatch.setenv("ZOO_REGISTRY_HOST", reg.address)
        scoped = zoo_cli("fetch", "m", "-t", "cpu")
        assert scoped.returncode == 0, scoped.stderr
        token_requests = [h for p, h in server.requests if p.startswith("/token")]
        assert token_requests and all("Authorization" not in h and "authorization" not in h for h in token_requests)
        assert all(h.get("Authorization") in (None, "Bearer anonymous-token") for _, _, h in reg.requests)


@pytest.mark.parametrize(("mirrors", "says"), [
    ("oci://ghcr.io/Acme/zoo", "is not oci://REGISTRY/PATH with a lowercase path"),
    ("oci://alice:pw@registry.example/zoo", "carries credentials, which zoo never takes from a URL"),
    ("http://127.0.0.1:1/a\\b", "is not a usable URL"),
    ("https://mirror.example/\x9bzoo", "is not a usable URL")])
def test_bad_mirror_prefixes_are_one_line_naming_the_variable(mirrors, says, zoo_env):
    proc = zoo_cli("fetch", "deeplabv3", "-t", "cpu", env_mirrors=mirrors)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "pw" not in proc.stderr.replace("ZOO_REGISTRY_PASSWORD", "")
    (line,) = proc.stderr.splitlines()
    assert line.startswith("error: ZOO_MIRRORS entry ") and says in line


def test_an_unreadable_docker_config_is_no_credentials(model, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg", users={"alice": "s3cret-pw"}) as reg:
        (tmp_path / "docker").mkdir()
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
        for config in ('{"auths": []}', '{"auths": {"%s": []}}' % reg.address, "[", '{"auths": {"%s": {"auth": 5}}}' % reg.address):
            (tmp_path / "docker" / "config.json").write_text(config)
            proc = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m")
            assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
            assert proc.stderr.startswith(f"error: registry {reg.address} needs a login")


def test_a_rejected_password_says_so_and_publish_prints_what_to_paste(model, tmp_path, monkeypatch):
    with Registry(tmp_path / "reg", users={"alice": "s3cret-pw"}) as reg:
        monkeypatch.setenv("ZOO_REGISTRY_HOST", reg.address)
        monkeypatch.setenv("ZOO_REGISTRY_USERNAME", "alice")
        monkeypatch.setenv("ZOO_REGISTRY_PASSWORD", "wrong")
        proc = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m")
        assert proc.returncode == 1 and "wrong" not in proc.stderr
        assert proc.stderr.startswith(f"error: registry {reg.address} rejected the credentials of alice")
        monkeypatch.setenv("ZOO_REGISTRY_PASSWORD", "s3cret-pw")
        proc = zoo_cli("publish", "m", "--oci", f"{reg.address}/zoo/m")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"oci://{reg.address}/zoo\n"
        assert f"{reg.address}/zoo/m:cpu-int8: sent 4 blob(s) and 1 manifest(s) the registry did not have" in proc.stderr
        assert f"to fetch through this registry first: ZOO_MIRRORS=oci://{reg.address}/zoo" in proc.stderr
        monkeypatch.setenv("ZOO_MIRRORS", proc.stdout.strip())  # pasted as printed
        monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
        write_model(model.parent, "m", [pinned(DATA, sources=["https://nowhere.invalid/m.tflite"])])
        assert zoo.resolve("m", target="cpu").path.read_bytes() == DATA
