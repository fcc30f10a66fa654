"""Debian's docker-registry (the reference `distribution` server) on 127.0.0.1, one storage folder and port each."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

BINARY = shutil.which("docker-registry")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """`with Registry(folder, users={"alice": "pw"}) as r:` serves r.address (host:port) until the block ends."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.storage = folder / "storage"
        auth = ""
        if users:
            htpasswd = folder / "htpasswd"
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["htpasswd", "-B", "-b", *(["-c"] if i == 0 else []), str(htpasswd), user, password],
                               check=True, capture_output=True)
            auth = f"auth:\n  htpasswd:\n    realm: zoo-tests\n    path: {htpasswd}\n"
        self.config = folder / "config.yml"
        self.config.write_text(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {self.storage}
http:
  addr: 127.0.0.1:{self.port}
  secret: zoo-tests
{auth}""")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self.process = subprocess.Popen([BINARY, "serve", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://{self.address}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"docker-registry did not start: {self.process.stderr.read().decode()[-500:]}")

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def blob_path(self, repository: str, digest: str) -> Path:
        """Where the filesystem driver keeps a blob's bytes (docker/distribution's storage layout)."""
        algorithm, hexdigest = digest.split(":")
        return self.storage / "docker/registry/v2/blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
