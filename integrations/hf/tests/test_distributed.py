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

from conftest import EVAL, EXAMPLE, TRAIN, RawClient  # noqa: E402

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
        _end_torchrun(proc, _children(proc.pid), b"ddp_train.py")
        log.close()


def _end_torchrun(proc: subprocess.Popen, ranks, script: bytes) -> None:
    """Ends a torchrun and whatever it left behind, by the pids it started (checked: still a rank of `script`)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # torchrun ends its ranks on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for pid in ranks:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if script in f.read():
                    os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


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


def steer(c: RawClient, socket_path: str, step_seconds: float, timeout: float) -> int:
    """lr 1e-4, pause (no step may run), garbage from another connection (an error for it only), resume (steps run
    again); returns the step the lr change took effect at."""
    c.send({"type": "command", "id": "lr", "line": "lr 1e-4"})
    ack = c.until(lambda m: m["type"] == "ack", timeout=timeout)[-1]
    assert ack["ok"], ack
    changed = c.until(lambda m: m["type"] == "change", timeout=timeout)[-1]["change"]["step"]
    c.send({"type": "command", "id": "p", "line": "pause"})
    c.until(lambda m: m["type"] == "status" and m["status"] == "paused", timeout=timeout)
    assert steps_within(c, 3 * step_seconds + 1) == [], "a step ran while paused"
    bad = RawClient(socket_path)
    try:
        bad.message(10)
        bad.sock.sendall(b"\x00garbage\n")
        assert bad.until(lambda m: m["type"] == "error")[-1]["code"] == "malformed"
    finally:
        bad.close()
    c.send({"type": "command", "id": "r", "line": "resume"})
    assert steps_within(c, 3 * step_seconds + 1.5), "the run did not resume"
    return changed


def test_two_ranks_apply_commands_at_the_same_step(ddp_run):
    proc, entry, out, log = ddp_run
    assert entry["run"]["kind"] == "pytorch" and entry["ended"] is None
    c = RawClient(entry["socket"])
    try:
        hello = c.message(10)
        assert hello["type"] == "hello"
        c.send({"type": "attach", "read_only": False})
        step = c.until(lambda m: m["type"] == "step", timeout=30)[-1]["record"]
        changed = steer(c, entry["socket"], step["seconds"], timeout=30)
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


def test_smollm2_under_torchrun_every_rank_changes_lr_at_one_step_and_pauses(model_folder, runtime_dir, tmp_path):
    """The acceptance run under `torchrun --nproc_per_node 2`: the example script (Trainer + PEFT LoRA) on SmolLM2."""
    pytest.importorskip("peft", reason="peft is not installed (.ci/python-env)")
    out, history = tmp_path / "out", str(tmp_path / "history.json")
    log_path = tmp_path / "torchrun.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             EXAMPLE, "--model", model_folder, "--data", TRAIN, "--eval-data", EVAL, "--out", str(out),
                             "--steps", "100000", "--batch-size", "1", "--seq-len", "48", "--schedule", "constant",
                             "--history", history],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, OMP_NUM_THREADS="1"))
    ranks = []
    try:
        folder = os.path.join(runtime_dir, "loratop")
        deadline = time.monotonic() + 300
        entries = []
        while not entries:
            assert proc.poll() is None, open(log_path).read()[-3000:]
            assert time.monotonic() < deadline, "the distributed run did not start serving"
            entries = glob.glob(os.path.join(folder, "*.json"))
            time.sleep(0.2)
        ranks = _children(proc.pid)
        entry = json.load(open(entries[0]))
        c = RawClient(entry["socket"])
        try:
            c.message(30)
            c.send({"type": "attach", "read_only": False})
            seen = c.until(lambda m: m["type"] == "step", timeout=120)
            seen += c.until(lambda m: m["type"] == "step", timeout=120)
            seconds = max(m["record"]["seconds"] for m in seen if m["type"] == "step")
            memory = [m["memory"] for m in seen if m["type"] == "memory"] + \
                [m["memory"] for m in seen if m["type"] == "state" and m.get("memory")]
            changed = steer(c, entry["socket"], seconds, timeout=120)
            more = c.until(lambda m: m["type"] == "memory", timeout=60)
            memory += [m["memory"] for m in more if m["type"] == "memory"]
            assert any(len(m.get("ranks", [])) == 2 for m in memory), memory[-1:]
        finally:
            c.close()  # the viewer goes away abruptly: both ranks train on
        again = RawClient(entry["socket"])
        try:
            again.message(30)
            again.send({"type": "attach", "read_only": False})
            again.until(lambda m: m["type"] == "step", timeout=120)  # still training after the viewer vanished
            again.send({"type": "command", "id": "x", "line": "stop nosave"})
            assert again.until(lambda m: m["type"] == "ack")[-1]["ok"]
        finally:
            again.close()
        assert proc.wait(120) == 0, open(log_path).read()[-3000:]
        for r in (0, 1):
            h = json.load(open(f"{history}.rank{r}"))
            lrs = {x["step"]: x["learning_rate"] for x in h["log_history"] if "learning_rate" in x}
            assert lrs[changed] == pytest.approx(2e-4) and lrs[changed + 1] == pytest.approx(1e-4), (r, lrs)
        steps = {json.load(open(f"{history}.rank{r}"))["global_step"] for r in (0, 1)}
        assert len(steps) == 1, f"the ranks stopped at different steps: {steps}"
    finally:
        _end_torchrun(proc, ranks or _children(proc.pid), b"train_lora.py")
        log.close()
