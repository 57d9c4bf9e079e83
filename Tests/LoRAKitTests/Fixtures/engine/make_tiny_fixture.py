"""Writes tiny_llama.json: a 2-layer GQA LLaMA (tied head) with PEFT LoRA on all seven projections and
NONZERO B, one batch with masked targets, and PyTorch's logits, loss and every LoRA A/B gradient, plus the
losses of ten AdamW steps (2 micro-batches each, cosine schedule with warmup, grad clipping).

Run with the reference venv:  ~/.cache/loratop-ref/venv/bin/python make_tiny_fixture.py
"""
import json
import os

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup

torch.manual_seed(1234)
torch.set_num_threads(1)
cfg = LlamaConfig(
    vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, head_dim=8, max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-5,
    tie_word_embeddings=True, attention_bias=False, initializer_range=0.2, hidden_act="silu",
)
model = LlamaForCausalLM(cfg).float().eval()
with torch.no_grad():  # non-trivial norm weights
    for name, p in model.named_parameters():
        if "norm" in name:
            p.copy_(1 + 0.2 * torch.randn_like(p))
base = {k: v.detach().clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}

R, ALPHA = 4, 8
lcfg = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=0.0,
                  target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
peft = get_peft_model(model, lcfg)
with torch.no_grad():
    for name, p in peft.named_parameters():
        if "lora_B" in name:
            p.copy_(0.3 * torch.randn_like(p))


def short(name):  # base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight -> model.layers.0.self_attn.q_proj.lora_A
    return name.replace("base_model.model.", "", 1).replace(".default.weight", "")


lora_params = [(short(n), p) for n, p in peft.named_parameters() if p.requires_grad]
init_lora = {n: p.detach().clone() for n, p in lora_params}

B, T, V = 2, 8, cfg.vocab_size


def make_batch(masked):
    ids = torch.randint(0, V, (B, T + 1))
    inputs, targets = ids[:, :-1].clone(), ids[:, 1:].clone()
    for b, t in masked:
        targets[b, t] = -1
    return inputs, targets


batches = [make_batch([(0, 3), (1, 0), (1, 1), (1, 2)]), make_batch([(0, 0), (1, 7)])]

# 1) logits, loss, gradients on the first batch
inputs, targets = batches[0]
logits = peft(input_ids=inputs).logits
loss = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
loss.backward()
grads = {n: p.grad.detach().clone() for n, p in lora_params}
peft.zero_grad()

# 2) ten AdamW steps, two micro-batches each, loss = mean over all unmasked positions of the step
LR, WARMUP, STEPS, CLIP = 1e-2, 3, 10, 1.0
opt = torch.optim.AdamW([p for _, p in lora_params], lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=WARMUP, num_training_steps=STEPS)
losses, norms, lrs = [], [], []
for step in range(STEPS):
    ntok = sum(int((t != -1).sum()) for _, t in batches)
    total = 0.0
    for x, t in batches:
        lg = peft(input_ids=x).logits
        l_sum = F.cross_entropy(lg.reshape(-1, V), t.reshape(-1), ignore_index=-1, reduction="sum")
        (l_sum / ntok).backward()
        total += float(l_sum.detach())
    norm = torch.nn.utils.clip_grad_norm_([p for _, p in lora_params], CLIP)
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    sched.step()
    opt.zero_grad()
    losses.append(total / ntok)
    norms.append(float(norm))


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


out = {
    "config": dict({k: getattr(cfg, k) for k in ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                                "num_attention_heads", "num_key_value_heads", "head_dim",
                                                "max_position_embeddings", "rms_norm_eps",
                                                "tie_word_embeddings", "attention_bias"]},
                    rope_theta=cfg.rope_parameters["rope_theta"]),
    "lora": {"r": R, "lora_alpha": ALPHA, "lora_dropout": 0.0,
             "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
    "base": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in base.items()},
    "lora_init": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in init_lora.items()},
    "batches": [{"batch": B, "seq_len": T, "inputs": x.reshape(-1).tolist(), "targets": t.reshape(-1).tolist()}
                for x, t in batches],
    "expected": {"loss": float(loss), "logits": flat(logits), "grads": {k: flat(v) for k, v in grads.items()}},
    "train": {"lr": LR, "warmup": WARMUP, "steps": STEPS, "clip": CLIP, "weight_decay": 0.01,
              "losses": losses, "grad_norms": norms, "lrs": lrs},
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny_llama.json")
with open(path, "w") as f:
    json.dump(out, f)
print(path, os.path.getsize(path), "bytes; loss", float(loss), "train losses", losses)
