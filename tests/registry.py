"""Debian's docker-registry (the reference `distribution` server) on 127.0.0.1, one storage folder and port each."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests
from loopback import Running

BINARY = shutil.which("docker-registry")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """`with Registry(folder, users={"alice": "pw"}) as r:` serves r.address (host:port) until the block ends.

    `host` sets the registry's own idea of its URL (`http.host`), from which it builds the Location of uploads: a
    registry behind a TLS-terminating proxy configured with http:// here sends clients to plain http."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None, host: str | None = None):
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
{f"  host: {host}" + chr(10) if host else ""}{auth}""")

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


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class TLSProxy:
    """A TLS-terminating proxy on 127.0.0.1 in front of a plain-http backend, like the one a registry sits behind.

    A connection that does not start a TLS handshake is not forwarded: its first bytes are kept in `plaintext` (what
    a client sent in clear, credentials included) and it is closed."""

    def __init__(self, backend_port: int, cert: Path, key: str | Path, port: int = 0):
        import socket as _socket
        import ssl
        import threading

        self.backend_port, self.plaintext, self.connections = backend_port, [], 0
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        self.listener = _socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stop = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop = True
        self.listener.close()

    def _serve(self) -> None:
        import threading

        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        import socket as _socket
        import threading

        try:
            first = conn.recv(1, _socket.MSG_PEEK)
            if first != b"\x16":
                conn.settimeout(2)
                data = b""
                try:
                    while len(data) < 65536 and (chunk := conn.recv(65536)):
                        data += chunk
                        if b"\r\n\r\n" in data:
                            break
                except OSError:
                    pass
                self.plaintext.append(data)
                conn.close()
                return
            tls = self.context.wrap_socket(conn, server_side=True)
            self.connections += 1
            backend = _socket.create_connection(("127.0.0.1", self.backend_port))
        except OSError:
            conn.close()
            return

        def pump(src, dst):
            try:
                while chunk := src.recv(65536):
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(_socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(backend, tls), daemon=True).start()
        pump(tls, backend)


class BearerChallenge(Running):
    """A stand-in for a registry whose login is a bearer token (GHCR, Docker Hub): every /v2/ request is answered 401
    with a challenge naming `realm`, as the distribution spec says. Debian's registry cannot do token auth without a
    token service of its own, and the tests only need what zoo does with the challenge and the token answer."""

    def __init__(self, realm: str):
        from http.server import BaseHTTPRequestHandler

        outer = self
        self.realm, self.requests = realm, []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers)))
                self.send_response(401)
                self.send_header("WWW-Authenticate", f'Bearer realm="{outer.realm}",service="zoo-tests"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = _answer

        self._start(Handler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"
