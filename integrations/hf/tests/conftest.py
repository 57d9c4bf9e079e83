"""Fixtures: a private runs folder, a fake training run serving in it, and raw protocol clients. Everything a test
starts is ended in teardown."""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fake_run import FakeRun  # noqa: E402


class RawClient:
    """A protocol client on a bare socket: writes lines, reads lines with a deadline."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""
        self.eof = False

    def send(self, message: Any) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.sock.sendall(data)

    def line(self, timeout: float = 5.0) -> Optional[bytes]:
        """The next line (without its newline); None at end of stream; raises on timeout."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line from the server in time")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(1 << 20)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if not self.buffer:
                    return None
                raise AssertionError(f"stream ended inside a line: {self.buffer[:200]!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def message(self, timeout: float = 5.0) -> Optional[Dict[str, Any]]:
        """The next message, decoded the way loratop decodes (non-finite floats are strings, never bare)."""
        line = self.line(timeout)
        if line is None:
            return None

        def bare(name: str) -> Any:
            raise AssertionError(f"bare {name} on the wire")

        return json.loads(line, parse_constant=bare)

    def until(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 5.0) -> List[Dict[str, Any]]:
        """Messages up to and including the first one `predicate` accepts."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            m = self.message(max(0.01, deadline - time.monotonic()))
            if m is None:
                raise AssertionError(f"connection closed before the awaited message; saw {[x['type'] for x in seen]}")
            seen.append(m)
            if predicate(m):
                return seen

    def closed_within(self, timeout: float = 5.0) -> bool:
        """Reads (and discards) until end of stream; True when the server closed the connection in time."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.line(max(0.01, deadline - time.monotonic())) is None:
                    return True
        except TimeoutError:
            return False
        return False

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def runtime_dir(tmp_path, monkeypatch) -> str:
    """A private XDG_RUNTIME_DIR (0700) for this test."""
    d = tmp_path / "xdg"
    d.mkdir(mode=0o700)
    os.chmod(d, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    return str(d)


@pytest.fixture
def make_run(runtime_dir, tmp_path) -> Iterator[Callable[..., FakeRun]]:
    """Starts fake runs in the private runs folder; every one is halted (thread joined, server closed) afterwards."""
    runs: List[FakeRun] = []

    def make(**options: Any) -> FakeRun:
        out = tmp_path / f"out{len(runs)}"
        run = FakeRun(os.path.join(runtime_dir, "loratop"), str(out), **options)
        runs.append(run)
        return run.start()

    try:
        yield make
    finally:
        for run in runs:
            run.halt()


@pytest.fixture
def run(make_run) -> FakeRun:
    return make_run()


@pytest.fixture
def connect() -> Iterator[Callable[[FakeRun], RawClient]]:
    """Raw clients to a run's socket; all closed afterwards."""
    clients: List[RawClient] = []

    def open_client(run: FakeRun) -> RawClient:
        c = RawClient(run.server.socket_path)
        clients.append(c)
        return c

    try:
        yield open_client
    finally:
        for c in clients:
            c.close()
