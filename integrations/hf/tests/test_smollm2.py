"""The acceptance run: a real Trainer + PEFT LoRA fine-tune of SmolLM2-135M (loratop's sample model, as the fp32
Hugging Face folder `examples/make_model_folder.py` makes of its GGUF file), steered by the loratop binary.

Needs torch, transformers, peft and accelerate (`.ci/python-env` installs them), the sample model
(`loratop fetch-model smollm2`) and the loratop binary; skipped, saying which is missing, without them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (.ci/python-env installs it)")
transformers = pytest.importorskip("transformers", reason="transformers is not installed (.ci/python-env)")
peft = pytest.importorskip("peft", reason="peft is not installed (.ci/python-env)")
pytest.importorskip("accelerate", reason="accelerate is not installed (.ci/python-env)")

from conftest import RawClient, loratop  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
LORATOP = os.path.join(ROOT, ".build", "release", "loratop")
EXAMPLE = os.path.join(ROOT, "integrations", "hf", "examples", "train_lora.py")
TRAIN = os.path.join(ROOT, "sample-data", "tags-train.jsonl")
EVAL = os.path.join(ROOT, "sample-data", "tags-eval.jsonl")

pytestmark = pytest.mark.skipif(not os.access(LORATOP, os.X_OK), reason=f"{LORATOP} is not built")


def applied_step(out: str) -> int:
    m = re.search(r"applied at step (\d+)", out)
    assert m, out
    return int(m.group(1))


def test_a_trainer_run_of_smollm2_is_listed_steered_saved_resumed_and_stopped(model_folder, scripts, tmp_path):
    run = scripts(tmp_path, model_folder, "--steps", "200")
    entry = run.entry()
    rid = entry["run"]["id"]
    assert entry["run"]["kind"] == "pytorch" and entry["run"]["model"] == model_folder
    table = loratop("ls")
    assert rid in table.stdout and "SmolLM2-135M-Instruct-hf" in table.stdout

    viewer = RawClient(entry["socket"])
    try:
        viewer.message(10)
        viewer.send({"type": "attach", "read_only": True})
        state = viewer.until(lambda m: m["type"] == "state", 10)[-1]
        s = state["settings"]
        assert (s["rank"], s["alpha"], s["learning_rate"], s["schedule"]) == (8, 16, pytest.approx(2e-4), "constant")
        assert s["targets"] == sorted(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
        assert s["batch_size"] == 2 and s["quantization"] == "f32"
        assert "PEFT" in state["unsupported"]["rank"] and "quant" in state["unsupported"]
        # In the state when the run had figures by then (it has from its start), else in the next memory event.
        memory = state.get("memory") or viewer.until(lambda m: m["type"] == "memory", 120)[-1]["memory"]
        parts = {p["kind"]: p["bytes"] for p in memory["parts"]}
        assert 500e6 < parts["base_weights"] < 600e6, parts  # 134.5M fp32 parameters
        assert 0 < parts["adapters"] < 20e6
        # The resident set is measured, not derived: the weights are mmapped, so at the start it may be below them.
        assert 100e6 < memory["resident_bytes"] <= memory["peak_resident_bytes"]
        record = viewer.until(lambda m: m["type"] == "step", 60)[-1]["record"]
        assert record["tokens"] > 0 and record["seconds"] > 0 and record["loss"] > 0

        lr = loratop("send", rid, "lr 1e-4", "--wait")
        assert lr.returncode == 0, lr.stdout + lr.stderr
        changed = applied_step(lr.stdout)

        refused = loratop("send", rid, "rank 16")
        assert refused.returncode != 0 and "PEFT" in refused.stdout + refused.stderr

        sample = loratop("send", rid, "sample", "--wait")
        assert sample.returncode == 0 and "samples" in sample.stdout, sample.stdout + sample.stderr
        samples = viewer.until(lambda m: m["type"] == "samples", 60)[-1]["samples"]
        assert len(samples) == 3
        for x in samples:
            assert "<|im_start|>assistant" in x["prompt"] and x["adapted"].strip() and x["base"].strip()

        saved = loratop("send", rid, "save", "--wait")
        assert saved.returncode == 0, saved.stdout + saved.stderr
        checkpoint = viewer.until(lambda m: m["type"] == "checkpoint", 60)[-1]["path"]
        for name in ("adapter_model.safetensors", "adapter_config.json", "trainer_state.json", "optimizer.pt",
                     "scheduler.pt"):
            assert os.path.isfile(os.path.join(checkpoint, name)), name

        stopped = loratop("send", rid, "stop", "--wait")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    finally:
        viewer.close()
    assert run.wait() == 0, run.tail()
    history = json.load(open(run.history))
    lrs = {h["step"]: h["learning_rate"] for h in history["log_history"] if "learning_rate" in h}
    assert lrs[changed] == pytest.approx(2e-4) and lrs[changed + 1] == pytest.approx(1e-4), lrs
    last = history["global_step"]
    assert changed < last < 200

    # The checkpoint `save` wrote is a normal Trainer checkpoint: the script resumes from it.
    at = json.load(open(os.path.join(checkpoint, "trainer_state.json")))["global_step"]
    again = scripts(tmp_path, model_folder, "--steps", str(at + 3), "--resume", checkpoint, name="again")
    assert again.wait() == 0, again.tail()
    resumed = json.load(open(again.history))
    assert resumed["global_step"] == at + 3
    steps = [h["step"] for h in resumed["log_history"] if "loss" in h and h["step"] > at]
    assert steps[:3] == [at + 1, at + 2, at + 3], steps


@pytest.fixture
def in_process_run(model_folder, runtime_dir, tmp_path):
    """SmolLM2 + PEFT LoRA under a Trainer on a thread, with the callback; stopped and joined in teardown."""
    sys.path.insert(0, os.path.dirname(EXAMPLE))
    import train_lora
    from loratop_hf import LoratopCallback

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_folder)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    model = peft.get_peft_model(model, peft.LoraConfig(r=8, lora_alpha=16, target_modules=train_lora.TARGETS,
                                                       task_type="CAUSAL_LM"))
    data = train_lora.Examples(train_lora.read_jsonl(TRAIN)[:64], tokenizer, 48)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=10_000, per_device_train_batch_size=2, learning_rate=2e-4,
        lr_scheduler_type="constant", logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True,
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True)
    callback = LoratopCallback(handle_signals=False)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback],
                                   data_collator=train_lora.collate(tokenizer.pad_token_id or 0),
                                   processing_class=tokenizer)
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("out", trainer.train()), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while callback.server is None or callback.server.socket_path is None:
            assert thread.is_alive() and time.monotonic() < deadline, "the Trainer did not start"
            time.sleep(0.05)
        yield trainer, callback, tokenizer
    finally:
        if thread.is_alive() and callback.server is not None:
            try:
                c = RawClient(callback.server.socket_path)
                c.message()
                c.send({"type": "command", "id": "end", "line": "stop nosave"})
                c.until(lambda m: m["type"] == "ack")
                c.close()
            except (OSError, AssertionError, TimeoutError):
                pass
        thread.join(120)
        assert not thread.is_alive(), "the Trainer did not stop"


def test_alpha_32_changes_smollm2_logits_exactly_as_peft_scaling_set_by_hand(in_process_run):
    trainer, callback, tokenizer = in_process_run
    model = trainer.model
    c = RawClient(callback.server.socket_path)
    try:
        c.message()
        c.send({"type": "attach", "read_only": False})
        c.until(lambda m: m["type"] == "step", 60)
        c.until(lambda m: m["type"] == "step", 60)  # B is no longer zero: alpha shows in the logits
        c.send({"type": "command", "id": "p", "line": "pause"})
        c.until(lambda m: m["type"] == "status" and m["status"] == "paused", 60)
        batch = tokenizer(["Make a loratop tag for: quiet river stone"], return_tensors="pt")
        model.eval()
        with torch.no_grad():
            before = model(**batch).logits
        reference = copy.deepcopy(model)  # the same weights: nothing trains while paused

        c.send({"type": "command", "id": "a", "line": "alpha 32"})
        change = c.until(lambda m: m["type"] == "change", 30)[-1]["change"]
        assert (change["kind"], change["from"], change["to"]) == ("alpha", "16", "32")
        layers = [m for m in reference.modules() if isinstance(m, peft.tuners.lora.LoraLayer)]
        assert len(layers) == 30 * 7
        for m in layers:
            m.scaling["default"] = 32 / m.r["default"]  # PEFT's scaling, set by hand
        with torch.no_grad():
            after = model(**batch).logits
            by_hand = reference(**batch).logits
        model.train()
        assert torch.equal(after, by_hand)
        assert (after - before).abs().max() > 1e-4
        c.send({"type": "command", "id": "r", "line": "resume"})
        c.until(lambda m: m["type"] == "step", 60)
    finally:
        c.close()
