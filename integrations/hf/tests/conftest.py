"""Fixtures: a private runs folder, a fake training run serving in it, and raw protocol clients. Everything a test
starts is ended in teardown."""

from __future__ import annotations

import json
import os
import select
import socket
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fake_run import FakeRun  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "loratop")
#: loratop's sample model (`loratop fetch-model smollm2`) and the fp32 Hugging Face folder made of it.
GGUF = os.path.join(CACHE, "SmolLM2-135M-Instruct.Q4_1.gguf")
FOLDER = os.path.join(CACHE, "SmolLM2-135M-Instruct-hf")


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


@pytest.fixture(scope="session")
def model_folder() -> str:
    """The fp32 Hugging Face folder of the sample model, made once (about a minute) by examples/make_model_folder.py
    and kept in the cache; skipped when neither it nor the sample GGUF is there."""
    if not os.path.isdir(FOLDER):
        if not os.path.isfile(GGUF):
            pytest.skip(f"the sample model is not there ({GGUF}; `loratop fetch-model smollm2`)")
        pytest.importorskip("gguf", reason="gguf (transformers reads GGUF files with it) is not installed")
        import subprocess

        made = subprocess.run([sys.executable, os.path.join(ROOT, "integrations", "hf", "examples",
                                                            "make_model_folder.py"), GGUF, FOLDER],
                              capture_output=True, text=True, timeout=900)
        assert made.returncode == 0, made.stderr[-3000:]
    return FOLDER


LORATOP = os.path.join(ROOT, ".build", "release", "loratop")
EXAMPLE = os.path.join(ROOT, "integrations", "hf", "examples", "train_lora.py")
TRAIN = os.path.join(ROOT, "sample-data", "tags-train.jsonl")
EVAL = os.path.join(ROOT, "sample-data", "tags-eval.jsonl")


def loratop(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """The loratop binary, to completion."""
    return subprocess.run([LORATOP, *args], capture_output=True, text=True, timeout=timeout)


def _default_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM at their defaults. A test suite started in the background by a
    shell without job control inherits SIGINT ignored, and a program rightly leaves an ignored signal alone."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Script:
    """The example training script in its own process; killed and reaped in teardown, whatever happened."""

    def __init__(self, tmp_path, model: str, *extra: str, name: str = "run"):
        self.out = str(tmp_path / name)
        self.history = str(tmp_path / f"{name}-history.json")
        self.log_path = str(tmp_path / f"{name}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, EXAMPLE, "--model", model, "--data", TRAIN, "--eval-data", EVAL, "--out", self.out,
             "--batch-size", "2", "--seq-len", "48", "--schedule", "constant", "--sample-tokens", "12", "--history", self.history, *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            preexec_fn=_default_signals)

    def entry(self, timeout: float = 120) -> dict:
        """Its registry entry, as `loratop ls --json` lists it, once it serves."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the script ended: {self.tail()}"
            listed = loratop("ls", "--json")
            assert listed.returncode == 0, listed.stderr
            for e in json.loads(listed.stdout):
                if e["run"]["pid"] == self.proc.pid and e["ended"] is None:
                    return e
            time.sleep(0.5)
        raise AssertionError(f"the run was not listed in time: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()[-4000:]

    def wait(self, timeout: float = 180) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)
        self.log.close()


@pytest.fixture
def scripts(runtime_dir):
    """Starts the example script; every one started is killed and reaped in teardown."""
    started: List[Script] = []

    def start(*args: Any, **kwargs: Any) -> Script:
        s = Script(*args, **kwargs)
        started.append(s)
        return s

    try:
        yield start
    finally:
        for s in started:
            s.close()


@pytest.fixture(scope="session")
def tiny_llama(model_folder, tmp_path_factory) -> str:
    """A tiny random Llama (2 layers, 32 wide) with the sample model's tokenizer: the example script trains it at
    tens of steps a second, so tests of the run's life do not wait on a real model."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_folder)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=256, tie_word_embeddings=True,
                                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    folder = str(tmp_path_factory.mktemp("tiny-llama"))
    import torch

    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
