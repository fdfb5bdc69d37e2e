"""A TCP proxy on 127.0.0.1 in front of a database, that a test can freeze (connections stay open, nothing
passes: a hung server) or take down (connections closed, new ones refused) and bring back."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.port = 0
        self._threads: list[threading.Thread] = []
        self.up()

    # ---------------------------------------------------------------- states

    def up(self) -> None:
        """Listen (again, on the same port) and pass data."""
        self.frozen.clear()
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def freeze(self) -> None:
        """Keep every connection open and accept new ones, but pass nothing: a server that hangs."""
        self.frozen.set()

    def down(self) -> None:
        """Close every connection and stop listening: a server that is down (connections refused)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
        self.frozen.clear()

    def close(self) -> None:
        self._stop.set()
        self.down()
        for thread in self._threads:
            thread.join(timeout=2)

    # ---------------------------------------------------------------- plumbing

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set() and self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            thread = threading.Thread(target=self._pump, args=(client, server), daemon=True)
            thread.start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        deadline = time.monotonic() + 600  # bounded: no test runs this long
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                if self.frozen.is_set():
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.1)
                for s in ready:
                    if self.frozen.is_set():
                        break
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except (OSError, ValueError):
            # down() closes the sockets under this thread: select() then sees fileno -1 (ValueError)
            return
        finally:
            for s in (client, server):
                with contextlib.suppress(OSError):
                    s.close()
