"""Stand-ins for the parts of Cloud Run in front of the containers, for the all-modes scenario.

- `TimeoutProxy`: the frontend of a ready revision. It forwards bytes to an instance and ends
  every connection when it reaches the service's request timeout, without a close frame, as
  Cloud Run does to a WebSocket that outlives `--timeout`.
- `NoInstanceFrontend`: the frontend of a revision none of whose instances becomes ready. Each
  request starts an instance (the caller's `start_instance`; it crashes), is held while Cloud
  Run waits for it, and is aborted with 503; the request is recorded so the generator can write
  the request log Cloud Run would ("no available instance").
- `MemoryWatchdog`: the memory limit. It polls an instance's resident memory and kills it with
  SIGKILL past the limit, recording when and at what size, as Cloud Run's OOM kill does.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def _listen() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    return server


def free_closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Server:
    """Accept loop in a thread, one thread per connection, stopped by `stop()`."""

    def __init__(self) -> None:
        self._server = _listen()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def start(self) -> None:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(10)
        self._server.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        raise NotImplementedError


class TimeoutProxy(_Server):
    """Forwards to `upstream`; ends each connection `timeout_s` after it was accepted."""

    def __init__(self, upstream: str, timeout_s: float) -> None:
        super().__init__()
        host, _, port = upstream.removeprefix("http://").partition(":")
        self.upstream = (host, int(port))
        self.timeout_s = timeout_s

    def _serve(self, client: socket.socket) -> None:
        deadline = time.monotonic() + self.timeout_s
        with client, socket.create_connection(self.upstream) as upstream:
            peers = {client: upstream, upstream: client}
            while not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return  # the request timeout: both sides closed, no close frame
                readable, _, _ = select.select(list(peers), [], [], min(remaining, 0.1))
                for sock in readable:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        return
                    if not data:
                        return
                    try:
                        peers[sock].sendall(data)
                    except OSError:
                        return


@dataclass(frozen=True)
class HeldRequest:
    """A request the frontend held for an instance that never became ready, then aborted."""

    started_ns: int
    latency_s: float
    method: str
    path: str
    headers: dict[str, str]


class NoInstanceFrontend(_Server):
    """Each request starts an instance, waits up to `hold_s` for it, then answers 503."""

    def __init__(self, start_instance: Callable[[], None], hold_s: float) -> None:
        super().__init__()
        self.start_instance = start_instance
        self.hold_s = hold_s
        self.held: list[HeldRequest] = []
        self._lock = threading.Lock()

    def _serve(self, client: socket.socket) -> None:
        started_ns = time.time_ns()
        with client:
            client.settimeout(2.0)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            request_line, *header_lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
            method, _, rest = request_line.partition(" ")
            path = rest.partition(" ")[0]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in header_lines)
                if name
            }
            self.start_instance()
            gone = self._hold(client)
            latency = (time.time_ns() - started_ns) / 1e9
            with self._lock:
                self.held.append(HeldRequest(started_ns, latency, method, path, headers))
            if not gone:
                with contextlib.suppress(OSError):
                    client.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n"
                        b"connection: close\r\n\r\n"
                    )

    def _hold(self, client: socket.socket) -> bool:
        """Wait `hold_s` for an instance that will not come; True when the client gave up."""
        deadline = time.monotonic() + self.hold_s
        while (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([client], [], [], min(remaining, 0.1))
            if readable:
                try:
                    if not client.recv(4096):
                        return True
                except OSError:
                    return True
        return False


@dataclass(frozen=True)
class Kill:
    """When the watchdog killed the instance, and how much memory it held then."""

    at_ns: int
    used_mib: int
    limit_mib: int


class MemoryWatchdog:
    """Kills process `pid` with SIGKILL once its resident memory passes `limit_mib`."""

    def __init__(self, pid: int, limit_mib: int) -> None:
        self.pid = pid
        self.limit_mib = limit_mib
        self.kill: Kill | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        if _rss_mib(self.pid) is None:
            raise RuntimeError("cannot read /proc/<pid>/status: the watchdog needs Linux")
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(10)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            used = _rss_mib(self.pid)
            if used is None:
                return
            if used > self.limit_mib:
                os.kill(self.pid, signal.SIGKILL)
                self.kill = Kill(time.time_ns(), used, self.limit_mib)
                return
            time.sleep(0.005)


def _rss_mib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None
