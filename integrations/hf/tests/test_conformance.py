"""One scripted protocol client (conformance.py) against both run servers: loratop's own engine (a headless run of
the tiny preset) and a Trainer run with LoratopCallback (the example script on a tiny random Llama that uses the
sample model's tokenizer). Each is its own process, killed and reaped in teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conformance import check_server

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LORATOP = os.path.join(ROOT, ".build", "release", "loratop")
needs_loratop = pytest.mark.skipif(not os.access(LORATOP, os.X_OK), reason=f"{LORATOP} is not built")


def _serving(proc: subprocess.Popen, log: str, timeout: float = 180) -> dict:
    """The registry entry of `proc`'s run once it serves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before serving: {open(log).read()[-3000:]}"
        listed = subprocess.run([LORATOP, "ls", "--json"], capture_output=True, text=True, timeout=30)
        for e in json.loads(listed.stdout or "[]"):
            if e["run"]["pid"] == proc.pid and e["ended"] is None and e["progress"]["step"] > 0:
                return e
        time.sleep(0.3)
    raise AssertionError(f"the run did not serve in time: {open(log).read()[-3000:]}")


def _run(args, tmp_path, name):
    log = str(tmp_path / f"{name}.log")
    with open(log, "w") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT)
    return proc, log


def _end(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


@needs_loratop
def test_loratops_engine_conforms(runtime_dir, tmp_path):
    proc, log = _run([LORATOP, "train", "--preset", "tiny", "--data", "sample-data/tags-train.jsonl",
                      "--eval-data", "sample-data/tags-eval.jsonl", "--seq-len", "128", "--batch-size", "2", "--max-steps", "1000000", "--warmup", "0", "--schedule", "constant",
                      "--output", str(tmp_path / "out"), "--threads", "1", "--headless"], tmp_path, "engine")
    try:
        entry = _serving(proc, log)
        found = check_server(entry["socket"])
        assert found["hello"]["run"]["kind"] == "loratop"
        assert found["unsupported"] == {}, "loratop's engine does every command"
        assert {k: v for k, v in found["results"].items() if v != "applied"} == {}, found["results"]
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        _end(proc)


@needs_loratop
def test_the_trainer_callback_conforms(runtime_dir, tmp_path, tiny_llama):
    pytest.importorskip("torch", reason="torch is not installed (.ci/python-env installs it)")
    pytest.importorskip("transformers", reason="transformers is not installed (.ci/python-env)")
    pytest.importorskip("peft", reason="peft is not installed (.ci/python-env)")
    tiny = tiny_llama
    proc, log = _run([sys.executable, os.path.join(ROOT, "integrations", "hf", "examples", "train_lora.py"),
                      "--model", tiny, "--data", "sample-data/tags-train.jsonl", "--eval-data",
                      "sample-data/tags-eval.jsonl", "--out", str(tmp_path / "out"), "--steps", "1000000",
                      "--batch-size", "2", "--seq-len", "48", "--schedule", "constant", "--sample-tokens", "8"],
                     tmp_path, "trainer")
    try:
        entry = _serving(proc, log)
        found = check_server(entry["socket"])
        assert found["hello"]["run"]["kind"] == "pytorch"
        assert set(found["unsupported"]) == {"rank", "quant", "restart", "inspect"}
        assert found["results"] == {"lr": "applied", "alpha": "applied", "dropout": "applied", "rank": "refused",
                                    "pause": "applied", "resume": "applied", "save": "applied", "eval": "applied",
                                    "sample": "applied", "quant": "refused"}
        assert proc.wait(60) == 0, open(log).read()[-3000:]
    finally:
        _end(proc)
