"""The body limit holds before a body is read: a request announcing more than the limit is refused at
once (413) without the server reading or spooling it, and a chunked body is counted as it streams."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.http import free_port, wait_until_up

pytestmark = pytest.mark.server
EXE = str(Path(sys.executable).parent / "diagnosis-service")


@pytest.fixture()
def small_limit_server(tmp_path):
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}", "DIAGNOSIS_VAR": str(tmp_path / "var"),
           "DIAGNOSIS_MAX_BODY_MB": "1", "DIAGNOSIS_LOG_LEVEL": "ERROR"}
    subprocess.run([EXE, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=60)
    port = free_port()
    server = subprocess.Popen([EXE, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_until_up(f"http://127.0.0.1:{port}")
    yield port
    server.terminate()
    server.wait(timeout=30)


def exchange(port: int, head: bytes, body_chunks=(), pause: float = 0.0) -> bytes:
    """Send a raw request; the first bytes of the answer (bounded by a 10 s timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
                if pause:
                    time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the body and closed: the answer is already there
        return s.recv(4096)


def test_an_announced_huge_body_is_refused_before_it_is_sent(small_limit_server):
    head = (b"PUT /v1/periods/2025-12/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer ds_x\r\nContent-Length: 900000000\r\n\r\n")
    start = time.perf_counter()
    answer = exchange(small_limit_server, head)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert time.perf_counter() - start < 2, "answered without waiting for 900 MB"


def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(small_limit_server):
    head = (b"PUT /v1/periods/2025-12/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer ds_x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
    answer = exchange(small_limit_server, head, [chunk] * 40)  # 2.5 MB against a 1 MB limit
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


def test_a_body_within_the_limit_is_read(small_limit_server):
    body = b'{"period": "2025-12"}'
    head = (b"POST /v1/diagnoses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer ds_nope\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    assert exchange(small_limit_server, head, [body]).startswith(b"HTTP/1.1 401")
