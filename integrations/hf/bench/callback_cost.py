"""What LoratopCallback costs a Trainer run: a PEFT LoRA run of a model folder (default: the sample model's fp32
twin) for N steps with one viewer attached (a thread reading every event, as `loratop attach` does), timing every
callback method the Trainer calls on the training thread against the whole step.

    python integrations/hf/bench/callback_cost.py [--model FOLDER] [--steps 50] [--runs 3]

Prints, per run, the training time, the callback's time on the training thread and their ratio, then the median.
The server's own thread (encoding, sockets) runs beside training, off the training thread's path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

CACHE = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "loratop")
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

HOOKS = ("on_train_begin", "on_step_begin", "on_step_end", "on_log", "on_evaluate", "on_save", "on_train_end",
         "on_substep_end", "on_pre_optimizer_step", "on_optimizer_step")


def timed(callback, totals):
    """Wraps the callback's hooks so their time on the training thread adds up in `totals`."""
    for name in HOOKS:
        f = getattr(callback, name, None)
        if f is None:
            continue

        def wrapper(*a, _f=f, _n=name, **k):
            t = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                totals[_n] = totals.get(_n, 0.0) + time.perf_counter() - t
        setattr(callback, name, wrapper)


def one_run(model_folder: str, steps: int) -> dict:
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    import train_lora
    from conftest import RawClient
    from loratop_hf import LoratopCallback

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_folder)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=train_lora.TARGETS,
                                             task_type="CAUSAL_LM"))
    data = train_lora.Examples(train_lora.read_jsonl(os.path.join(ROOT, "sample-data", "tags-train.jsonl")),
                               tokenizer, 64)
    out = tempfile.mkdtemp(prefix="loratop-hf-bench-")
    args = transformers.TrainingArguments(
        output_dir=out, max_steps=steps, per_device_train_batch_size=4, learning_rate=2e-4,
        lr_scheduler_type="constant", logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True,
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True,
        include_num_input_tokens_seen=True)
    callback = LoratopCallback(handle_signals=False)
    totals: dict = {}
    timed(callback, totals)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback],
                                   data_collator=train_lora.collate(tokenizer.pad_token_id or 0),
                                   processing_class=tokenizer)
    events = {"n": 0}
    stop = threading.Event()

    def viewer():
        while callback.server is None or callback.server.socket_path is None:
            if stop.is_set():
                return
            time.sleep(0.01)
        c = RawClient(callback.server.socket_path)
        c.message()
        c.send({"type": "attach", "read_only": True})
        try:
            while not stop.is_set():
                if c.message(30) is None:
                    return
                events["n"] += 1
        except (TimeoutError, OSError, AssertionError):
            return
        finally:
            c.close()

    watcher = threading.Thread(target=viewer, daemon=True)
    watcher.start()
    started = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - started
    stop.set()
    watcher.join(5)
    total = sum(totals.values())
    return {"wall": wall, "callback": total, "ratio": total / wall, "events": events["n"], "hooks": totals}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=os.path.join(CACHE, "SmolLM2-135M-Instruct-hf"))
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    if not os.path.isdir(a.model):
        print(f"callback_cost: {a.model}: no such model folder (examples/make_model_folder.py makes the sample's)",
              file=sys.stderr)
        return 2
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="loratop-hf-bench-xdg-"))
    ratios = []
    for i in range(a.runs):
        r = one_run(a.model, a.steps)
        ratios.append(r["ratio"])
        hooks = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in sorted(r["hooks"].items()))
        print(f"run {i + 1}: {a.steps} steps in {r['wall']:.1f} s, callback on the training thread "
              f"{r['callback'] * 1e3:.1f} ms = {r['ratio'] * 100:.3f}% ({hooks}); the viewer read {r['events']} "
              f"events", flush=True)
    print(f"median: {statistics.median(ratios) * 100:.3f}% of training time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
