"""The python-ext service: the C extension ``fastsum`` over HTTP, standard library only.

| request | response |
| --- | --- |
| ``GET /health`` | ``200 ok`` |
| ``POST /checksum`` (any body up to 1 MiB) | ``200`` JSON ``{"bytes": n, "words": w, "adler32": a}`` |
| ``GET /version`` | ``200`` JSON ``{"version": "1.0.0", "python": "3.11.2"}`` |

It listens on port 8080 (``PORT`` overrides it). ``python3 server.py --probe`` GETs its own
``/health`` and exits 0 when it answers (the image's HEALTHCHECK).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import sys
import urllib.request
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import fastsum

DEFAULT_PORT = 8080
MAX_BODY = 1 << 20
VERSION_FILE = Path(__file__).with_name("VERSION")  #: written by the Dockerfile's release stage
ROUTES = {"/health": "GET", "/version": "GET", "/checksum": "POST"}


def version() -> str:
    """The version the release build stamped, or ``unstamped``."""
    try:
        return VERSION_FILE.read_text().strip()
    except FileNotFoundError:
        return "unstamped"


def checksum(body: bytes) -> dict[str, int]:
    """What ``POST /checksum`` answers for ``body``."""
    return {"bytes": len(body), "words": fastsum.word_count(body), "adler32": fastsum.adler32(body)}


class Handler(BaseHTTPRequestHandler):
    server_version = "python-ext/1.0"

    def do_GET(self) -> None:
        path = self._route("GET")
        if path == "/health":
            self._send(HTTPStatus.OK, b"ok", "text/plain; charset=utf-8")
        elif path == "/version":
            self._json({"version": version(), "python": platform.python_version()})

    def do_POST(self) -> None:
        if self._route("POST") is None:
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self._send(HTTPStatus.LENGTH_REQUIRED, b"send a Content-Length\n")
        elif int(length) > MAX_BODY:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes\n".encode())
        else:
            self._json(checksum(self.rfile.read(int(length))))

    def _route(self, method: str) -> str | None:
        """The request's path if this method serves it; otherwise answer 404 or 405 and return None."""
        path = urlsplit(self.path).path
        if path not in ROUTES:
            self._send(HTTPStatus.NOT_FOUND, f"no such path: {path}\n".encode())
            return None
        if ROUTES[path] != method:
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {ROUTES[path]}\n".encode(), allow=ROUTES[path])
            return None
        return path

    def _json(self, document: Mapping[str, object]) -> None:
        self._send(HTTPStatus.OK, json.dumps(document).encode(), "application/json")

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8", allow: str = ""
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", allow)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def probe(port: int) -> int:
    """0 if ``GET /health`` on this host answers 200, else 1 (with the reason on stderr)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return 0 if response.status == HTTPStatus.OK else 1
    except OSError as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # docker stop: PID 1 has no default SIGTERM action


def main(argv: list[str]) -> int:
    port = int(os.environ.get("PORT") or DEFAULT_PORT)
    if argv == ["--probe"]:
        return probe(port)
    if argv:
        print(f"usage: {sys.argv[0]} [--probe]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    with ThreadingHTTPServer(("", port), Handler) as server:
        print(f"python-ext {version()} listening on port {port}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
