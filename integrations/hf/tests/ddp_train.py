"""A Trainer run with LoratopCallback for `torchrun --nproc_per_node 2` (gloo on CPU): a tiny random GPT-2 trained
until a viewer stops it. Each rank writes OUTPUT/rank<R>.json at the end: its step count and the learning rate
the Trainer logged at each step."""

import json
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from loratop_hf import LoratopCallback  # noqa: E402


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n, length, vocab):
        self.ids = torch.randint(0, vocab, (n, length), generator=torch.Generator().manual_seed(0))

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "labels": self.ids[i]}


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=32, bos_token_id=0,
                                     eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    args = transformers.TrainingArguments(
        output_dir=out, max_steps=100_000, per_device_train_batch_size=2, learning_rate=2e-4,
        lr_scheduler_type="constant", logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True,
        ddp_backend="gloo", dataloader_num_workers=0, disable_tqdm=True, log_level="error")
    trainer = transformers.Trainer(model=model, args=args, train_dataset=Tokens(256, 16, 64),
                                   callbacks=[LoratopCallback(data="random tokens")])
    trainer.train()
    rank = int(os.environ.get("RANK", "0"))
    lrs = {h["step"]: h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h and "step" in h}
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"global_step": trainer.state.global_step, "lrs": lrs}, f)


if __name__ == "__main__":
    main()
