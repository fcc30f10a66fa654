"""zoo.hub.push through huggingface_hub against a loopback server that records what a Hub would receive.

This exercises zoo's one Hub call (create_repo + create_commit) and huggingface_hub's client up to HTTP;
it is not the real Hub: its behaviour here is the few endpoints that call needs, answered the way the Hub
documents them (preupload modes, ndjson commit, revision info).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler

import pytest
from conftest import pinned, write_model
from loopback import Running

from zoo import publish
from zoo.hub import push


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub(Running):
    """Keeps one repo's files per branch, and every request (method, path, headers)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.commits: list[dict] = []
        self.validated: list[str] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.head = "0" * 40
        self.lock = threading.Lock()
        self._start(self._handler())

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _reply(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path, dict(self.headers)))
                if re.match(r"/api/models/[^/]+/[^/]+/revision/", self.path):
                    return self._reply({"id": "me/pub", "sha": hub.head, "siblings": [], "private": False})
                served = re.fullmatch(rf"/me/pub/resolve/{hub.head}/(.+)", self.path)
                if served and served.group(1) in hub.files:
                    data = hub.files[served.group(1)]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self._body()
                hub.requests.append(("POST", self.path, dict(self.headers)))
                if self.path == "/api/repos/create":
                    return self._reply({"url": f"{hub.base}/me/pub", "name": "me/pub"})
                if self.path == "/api/validate-yaml":
                    hub.validated.append(json.loads(body)["content"])
                    return self._reply({"errors": [], "warnings": []})
                if "/preupload/" in self.path:
                    files = json.loads(body)["files"]
                    return self._reply({"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                                   "oid": git_oid(hub.files[f["path"]]) if f["path"] in hub.files else None}
                                                  for f in files]})
                if "/commit/" in self.path:
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    added = {item["value"]["path"]: base64.b64decode(item["value"]["content"])
                             for item in lines if item["key"] == "file"}
                    with hub.lock:
                        hub.files.update(added)
                        hub.head = hashlib.sha1(json.dumps(sorted((p, git_oid(d)) for p, d in hub.files.items())).encode()).hexdigest()
                        hub.commits.append({"summary": lines[0]["value"]["summary"], "files": sorted(added)})
                    return self._reply({"commitUrl": f"{hub.base}/me/pub/commit/{hub.head}", "commitOid": hub.head})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.base)
        monkeypatch.setenv("HF_TOKEN", "hf_test_token_never_printed")
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield h


def test_push_uploads_everything_in_one_commit_and_is_a_no_op_the_second_time(zoo_env, server, hub):
    data = b"model bytes" * 100
    write_model(zoo_env, "m", [pinned(data, sources=[server.add("/m.tflite", data)])])
    plan = publish.plan("m", repo="me/pub")
    commit = push("me/pub", plan.uploads, "zoo publish m")
    assert [c["files"] for c in hub.commits] == [["README.md", "tiny.tflite", "zoo/m.yaml"]]
    assert hub.files["tiny.tflite"] == data and hub.files["README.md"].decode() == plan.card
    assert hub.validated[0] == plan.card, "huggingface_hub sends the card's metadata to the Hub for validation"
    assert commit == hub.head and re.fullmatch(r"[0-9a-f]{40}", commit)
    auth = {h.get("authorization") or h.get("Authorization") for m, p, h in hub.requests if m == "POST"}
    assert auth == {"Bearer hf_test_token_never_printed"}

    again = push("me/pub", publish.plan("m", repo="me/pub").uploads, "zoo publish m")
    assert again == commit and len(hub.commits) == 1, "the same content makes no new commit"


def test_cli_publish_records_the_commit_pinned_source(zoo_env, server, hub, tmp_path, monkeypatch):
    import os
    import subprocess
    import sys

    import zoo

    data = b"model bytes" * 100
    url = server.add("/m.tflite", data)
    write_model(zoo_env, "m", [pinned(data, sources=[url])])
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--repo", "me/pub", "--record", "--json"],
                          capture_output=True, text=True, env=os.environ, timeout=120)
    assert proc.returncode == 0, proc.stderr
    commit = json.loads(proc.stdout)["commit"]
    assert commit == hub.head and "hf_test_token_never_printed" not in proc.stdout + proc.stderr
    assert zoo.get("m").artifact("cpu-int8").sources == [f"hf://me/pub@{commit}/tiny.tflite", url]
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path / "fresh"))
    requests_before = len(server.requests)
    assert zoo.resolve("m", target="cpu").path.read_bytes() == data
    assert len(server.requests) == requests_before and ("GET", f"/me/pub/resolve/{commit}/tiny.tflite") in [
        (m, p) for m, p, _ in hub.requests]


def test_publish_with_no_hub_reachable_is_one_line(zoo_env, server, monkeypatch):
    import os
    import subprocess
    import sys

    from registry import free_port

    data = b"model bytes" * 100
    write_model(zoo_env, "m", [pinned(data, sources=[server.add("/m.tflite", data)])])
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_for_test")
    proc = subprocess.run([sys.executable, "-m", "zoo", "publish", "m", "--repo", "me/pub"],
                          capture_output=True, text=True, env=os.environ, timeout=120)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: network error: ConnectError"), proc.stderr
    assert "hf_secret_for_test" not in proc.stderr
