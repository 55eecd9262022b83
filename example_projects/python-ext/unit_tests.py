"""Unit tests of the C extension (against zlib and bytes.split) and of the service. The
Dockerfile's test stage runs them on the extension it has just built:
``python3 -m unittest -v unit_tests``. (Not named test_*.py: pytest on the host, where the
extension is not built, leaves it alone.)"""

from __future__ import annotations

import http.client
import json
import threading
import unittest
import zlib
from http.server import ThreadingHTTPServer

import fastsum
import server

SAMPLES = [
    b"",
    b"a",
    b"Wikipedia",
    bytes(range(256)) * 64,
    b"\xff" * 100_000,  # the worst case for the sums' overflow
    b"0123456789" * 20_000,  # above the size where the GIL is released
]
TEXTS = [
    b"",
    b"   ",
    b"one",
    b"two words",
    b"  leading and trailing  \n",
    b"tabs\tnewlines\nreturns\r\nvertical\x0btabs\x0cfeeds",
    b"\x00nul\x00is\x00not\x00a\x00space",
    "caf\u00e9 na\u00efve \u2014 utf-8".encode(),
    b"lorem ipsum dolor " * 10_000,
]


class Adler32Test(unittest.TestCase):
    def test_known_value(self) -> None:
        self.assertEqual(fastsum.adler32(b"Wikipedia"), 0x11E60398)

    def test_matches_zlib(self) -> None:
        for data in SAMPLES:
            with self.subTest(size=len(data)):
                self.assertEqual(fastsum.adler32(data), zlib.adler32(data))

    def test_continues_from_a_value(self) -> None:
        self.assertEqual(fastsum.adler32(b"world", fastsum.adler32(b"hello ")), zlib.adler32(b"hello world"))

    def test_takes_any_bytes_like_object(self) -> None:
        expected = zlib.adler32(b"bytes-like")
        for data in (bytearray(b"bytes-like"), memoryview(b"xxbytes-likexx")[2:-2]):
            with self.subTest(type=type(data).__name__):
                self.assertEqual(fastsum.adler32(data), expected)

    def test_refuses_text(self) -> None:
        with self.assertRaises(TypeError):
            fastsum.adler32("text")  # type: ignore[arg-type]


class WordCountTest(unittest.TestCase):
    def test_matches_bytes_split(self) -> None:
        for text in TEXTS:
            with self.subTest(text=text[:40]):
                self.assertEqual(fastsum.word_count(text), len(text.split()))

    def test_refuses_text(self) -> None:
        with self.assertRaises(TypeError):
            fastsum.word_count("text")  # type: ignore[arg-type]


class ServiceTest(unittest.TestCase):
    httpd: ThreadingHTTPServer

    @classmethod
    def setUpClass(cls) -> None:
        cls.httpd = ThreadingHTTPServer(("127.0.0.1", 0), server.Handler)
        threading.Thread(target=cls.httpd.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.httpd.shutdown()
        cls.httpd.server_close()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.httpd.server_address[1], timeout=5)
        try:
            connection.request(method, path, body, headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def test_health(self) -> None:
        self.assertEqual(self.request("GET", "/health")[::2], (200, b"ok"))

    def test_checksum_of_the_body(self) -> None:
        status, headers, body = self.request("POST", "/checksum", b"hello checksum world")
        self.assertEqual((status, headers["Content-Type"]), (200, "application/json"))
        expected = {"bytes": 20, "words": 3, "adler32": zlib.adler32(b"hello checksum world")}
        self.assertEqual(json.loads(body), expected)

    def test_version_without_a_stamp(self) -> None:
        status, _, body = self.request("GET", "/version")
        self.assertEqual((status, json.loads(body)["version"]), (200, "unstamped"))

    def test_wrong_method_and_unknown_path(self) -> None:
        status, headers, _ = self.request("GET", "/checksum")
        self.assertEqual((status, headers["Allow"]), (405, "POST"))
        self.assertEqual(self.request("GET", "/nope")[0], 404)

    def test_too_large_a_body(self) -> None:
        # Only the header: the server answers before reading a body.
        too_long = {"Content-Length": str(server.MAX_BODY + 1)}
        self.assertEqual(self.request("POST", "/checksum", headers=too_long)[0], 413)


if __name__ == "__main__":
    unittest.main()
