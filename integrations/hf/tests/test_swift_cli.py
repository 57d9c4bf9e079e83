"""The real loratop binary (`ls`, `send`, `stop`, `attach --stdio`) against a Python run server in its own process.

The binary is `.build/release/loratop` at the repository root (built by `.ci/test`, or by
`swift build -c release -Xswiftc -enable-testing --product loratop`); without it these tests are skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LORATOP = os.path.join(ROOT, ".build", "release", "loratop")

pytestmark = pytest.mark.skipif(not os.access(LORATOP, os.X_OK),
                                reason=f"{LORATOP} is not built (swift build -c release -Xswiftc -enable-testing "
                                       "--product loratop)")


@pytest.fixture
def served(runtime_dir, tmp_path):
    """A fake run served by a child Python process; killed (and reaped) in teardown whatever happened."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_run.py"), os.path.join(runtime_dir, "loratop"),
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rid = proc.stdout.readline().strip()
        assert len(rid) == 6, f"the fake run did not start: {proc.stderr.read() if proc.poll() is not None else rid}"
        yield proc, rid, str(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def loratop(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([LORATOP, *args], capture_output=True, text=True, timeout=timeout)


def test_ls_send_and_stop(served):
    proc, rid, out = served
    time.sleep(0.2)
    listed = loratop("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = next(e for e in json.loads(listed.stdout) if e["run"]["id"] == rid)
    assert entry["ended"] is None and entry["run"]["kind"] == "pytorch" and entry["run"]["pid"] == proc.pid
    assert entry["progress"]["status"] == "running" and entry["progress"]["step"] > 0
    table = loratop("ls")
    assert rid in table.stdout and "running" in table.stdout

    sent = loratop("send", rid, "lr 1e-4")
    assert sent.returncode == 0, sent.stderr
    assert f"run {rid}: accepted `lr 0.0001`" in sent.stdout

    refused = loratop("send", rid, "rank 16")
    assert refused.returncode == 1
    assert "cannot change the LoRA rank" in refused.stderr and f"run {rid} refused `rank 16`" in refused.stderr

    waited = loratop("send", rid, "lr 5e-5", "--wait")
    assert waited.returncode == 0, waited.stderr
    assert f"run {rid}: applied at step " in waited.stdout and "lr 1e-04→5e-05" in waited.stdout

    saved = loratop("send", rid, "save", "--wait")
    assert saved.returncode == 0, saved.stderr
    assert f"run {rid}: saved {out}/checkpoint-" in saved.stdout

    paused = loratop("send", rid, "pause", "--wait")
    assert paused.returncode == 0 and "paused at step" in paused.stdout, paused.stderr
    resumed = loratop("send", rid, "resume", "--wait")
    assert resumed.returncode == 0 and "resumed at step" in resumed.stdout, resumed.stderr

    bad = loratop("send", rid, "lr", "x")
    assert bad.returncode == 1 and "expected a number after `lr`, found `x`" in bad.stderr

    # `loratop stop` waits until the run's pid is gone, so reap the child while it waits.
    stop = subprocess.Popen([LORATOP, "stop", rid], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.wait(20) == 0
        so, se = stop.communicate(timeout=20)
    finally:
        if stop.poll() is None:
            stop.kill()
            stop.wait()
    assert stop.returncode == 0, se
    assert f"run {rid} ended: stopped" in so
    final = next(e for e in json.loads(loratop("ls", "--json").stdout) if e["run"]["id"] == rid)
    assert final["progress"]["status"] == "stopped" and isinstance(final["ended"], float)
    assert [n for n in os.listdir(out) if n.startswith("checkpoint-")], "stop did not save first"


def test_attach_stdio_relays_the_protocol(served):
    _, rid, _ = served
    relay = subprocess.Popen([LORATOP, "attach", "--stdio", rid], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        hello = json.loads(relay.stdout.readline())
        assert hello["type"] == "hello" and hello["run"]["id"] == rid
        relay.stdin.write(b'{"type":"attach","read_only":true}\n')
        relay.stdin.flush()
        state = json.loads(relay.stdout.readline())
        assert state["type"] == "state" and state["settings"]["rank"] == 8
        step = json.loads(relay.stdout.readline())
        assert step["type"] == "step" and step["seq"] > state["seq"]
        relay.stdin.close()
        assert relay.wait(10) == 0
    finally:
        if relay.poll() is None:
            relay.kill()
        relay.wait(10)
        relay.stdout.close()
        relay.stderr.close()


@pytest.mark.skipif(not any(os.access(os.path.join(p, "tmux"), os.X_OK) for p in os.environ.get("PATH", "").split(":")),
                    reason="tmux is not installed")
def test_attach_draws_the_run_in_tmux(served, runtime_dir, tmp_path):
    _, rid, _ = served
    server = f"loratop-hf-test-{os.getpid()}"  # a private tmux server, killed in teardown
    tmux = ["tmux", "-L", server, "-f", "/dev/null"]
    try:
        # COLUMNS/LINES from the test's own terminal would override the pane's size.
        command = f"unset COLUMNS LINES; XDG_RUNTIME_DIR={runtime_dir} exec {LORATOP} attach {rid}"
        subprocess.run(tmux + ["new-session", "-d", "-x", "140", "-y", "40", command], check=True, timeout=10)
        screen = ""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True, timeout=10).stdout
            if "RUNNING" in screen and "q_proj v_proj" in screen and "Loss" in screen:
                break
            time.sleep(0.2)
        assert "RUNNING" in screen and "q_proj v_proj" in screen and "Loss" in screen, screen
        assert "trainable 461k" in screen, screen
        # What the run cannot do is shown greyed with its reason and left out of the key line.
        assert "rank      8  fixed: a PyTorch run cannot c" in screen, screen  # cut to the panel's width
        assert "base      f32  fixed: a PyTorch run cannot" in screen, screen
        assert "no samples: this run has no prompts to sample from" in screen, screen
        assert "r/R rank" not in screen and "b base" not in screen and "a/A alpha" in screen, screen
        assert "data " not in screen.splitlines()[0], "a run that names no data shows none (not the current folder)"
        subprocess.run(tmux + ["send-keys", "R"], timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "rank 16: a PyTorch run cannot" not in screen:
            time.sleep(0.2)
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True, timeout=10).stdout
        assert "rank 16: a PyTorch run cannot" in screen, screen  # the key's note, nothing sent
        subprocess.run(tmux + ["send-keys", "d"], timeout=10)  # detach: the run goes on
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=10)
    listed = next(e for e in json.loads(loratop("ls", "--json").stdout) if e["run"]["id"] == rid)
    assert listed["ended"] is None and listed["progress"]["status"] == "running"


def test_a_killed_run_is_listed_as_lost(served, runtime_dir):
    proc, rid, _ = served
    proc.kill()
    proc.wait(10)
    listed = loratop("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = next(e for e in json.loads(listed.stdout) if e["run"]["id"] == rid)
    assert entry["progress"]["status"] == "lost" and isinstance(entry["ended"], float)
    assert not os.path.exists(os.path.join(runtime_dir, "loratop", rid + ".sock"))
