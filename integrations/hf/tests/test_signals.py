"""SIGINT and SIGTERM on a Trainer run with the callback (docs/PROTOCOL.md, "The run's life"): the current step
finishes, a checkpoint is saved, the run is marked stopped, and the process ends as the signal asks; a second one
ends it at once. The example script on a tiny random Llama, in its own process (killed and reaped in teardown)."""

from __future__ import annotations

import json
import os
import signal

import pytest

pytest.importorskip("torch", reason="torch is not installed (.ci/python-env installs it)")
pytest.importorskip("transformers", reason="transformers is not installed (.ci/python-env)")
pytest.importorskip("peft", reason="peft is not installed (.ci/python-env)")

from conftest import LORATOP, RawClient, loratop  # noqa: E402

pytestmark = pytest.mark.skipif(not os.access(LORATOP, os.X_OK), reason=f"{LORATOP} is not built")


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_finishes_the_step_saves_and_ends_the_process_as_it_asks(tiny_llama, scripts, tmp_path, sig, status):
    run = scripts(tmp_path, tiny_llama, "--steps", "1000000")
    entry = run.entry()
    viewer = RawClient(entry["socket"])
    try:
        viewer.message(10)
        viewer.send({"type": "attach", "read_only": True})
        seen = viewer.until(lambda m: m["type"] == "step", 60)
        run.proc.send_signal(sig)
        seen += viewer.until(lambda m: m["type"] == "status" and m["status"] == "stopped", 60)
    finally:
        viewer.close()
    code = run.wait(60)
    assert code in (status, -sig), run.tail()  # Python re-raises an unhandled KeyboardInterrupt as SIGINT
    checkpoints = [m["path"] for m in seen if m["type"] == "checkpoint"]
    assert checkpoints, [m["type"] for m in seen]
    state = json.load(open(os.path.join(checkpoints[-1], "trainer_state.json")))
    steps = [m["record"]["step"] for m in seen if m["type"] == "step"]
    assert state["global_step"] == steps[-1], "the checkpoint is not of the last step"
    assert os.path.isfile(os.path.join(checkpoints[-1], "adapter_model.safetensors"))
    assert f"{signal.Signals(sig).name}: stopping after a save" in [m.get("text") for m in seen]
    ended = next(e for e in json.loads(loratop("ls", "--json").stdout) if e["run"]["id"] == entry["run"]["id"])
    assert ended["ended"] is not None and ended["progress"]["status"] == "stopped"


def test_a_second_signal_of_the_same_kind_ends_the_process_at_once(monkeypatch):
    """The handler itself, driven directly: the first signal only sets the flag; a second of the same kind marks the
    run stopped, closes its server, gives the handlers back and re-sends the signal to the process under its default
    disposition; one of another kind (torchrun's SIGTERM after a terminal's SIGINT) is ignored."""
    from loratop_hf.callback import LoratopCallback

    class Server:
        def __init__(self):
            self.calls = []

        def status(self, word):
            self.calls.append(("status", word))

        def close(self, drain_seconds=1.0):
            self.calls.append(("close", drain_seconds))

    killed = []
    monkeypatch.setattr("os.kill", lambda pid, sig: killed.append((pid, sig)))
    cb = LoratopCallback()
    cb.server = server = Server()
    cb._on_signal(signal.SIGTERM, None)
    assert cb._signal == signal.SIGTERM and server.calls == [] and killed == []
    cb._on_signal(signal.SIGINT, None)  # another kind: not a second one
    assert server.calls == [] and killed == []
    cb._on_signal(signal.SIGTERM, None)
    assert server.calls == [("status", "stopped"), ("close", 0.2)] and cb.server is None
    assert killed == [(os.getpid(), signal.SIGTERM)]
