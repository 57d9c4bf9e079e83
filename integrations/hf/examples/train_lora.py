"""Fine-tune a causal LM with a PEFT LoRA adapter under Hugging Face's Trainer, watched and steered with loratop.

    python integrations/hf/examples/train_lora.py --model HuggingFaceTB/SmolLM2-135M-Instruct \\
        --data sample-data/tags-train.jsonl --eval-data sample-data/tags-eval.jsonl --out runs/hf
    torchrun --nproc_per_node 2 integrations/hf/examples/train_lora.py ...     # gloo on CPUs, nccl on GPUs

    loratop ls                    # the run is listed, kind pytorch
    loratop attach                # its loss chart, settings, memory; keys steer it
    loratop send ID "lr 1e-4"     # or alpha 32, dropout 0.1, save, eval, sample, pause, resume, stop

Data: JSONL, each line {"messages": [{"role": ..., "content": ...}, ...]} (the tokenizer's chat template; the loss
is on the assistant's turns only) or {"text": "..."} (loss on every token).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List

import torch
import transformers
from peft import LoraConfig, get_peft_model

try:
    from loratop_hf import LoratopCallback
except ImportError:  # run from a checkout without `pip install ./integrations/hf`
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from loratop_hf import LoratopCallback

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_jsonl(path: str) -> List[Dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not JSON ({e.msg})")
    return rows


def encode(row: Dict[str, Any], tokenizer: Any, seq_len: int) -> Dict[str, List[int]]:
    """input_ids and labels; with `messages`, labels are -100 except on the assistant's turns."""
    if "messages" in row:
        ids: List[int] = []
        labels: List[int] = []
        for i, turn in enumerate(row["messages"]):
            before = tokenizer.apply_chat_template(row["messages"][:i], tokenize=False) if i else ""
            through = tokenizer.apply_chat_template(row["messages"][:i + 1], tokenize=False)
            piece = tokenizer(through[len(before):], add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if turn.get("role") == "assistant" else [-100] * len(piece)
    else:
        ids = tokenizer(row["text"], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        labels = list(ids)
    return {"input_ids": ids[:seq_len], "labels": labels[:seq_len]}


class Examples(torch.utils.data.Dataset):
    def __init__(self, rows: List[Dict[str, Any]], tokenizer: Any, seq_len: int):
        self.rows = rows
        self.items = [encode(r, tokenizer, seq_len) for r in rows]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Dict[str, Any]:
        item = dict(self.items[i])
        if "messages" in self.rows[i]:
            item["messages"] = self.rows[i]["messages"]  # what `sample` prompts with (the collator drops it)
        return item


def collate(pad: int):
    def batch(items: List[Dict[str, Any]]) -> Dict[str, torch.Tensor]:
        n = max(len(x["input_ids"]) for x in items)
        ids = torch.full((len(items), n), pad, dtype=torch.long)
        labels = torch.full((len(items), n), -100, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for i, x in enumerate(items):
            k = len(x["input_ids"])
            ids[i, :k] = torch.tensor(x["input_ids"])
            labels[i, :k] = torch.tensor(x["labels"])
            mask[i, :k] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}
    return batch


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description="LoRA fine-tuning with Trainer + PEFT, served to loratop")
    p.add_argument("--model", required=True, help="a Hugging Face model folder or hub name")
    p.add_argument("--data", required=True, help="training JSONL")
    p.add_argument("--eval-data", help="evaluation JSONL (the `eval` command and sample prompts)")
    p.add_argument("--out", required=True, help="output folder: checkpoint-N folders")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--schedule", default="cosine", help="linear, cosine, constant, ...")
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--save-steps", type=int, default=0, help="also save every N steps (0: only when asked)")
    p.add_argument("--resume", help="a checkpoint-N folder to resume from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sample-tokens", type=int, default=48, help="new tokens per answer of the `sample` command")
    p.add_argument("--history", help="write the Trainer's log history (JSON) here at the end (HISTORY.rankN for "
                                     "each rank under torchrun)")
    a = p.parse_args(argv)

    transformers.set_seed(a.seed)
    tokenizer = transformers.AutoTokenizer.from_pretrained(a.model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=a.dropout,
                                             target_modules=TARGETS, task_type="CAUSAL_LM"))
    train = Examples(read_jsonl(a.data), tokenizer, a.seq_len)
    evaluation = Examples(read_jsonl(a.eval_data), tokenizer, a.seq_len) if a.eval_data else None
    args = transformers.TrainingArguments(
        output_dir=a.out, max_steps=a.steps, per_device_train_batch_size=a.batch_size,
        per_device_eval_batch_size=a.batch_size, learning_rate=a.lr, lr_scheduler_type=a.schedule,
        warmup_steps=a.warmup, logging_steps=10, eval_strategy="no",
        save_strategy="steps" if a.save_steps else "no", save_steps=a.save_steps or 500, report_to=[],
        remove_unused_columns=False, dataloader_num_workers=0, disable_tqdm=True, seed=a.seed,
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available() else None)
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train, eval_dataset=evaluation,
                                   data_collator=collate(tokenizer.pad_token_id), processing_class=tokenizer,
                                   callbacks=[LoratopCallback(data=a.data, sample_tokens=a.sample_tokens)])
    trainer.train(resume_from_checkpoint=a.resume)
    if a.history:  # every rank's own log under torchrun: HISTORY.rankN
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        path = f"{a.history}.rank{os.environ.get('RANK', '0')}" if several else a.history
        with open(path, "w") as f:
            json.dump({"global_step": trainer.state.global_step, "log_history": trainer.state.log_history}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
