"""A real HTTP server on 127.0.0.1 that serves files and injects faults, for tests and benchmarks.

Each path has a list of behaviours consumed one per request (the last one repeats):
  ok          serve the file with an ETag (honours Range, If-Range; 416 past the end)
  corrupt     serve it with one byte flipped
  drop        send the headers and half the body, then close the connection
  status:N    answer HTTP N (e.g. status:503, with Retry-After: 0); status:N:V sends Retry-After: V
  reason:T    answer 403 with the reason phrase T (e.g. one holding terminal escape sequences)
  norange     serve it whole with 200 even when Range is asked
  stall:S     send half the body, then sleep S seconds before closing
  oversize    stream the file plus extra bytes with no Content-Length
  html        serve an HTML page instead of the file; html:T titles it T
  gdrive      serve Google Drive's download-confirmation form pointing at <path>?confirmed;
              gdrive:URL points the form at URL instead
  redirect:P  302 to path (or URL) P
  badgzip     send a body labelled Content-Encoding: gzip that is not gzip
  slow:S      serve it, sleeping S seconds between 64 KiB chunks
  hold        serve it once the test sets s.release (a threading.Event), at most 60 s later
  endless     a body that never ends (no Content-Length), until the client hangs up
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

GDRIVE_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p>Google Drive can't scan this file for viruses.</p>
<form id="download-form" action="{action}" method="get">
<input type="submit" value="Download anyway"/>
<input type="hidden" name="id" value="abc"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="1234-5678">
</form></body></html>"""


class Running:
    """A ThreadingHTTPServer on 127.0.0.1 running in a thread while inside `with`."""

    def _start(self, handler) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


class Server(Running):
    """Start with `with Server() as s:`; add files with s.add(path, data, *behaviours).

    s.requests lists (path, headers); s.bodies counts complete bodies per path; s.finished is when the last ended.
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.plans: dict[str, list[str]] = {}
        self.requests: list[tuple[str, dict]] = []
        self.bodies: Counter = Counter()
        self.finished: dict[str, float] = {}
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._start(_handler(self))

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, data: bytes, *behaviours: str) -> str:
        self.files[path] = data
        self.plans[path] = list(behaviours) or ["ok"]
        return self.url(path)

    def next_behaviour(self, path: str) -> str:
        with self._lock:
            plan = self.plans.get(path, ["ok"])
            return plan.pop(0) if len(plan) > 1 else plan[0]



def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            with server._lock:
                server.requests.append((self.path, dict(self.headers)))
            if parts.query.startswith(("confirmed", "id=abc")) and path in server.files:
                return self._serve(server.files[path], path)
            if path not in server.files:
                return self._status(404)
            data, how = server.files[path], server.next_behaviour(path)
            kind, _, arg = how.partition(":")
            if kind == "ok":
                self._serve(data, path)
            elif kind == "corrupt":
                self._serve(bytes([data[0] ^ 0xFF]) + data[1:], path)
            elif kind == "drop":
                self._partial(data, 0.0)
            elif kind == "stall":
                self._partial(data, float(arg))
            elif kind == "status":
                code, _, retry_after = arg.partition(":")
                self._status(int(code), retry_after or "0")
            elif kind == "reason":
                self.send_response(403, arg)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif kind == "norange":
                self._serve(data, path, ranges=False)
            elif kind == "oversize":
                self._oversize(data)
            elif kind == "html":
                self._html(f"<!DOCTYPE html><html><head><title>{arg or 'Sign in'}</title></head><body>login</body></html>")
            elif kind == "gdrive":
                self._html(GDRIVE_PAGE.format(action=arg or server.url(path)))
            elif kind == "badgzip":
                body = b"\x1f\x8b\x08\x00" + bytes(60)
                self.send_response(200)
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif kind == "redirect":
                self.send_response(302)
                self.send_header("Location", arg)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif kind == "slow":
                self._serve(data, path, delay=float(arg))
            elif kind == "hold":
                server.release.wait(60)
                self._serve(data, path)
            elif kind == "endless":
                self.send_response(200)
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    while True:
                        self.wfile.write(b"{" * 65536)
                except OSError:
                    self.close_connection = True
            else:
                raise ValueError(how)

        def _status(self, code: int, retry_after: str = "0") -> None:
            self.send_response(code)
            self.send_header("Retry-After", retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _html(self, page: str) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self, data: bytes, path: str, ranges: bool = True, delay: float = 0.0) -> None:
            start = 0
            rng = self.headers.get("Range")
            etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
            if_range = self.headers.get("If-Range")
            if ranges and rng and rng.startswith("bytes=") and rng.endswith("-") and if_range in (None, etag):
                start = int(rng[6:-1])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            view = memoryview(data)[start:]
            if delay:
                for i in range(0, len(view), 65536):
                    self.wfile.write(view[i : i + 65536])
                    time.sleep(delay)
            else:
                self.wfile.write(view)
            with server._lock:
                server.bodies[path] += 1
                server.finished[path] = time.time()

        def _partial(self, data: bytes, stall: float) -> None:
            self.send_response(200)
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()[:16]}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            time.sleep(stall)
            self.close_connection = True
            self.connection.shutdown(2)

        def _oversize(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data + os.urandom(1 << 16))
            self.close_connection = True

    return Handler


class StaticServer(Running):
    """A plain static file server for a folder on 127.0.0.1, like any web server in front of a mirror."""

    def __init__(self, folder):
        requests = self.requests = []  # the paths asked for (GET), in order

        class Quiet(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:
                pass

        self._start(functools.partial(Quiet, directory=str(folder)))
