"""A real webhook receiver for tests: an HTTP/1.1 server on 127.0.0.1 in a thread that records every
delivery, can fail the first N requests, can be slow, and notices when one delivery is in flight twice
at once."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict
    body: bytes
    at: float  # time.time() when it arrived
    status: int  # what the receiver answered

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["X-Event-Id"]


class Receiver:
    def __init__(self, fail_first: int = 0, status: int = 500, delay: float = 0.0):
        self.fail_first = fail_first
        self.status = status
        self.delay = delay
        self.received: list[Received] = []
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []  # delivery ids that arrived while the same delivery was being received
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 -- http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: not a delivery, and nobody awaits an answer
                    self.close_connection = True
                    return
                key = self.headers.get("X-Delivery-Id", "")
                with outer.lock:
                    if key in outer.in_flight:
                        outer.overlaps.append(key)
                    outer.in_flight.add(key)
                    failing = outer.fail_first > 0
                    if failing:
                        outer.fail_first -= 1
                if outer.delay:
                    time.sleep(outer.delay)
                status = outer.status if failing else 204
                with outer.lock:
                    outer.in_flight.discard(key)
                    outer.received.append(Received({k: v for k, v in self.headers.items()}, body, time.time(), status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def accepted(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.status == 204]

    def wait_for(self, count: int, seconds: float = 20) -> list[Received]:
        """The accepted deliveries once there are ``count`` (bounded: AssertionError after ``seconds``)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = self.accepted()
            if len(got) >= count:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{len(self.accepted())} of {count} deliveries arrived within {seconds} s")
