"""LoratopCallback under `torchrun --nproc_per_node 2` (gloo on CPU): rank 0 serves, commands reach both ranks at the
same step, a pause holds both, a bad client leaves both training. Skipped without torch, transformers, accelerate."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
pytest.importorskip("transformers", reason="transformers is not installed (pip install transformers)")
pytest.importorskip("accelerate", reason="accelerate (the Trainer needs it) is not installed (pip install accelerate)")

from conftest import RawClient  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def ddp_run(runtime_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    log = open(tmp_path / "torchrun.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node", "2", os.path.join(HERE, "ddp_train.py"), str(out)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        folder = os.path.join(runtime_dir, "loratop")
        deadline = time.monotonic() + 120
        entries = []
        while not entries:
            assert proc.poll() is None, open(tmp_path / "torchrun.log").read()[-3000:]
            assert time.monotonic() < deadline, "the distributed run did not start serving"
            entries = glob.glob(os.path.join(folder, "*.json"))
            time.sleep(0.1)
        entry = json.load(open(entries[0]))
        yield proc, entry, str(out), tmp_path / "torchrun.log"
    finally:
        ranks = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # torchrun ends its ranks on SIGTERM
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for pid in ranks:  # whatever torchrun left behind, by the pids it started (checked: still a rank)
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"ddp_train.py" in f.read():
                        os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
        log.close()


def _children(pid: int):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def steps_within(c: RawClient, seconds: float):
    """The step events a viewer gets in the next `seconds`."""
    out, deadline = [], time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out
        try:
            m = c.message(left)
        except TimeoutError:
            return out
        if m is not None and m["type"] == "step":
            out.append(m["record"]["step"])


def test_two_ranks_apply_commands_at_the_same_step(ddp_run):
    proc, entry, out, log = ddp_run
    assert entry["run"]["kind"] == "pytorch" and entry["ended"] is None
    c = RawClient(entry["socket"])
    try:
        hello = c.message(10)
        assert hello["type"] == "hello"
        c.send({"type": "attach", "read_only": False})
        c.until(lambda m: m["type"] == "step", timeout=30)

        c.send({"type": "command", "id": "lr", "line": "lr 1e-4"})
        ack = c.until(lambda m: m["type"] == "ack")[-1]
        assert ack["ok"], ack
        changed = c.until(lambda m: m["type"] == "change", timeout=30)[-1]["change"]["step"]

        c.send({"type": "command", "id": "p", "line": "pause"})
        c.until(lambda m: m["type"] == "status" and m["status"] == "paused", timeout=30)
        assert steps_within(c, 1.0) == [], "a step ran while paused"

        bad = RawClient(entry["socket"])  # garbage on another connection: an error for it, nothing for the run
        bad.message(10)
        bad.sock.sendall(b"\x00garbage\n")
        assert bad.until(lambda m: m["type"] == "error")[-1]["code"] == "malformed"
        bad.close()

        c.send({"type": "command", "id": "r", "line": "resume"})
        assert len(steps_within(c, 1.5)) > 0, "the run did not resume"
    finally:
        c.close()  # the viewer goes away abruptly: training goes on

    again = RawClient(entry["socket"])
    try:
        again.message(10)
        again.send({"type": "command", "id": "x", "line": "stop nosave"})
        assert again.until(lambda m: m["type"] == "ack")[-1]["ok"]
    finally:
        again.close()
    assert proc.wait(60) == 0, open(log).read()[-3000:]
    ranks = [json.load(open(os.path.join(out, f"rank{r}.json"))) for r in (0, 1)]
    assert ranks[0]["global_step"] == ranks[1]["global_step"] > changed
    for r in ranks:
        lrs = {int(k): v for k, v in r["lrs"].items()}
        assert lrs[changed] == pytest.approx(2e-4) and lrs[changed + 1] == pytest.approx(1e-4), lrs
