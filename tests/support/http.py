"""Talking to a real server process over HTTP on 127.0.0.1 (no client library: urllib)."""

import json
import socket
import time
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, token=None, method="GET", body=None, timeout: float = 30):
    """(status, headers, JSON body) of one request; an HTTP error is an answer, not an exception."""
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        text = err.read()
        try:
            return err.code, err.headers, json.loads(text)
        except ValueError:
            return err.code, err.headers, text.decode("utf-8", "replace")


def wait_until_up(base: str, seconds: float = 20) -> None:
    """Until /healthz answers (bounded)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{base} did not come up within {seconds} s")
