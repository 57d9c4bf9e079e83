"""LoratopCallback on a real (tiny, randomly initialised) transformers Trainer on CPU, steered over the socket.

Skipped when torch, transformers or accelerate is not installed (`pip install torch transformers accelerate`;
peft is used when present)."""

from __future__ import annotations

import os
import threading
import time

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install torch)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed (pip install transformers)")
pytest.importorskip("accelerate", reason="accelerate (the Trainer needs it) is not installed (pip install accelerate)")

from conftest import RawClient  # noqa: E402


class _Tokens(torch.utils.data.Dataset):
    """Random token sequences (the model learns nothing real; the loop is what is tested)."""

    def __init__(self, n: int, length: int, vocab: int):
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, vocab, (n, length), generator=g)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


@pytest.fixture
def trainer_run(runtime_dir, tmp_path):
    """A Trainer with the callback, training on a thread until stopped; stopped and joined in teardown."""
    from loratop_hf import LoratopCallback

    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32,
                                    bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    try:
        import peft
        model = peft.get_peft_model(model, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"],
                                                           lora_dropout=0.0))
    except ImportError:
        pass
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=100_000, per_device_train_batch_size=2, learning_rate=2e-4,
        lr_scheduler_type="constant", logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True)  # tokens are counted: the callback turns that on
    callback = LoratopCallback(data="random tokens")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=_Tokens(64, 16, 64), callbacks=[callback])
    result = {}

    def train():
        try:
            result["output"] = trainer.train()
        except BaseException as e:  # reported by the test
            result["error"] = e

    thread = threading.Thread(target=train, name="trainer", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while callback.server is None or callback.server.socket_path is None:
            assert thread.is_alive() and time.monotonic() < deadline, f"the Trainer did not start: {result}"
            time.sleep(0.02)
        yield trainer, callback, thread, result
    finally:
        if thread.is_alive() and callback.server is not None:
            c = None
            try:
                c = RawClient(callback.server.socket_path)
                c.message()  # a client that closes with the hello unread resets the connection before it is read
                c.send({"type": "command", "id": "teardown", "line": "stop nosave"})
                c.until(lambda m: m["type"] == "ack")
            except (OSError, AssertionError, TimeoutError):
                pass
            finally:
                if c is not None:
                    c.close()
        thread.join(60)
        assert not thread.is_alive(), "the Trainer did not stop"


def test_trainer_run_is_served_and_steered(trainer_run):
    trainer, callback, thread, result = trainer_run
    c = RawClient(callback.server.socket_path)
    try:
        hello = c.message()
        assert hello["run"]["kind"] == "pytorch" and hello["progress"]["total_steps"] == 100_000
        c.send({"type": "attach", "read_only": False})
        state = c.until(lambda m: m["type"] == "state")[-1]
        assert state["settings"]["learning_rate"] == pytest.approx(2e-4)
        assert state["settings"]["schedule"] == "constant"
        step = c.until(lambda m: m["type"] == "step")[-1]["record"]
        assert step["tokens"] == 32 and step["seconds"] > 0 and step["loss"] > 0
        assert callback.settings.seq_len == 16, "the sequence length is learnt from the batches (2 × 16 tokens)"

        c.send({"type": "command", "id": "r", "line": "rank 16"})
        ack = c.until(lambda m: m["type"] == "ack")[-1]
        assert not ack["ok"] and "cannot change the LoRA rank" in ack["error"]

        c.send({"type": "command", "id": "lr", "line": "lr 1e-4"})
        change = c.until(lambda m: m["type"] == "change")[-1]["change"]
        assert change["kind"] == "lr" and change["to"] == "1e-04"
        nxt = c.until(lambda m: m["type"] == "step")[-1]["record"]
        assert nxt["step"] == change["step"] + 1 and nxt["learning_rate"] == pytest.approx(1e-4)
        logged = [h for h in trainer.state.log_history if h.get("step") == change["step"] + 1]
        assert logged and logged[0]["learning_rate"] == pytest.approx(1e-4)  # the Trainer's own log

        c.send({"type": "command", "id": "p", "line": "pause"})
        c.until(lambda m: m["type"] == "status" and m["status"] == "paused")
        held = trainer.state.global_step
        time.sleep(0.3)
        assert trainer.state.global_step == held
        c.send({"type": "command", "id": "s", "line": "save"})
        ck = c.until(lambda m: m["type"] == "checkpoint")[-1]["path"]
        assert ck.endswith(f"checkpoint-{held}") and os.path.isdir(ck)
        time.sleep(0.2)
        assert trainer.state.global_step == held, "a step ran while paused"
        c.send({"type": "command", "id": "go", "line": "resume"})
        c.until(lambda m: m["type"] == "step" and m["record"]["step"] > held + 2)

        c.send({"type": "command", "id": "x", "line": "stop"})
        seen = c.until(lambda m: m["type"] == "status" and m["status"] == "stopped", timeout=30)
        assert "checkpoint" in [m["type"] for m in seen]
        thread.join(30)
        assert "error" not in result, result.get("error")
        assert trainer.state.global_step < 100_000
    finally:
        c.close()


def test_alpha_and_dropout_change_peft_layers_as_setting_them_by_hand(trainer_run):
    peft = pytest.importorskip("peft", reason="peft is not installed (pip install peft)")
    import copy

    trainer, callback, thread, result = trainer_run
    model = trainer.model
    assert isinstance(model, peft.PeftModel)
    c = RawClient(callback.server.socket_path)
    try:
        c.message()
        c.send({"type": "attach", "read_only": False})
        state = c.until(lambda m: m["type"] == "state")[-1]
        assert (state["settings"]["rank"], state["settings"]["alpha"]) == (4, 8)
        assert state["settings"]["targets"] == ["c_attn"]
        c.send({"type": "command", "id": "p", "line": "pause"})
        c.until(lambda m: m["type"] == "status" and m["status"] == "paused")
        reference = copy.deepcopy(model)  # the same weights: nothing trains while paused
        batch = torch.arange(16).reshape(1, 16) % 64
        with torch.no_grad():
            before = model(input_ids=batch).logits

        c.send({"type": "command", "id": "a", "line": "alpha 32"})
        change = c.until(lambda m: m["type"] == "change")[-1]["change"]
        assert change["kind"] == "alpha" and change["from"] == "8" and change["to"] == "32"
        settings = c.until(lambda m: m["type"] == "settings")[-1]["settings"]
        assert settings["alpha"] == 32
        layers = [m for m in reference.modules() if isinstance(m, peft.tuners.lora.LoraLayer)]
        assert layers
        for m in layers:
            m.scaling["default"] = 32 / m.r["default"]  # PEFT's scaling, set by hand
        with torch.no_grad():
            after = model(input_ids=batch).logits
            by_hand = reference(input_ids=batch).logits
        assert torch.equal(after, by_hand)
        assert not torch.equal(after, before) or all(
            torch.count_nonzero(m.lora_B["default"].weight) == 0 for m in layers)
        assert model.peft_config["default"].lora_alpha == 32

        c.send({"type": "command", "id": "d", "line": "dropout 0.1"})
        change = c.until(lambda m: m["type"] == "change")[-1]["change"]
        assert change["kind"] == "dropout" and change["from"] == "0" and change["to"] == "0.1"
        drops = [m.lora_dropout["default"] for m in model.modules() if isinstance(m, peft.tuners.lora.LoraLayer)]
        assert drops and all(isinstance(d, torch.nn.Dropout) and d.p == pytest.approx(0.1) for d in drops)
        assert model.peft_config["default"].lora_dropout == pytest.approx(0.1)
        c.send({"type": "command", "id": "r", "line": "resume"})
        held = state["step"]
        c.until(lambda m: m["type"] == "step" and m["record"]["step"] > held + 2)
    finally:
        c.close()
