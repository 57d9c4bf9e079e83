"""The run server against docs/PROTOCOL.md, driven with raw lines over its real socket."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import pytest

STATE_KEYS = {"type", "seq", "status", "step", "total_steps", "epoch", "settings", "train", "eval", "learning_rates",
              "decimated", "recent_steps", "elapsed", "changes", "pending", "samples", "ghosts",
              "messages", "trainable_parameters", "base_parameters", "unsaved"}
SETTINGS_KEYS = {"rank", "alpha", "rslora", "dropout", "learning_rate", "schedule", "warmup", "targets",
                 "quantization", "batch_size", "grad_accum", "seq_len", "checkpointing"}
STEP_KEYS = {"step", "loss", "learning_rate", "grad_norm", "tokens", "seconds", "epoch"}


def attach(client, read_only=False, **extra):
    hello = client.message()
    assert hello["type"] == "hello"
    client.send({"type": "attach", "read_only": read_only, **extra})
    state = client.until(lambda m: m["type"] == "state")[-1]
    return hello, state


def wait_steps(run, n, timeout=5):
    target = run.step + n
    deadline = time.monotonic() + timeout
    while run.step < target:
        assert time.monotonic() < deadline, "the fake run stopped stepping"
        time.sleep(0.005)


def test_registry_folder_socket_and_entry(run, runtime_dir):
    folder = os.path.join(runtime_dir, "loratop")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    rid = run.server.id
    assert len(rid) == 6 and set(rid) <= set("abcdefghijkmnpqrstuvwxyz23456789")
    sock = os.path.join(folder, rid + ".sock")
    assert run.server.socket_path == sock
    assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) == 0o600
    with open(os.path.join(folder, rid + ".json")) as f:
        raw = f.read()
    entry = json.loads(raw)
    assert '"ended":null' in raw
    assert entry["socket"] == sock
    assert entry["run"]["kind"] == "pytorch" and entry["run"]["pid"] == os.getpid()
    assert set(entry["run"]) == {"id", "pid", "kind", "mode", "model", "data", "output", "started", "host"}
    assert {"status", "step", "total_steps", "tokens_per_second"} <= set(entry["progress"])
    wait_steps(run, 3)
    run.halt()
    entry = json.load(open(os.path.join(folder, rid + ".json")))
    assert isinstance(entry["ended"], float) and entry["ended"] >= entry["run"]["started"]
    assert entry["progress"]["status"] == "finished" and entry["progress"]["step"] == run.step
    assert not os.path.exists(sock)
    assert not [n for n in os.listdir(folder) if ".partial-" in n]


def test_refuses_a_folder_open_to_others(tmp_path):
    from loratop_hf.registry import RegistryError, ensure_private_folder
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o755)
    with pytest.raises(RegistryError, match="open to other users"):
        ensure_private_folder(str(d))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    with pytest.raises(RegistryError, match="symbolic link"):
        ensure_private_folder(str(link))


def test_hello_then_state_then_every_step_once(run, connect):
    c = connect(run)
    hello, state = attach(c)
    assert hello["protocol"] == 1 and hello["server"].startswith("loratop-hf")
    assert hello["run"]["id"] == run.server.id and hello["run"]["kind"] == "pytorch"
    assert set(STATE_KEYS) <= set(state) and set(state) - STATE_KEYS <= {"last_step", "last_eval", "last_checkpoint",
                                                                          "memory", "error", "unsupported"}
    assert state["unsupported"]["rank"].startswith("a PyTorch run cannot change the LoRA rank")
    assert set(state["settings"]) == SETTINGS_KEYS
    assert state["settings"]["targets"] == ["q_proj", "v_proj"]
    assert state["trainable_parameters"] == 460_800
    assert len(state["train"]["steps"]) == len(state["train"]["values"]) == state["step"]
    expected_step, last_seq = state["step"], state["seq"]
    steps = 0
    while steps < 30:
        m = c.message()
        if m["type"] != "step":
            continue
        assert m["seq"] > last_seq
        last_seq = m["seq"]
        assert set(m["record"]) == STEP_KEYS
        expected_step += 1
        assert m["record"]["step"] == expected_step
        steps += 1


def test_command_ack_pending_change_settings_for_two_viewers(run, connect):
    a, b = connect(run), connect(run)
    attach(a)
    attach(b)
    a.send({"type": "command", "id": "c7", "line": "  lr 1e-4 "})
    note = lambda m: m["type"] == "message" and m["text"].startswith("step ")  # noqa: E731
    seen_a, seen_b = a.until(note), b.until(note)
    ack = next(m for m in seen_a if m["type"] == "ack")
    assert ack == {"type": "ack", "id": "c7", "ok": True, "command": "lr 0.0001"}
    assert "ack" not in [m["type"] for m in seen_b]
    for seen in (seen_a, seen_b):
        order = [m["type"] for m in seen if m["type"] not in ("step", "ack")]
        assert order == ["pending", "pending", "change", "settings", "message"]
        assert [m["pending"] for m in seen if m["type"] == "pending"] == [["lr 0.0001"], []]
        assert all(m["seq"] == 0 for m in seen if m["type"] == "pending")
        change = next(m for m in seen if m["type"] == "change")["change"]
        assert change == {"step": change["step"], "kind": "lr", "from": "2e-04", "to": "1e-04"}
        settings = next(m for m in seen if m["type"] == "settings")
        assert abs(settings["settings"]["learning_rate"] - 1e-4) < 1e-9
        assert settings["trainable_parameters"] == 460_800
        assert seen[-1]["text"] == f"step {change['step']}: lr 2e-04→1e-04"
        numbered = [m["seq"] for m in seen if m.get("seq", 0) != 0]
        assert numbered == sorted(numbered) and len(set(numbered)) == len(numbered)
    after = a.until(lambda m: m["type"] == "step")[-1]
    assert after["record"]["step"] == change["step"] + 1
    assert abs(after["record"]["learning_rate"] - 1e-4) < 1e-9


def test_commands_without_attaching_refusals_and_read_only(run, connect):
    c = connect(run)
    c.message()
    c.send({"type": "command", "id": "r", "line": "rank 16"})
    ack = c.message()
    assert ack["ok"] is False and ack["id"] == "r" and "cannot change the LoRA rank" in ack["error"]
    assert ack["error"].startswith("command `rank 16`: ")
    c.send({"type": "command", "id": "x", "line": "rank x"})
    assert c.message() == {"type": "ack", "id": "x", "ok": False,
                           "error": "command `rank x`: expected a number after `rank`, found `x`"}
    c.send({"type": "command", "id": "q", "line": "quant nf4"})
    assert "re-quantize" in c.message()["error"]
    v = connect(run)
    attach(v, read_only=True)
    v.send({"type": "command", "id": "ro", "line": "pause"})
    ack = v.until(lambda m: m["type"] == "ack")[-1]
    assert ack["ok"] is False and "read-only" in ack["error"]
    assert not run.paused


def test_ping_unknown_types_and_detach(run, connect):
    c = connect(run)
    c.message()
    c.send({"type": "hello", "protocol": 1, "client": "test"})
    c.send({"type": "telemetry", "whatever": [1, 2]})
    c.send(b"   \r\n\n")
    c.send({"type": "ping", "id": "p1", "extra": True})
    assert c.message() == {"type": "pong", "id": "p1"}
    c.send({"type": "detach"})
    assert c.closed_within(3)


@pytest.mark.parametrize("payload,code", [
    (b"this is not json\n", "malformed"),
    (b"[1, 2, 3]\n", "malformed"),
    (b'{"type": 7}\n', "malformed"),
    (b'{"type": "attach"}\n', "malformed"),
    (b'{"type": "attach", "read_only": "yes"}\n', "malformed"),
    (b'{"type": "command", "id": "c1"}\n', "malformed"),
    (b'{"type": "ping", "id": NaN}\n', "malformed"),
    (b'{"type": "hello", "protocol": 2}\n', "version"),
    (b"\xff\xfe{}\n", "malformed"),
    (b"x" * (1 << 20 | 1), "too_large"),
    (b"x" * (1 << 20 | 1) + b"\n", "too_large"),
])
def test_bad_input_gets_an_error_and_closes_only_that_connection(run, connect, payload, code):
    other = connect(run)
    attach(other)
    bad = connect(run)
    bad.message()
    bad.sock.sendall(payload)
    err = bad.until(lambda m: m["type"] == "error")[-1]
    assert err["code"] == code and err["message"]
    assert bad.closed_within(3)
    other.send({"type": "ping", "id": "still"})
    assert other.until(lambda m: m["type"] == "pong")[-1]["id"] == "still"
    before = run.step
    wait_steps(run, 3)
    assert run.step > before


def test_exactly_one_mib_is_accepted(run, connect):
    c = connect(run)
    c.message()
    body = b'{"type":"ping","id":"big","pad":"'
    line = body + b"x" * ((1 << 20) - len(body) - 2) + b'"}'
    assert len(line) == 1 << 20
    c.sock.sendall(line + b"\n")
    assert c.until(lambda m: m["type"] == "pong")[-1]["id"] == "big"


def test_non_finite_loss_crosses_the_wire_as_a_string(make_run, connect):
    run = make_run(nan_at=3)
    c = connect(run)
    c.message()
    c.send({"type": "attach", "read_only": True})
    seen = c.until(lambda m: m["type"] == "step" and m["record"]["step"] >= 4 or
                   m["type"] == "state" and m["step"] >= 4)
    values = [m["record"]["loss"] for m in seen if m["type"] == "step" and m["record"]["step"] == 3]
    values += [v for m in seen if m["type"] == "state" for s, v in zip(m["train"]["steps"], m["train"]["values"])
               if s == 3]
    assert values == ["NaN"]


def test_pause_resume_save_eval_and_stop(run, connect):
    c = connect(run)
    attach(c)
    c.send({"type": "command", "id": "p", "line": "pause"})
    c.until(lambda m: m["type"] == "status" and m["status"] == "paused")
    held = run.step
    time.sleep(0.1)
    assert run.step == held
    c.send({"type": "command", "id": "e", "line": "eval"})
    ev = c.until(lambda m: m["type"] == "eval")[-1]
    assert ev["eval"]["step"] == held and set(ev["eval"]) == {"step", "loss", "seconds"}
    c.send({"type": "command", "id": "s", "line": "save"})
    ck = c.until(lambda m: m["type"] == "checkpoint")[-1]
    assert os.path.isdir(ck["path"]) and ck["path"].endswith(f"checkpoint-{held}")
    assert run.step == held
    c.send({"type": "command", "id": "r", "line": "resume"})
    c.until(lambda m: m["type"] == "status" and m["status"] == "running")
    wait_steps(run, 2)
    c.send({"type": "command", "id": "x", "line": "stop"})
    seen = c.until(lambda m: m["type"] == "status" and m["status"] == "stopped")
    assert "checkpoint" in [m["type"] for m in seen]
    run.thread.join(5)
    assert run.stopped_by_command
    run.server.close()
    assert c.closed_within(3)


def test_a_viewer_that_never_reads_is_resynchronised_not_waited_for(make_run, connect):
    run = make_run(step_seconds=0.0002, queue_limit=16 << 10)
    slow = connect(run)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    _, first = attach(slow, read_only=True, points=10)  # small states: each fits in the queue bound
    start = run.step
    time.sleep(1.5)  # the slow viewer reads nothing; the socket and then its 16 KiB queue fill up
    assert run.step - start > 500, "the training loop was held up by a viewer"
    states, last_step, last_seq, after_resync = 0, first["step"], first["seq"], 0
    deadline = time.monotonic() + 10
    while after_resync < 50 and time.monotonic() < deadline:
        m = slow.message()
        if m["type"] == "state":
            states += 1
            last_step, last_seq = m["step"], m["seq"]
        elif m["type"] == "step":
            assert m["seq"] > last_seq
            last_seq = m["seq"]
            if m["record"]["step"] > last_step:
                # before the resync: the backlog queued before the bound was passed; after it: from the fresh state
                assert m["record"]["step"] == last_step + 1, "a step was skipped"
                last_step = m["record"]["step"]
                if states >= 1:
                    after_resync += 1
    assert states >= 1, "the slow viewer was never resynchronised with a fresh state"
    assert after_resync >= 50


def test_too_many_connections_are_refused(make_run, connect):
    run = make_run(max_connections=2)
    a, b = connect(run), connect(run)
    assert a.message()["type"] == "hello" and b.message()["type"] == "hello"
    c = connect(run)
    err = c.message()
    assert err["type"] == "error" and err["code"] == "overloaded"
    assert c.closed_within(3)


@pytest.mark.skipif(os.getuid() != 0 or not os.access("/usr/bin/python3", os.X_OK),
                    reason="needs root (to connect as nobody) and /usr/bin/python3")
def test_another_uid_is_refused_by_its_peer_credentials(run, connect, runtime_dir):
    import subprocess
    folder = os.path.join(runtime_dir, "loratop")
    # Let another uid reach the socket for this test only (the server checked the folder when it started); the probe
    # starts in the folder, so the private folders above it are not in its way.
    os.chmod(folder, 0o711)
    os.chmod(run.server.socket_path, 0o666)
    probe = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
             "print(s.makefile().readline(), end=''); print(s.recv(100) == b'')")
    out = subprocess.run(["/usr/bin/python3", "-c", probe, os.path.basename(run.server.socket_path)], cwd=folder,
                         user=65534, group=65534, extra_groups=[], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    first, closed = out.stdout.splitlines()
    err = json.loads(first)
    assert err["type"] == "error" and err["code"] == "refused" and "uid 65534" in err["message"]
    assert closed == "True"
    c = connect(run)  # our own uid still gets in
    assert c.message()["type"] == "hello"


def test_a_process_that_exits_without_closing_marks_its_run_failed(runtime_dir, tmp_path):
    import subprocess
    import sys
    script = (f"import sys; sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r}); "
              "from loratop_hf import RunServer; "
              f"s = RunServer(model='m', output={str(tmp_path)!r}, total_steps=10).start(); s.status('running'); "
              "print(s.id, flush=True); raise SystemExit(3)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=20)
    assert out.returncode == 3, out.stderr
    rid = out.stdout.strip()
    entry = json.load(open(os.path.join(runtime_dir, "loratop", rid + ".json")))
    assert entry["progress"]["status"] == "failed" and isinstance(entry["ended"], float)
    assert not os.path.exists(os.path.join(runtime_dir, "loratop", rid + ".sock"))
