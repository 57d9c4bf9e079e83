"""Gemma 2 and Gemma 3 parity fixtures (issue 14): tiny random Gemma2ForCausalLM and Gemma3ForCausalLM folders written
by transformers, eager attention, each with what sets the family apart from LLaMA switched on and made to matter:

- embeddings scaled by sqrt(hidden); RMSNorm with (1 + w), every norm weight drawn nonzero; GeGLU (tanh GELU);
  the post-attention and post-feed-forward norms; query_pre_attn_scalar != head_dim; head_dim != hidden / heads;
  tied head; sliding-window layers with a window of 6, shorter than two of the prompts;
- Gemma 2: attention logit soft-capping at 5 and final logit soft-capping at 3 (small, so tanh bends them);
- Gemma 3: per-head q/k norms, local layers with their own RoPE base (10,000) and global layers with theirs (1e6),
  the layer pattern sliding, full, sliding.

For each: the logits at every position of three prompts and transformers' greedy 24-token continuation of each; a PEFT
LoRA adapter on all seven projections (r 4, alpha 8, B drawn nonzero) saved with save_pretrained, and, on a batch of
two sequences with masked targets, the loss and every lora_A / lora_B gradient from torch autograd.

Run: ~/.cache/loratop/pyenv/bin/python make_gemma_fixture.py   (transformers 5.24, peft 0.21.2, torch 2.13 CPU)
-> tiny-gemma2-hf/, tiny-gemma2-peft/, tiny-gemma2-grads.json and the same for gemma3

Then, for the other direction: `LORATOP_WRITE_FIXTURES=1 swift test ... --filter GemmaLoratopAdapterWriter` trains an
adapter with loratop on each folder and writes it as PEFT files to tiny-NAME-loratop-peft/, and
  ~/.cache/loratop/pyenv/bin/python make_gemma_fixture.py loratop
loads each in PEFT on the transformers model -> tiny-NAME-loratop-peft/peft_logits.json (the logits of the three
prompts, the same structure as expected.json).
"""
import sys
import json, os
import torch
from transformers import Gemma2Config, Gemma2ForCausalLM, Gemma3TextConfig, Gemma3ForCausalLM
from peft import LoraConfig, get_peft_model

here = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(2)
V = 96


def build(name, model):
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:   # Gemma's norms start at w = 0, i.e. a factor 1: make every one non-trivial
                p.add_(torch.randn_like(p) * 0.2)
            else:
                p.mul_(6.0)
    d = os.path.join(here, f"tiny-{name}-hf")
    model.save_pretrained(d, safe_serialization=True)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))
    gen = torch.Generator().manual_seed(5)
    prompts = []
    for n in (5, 12, 20):
        ids = [int(x) for x in torch.randint(0, V, (n,), generator=gen)]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            cont = model.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                                  eos_token_id=None, pad_token_id=0)[0, n:].tolist()
        prompts.append({"ids": ids, "logits": logits.flatten().tolist(), "greedy": cont})
    json.dump({"prompts": prompts}, open(os.path.join(d, "expected.json"), "w"))

    lcfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    pm = get_peft_model(model, lcfg)
    torch.manual_seed(17)
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if "lora_B" in pname:
                p.copy_(torch.randn_like(p) * 0.3)
    pm.save_pretrained(os.path.join(here, f"tiny-{name}-peft"))
    inputs = torch.randint(0, V, (2, 16), generator=gen)
    targets = torch.randint(0, V, (2, 16), generator=gen)
    targets[0, :5] = -100   # a prompt's positions
    targets[1, 12:] = -100  # padding
    out = pm(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(out.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    grads = {}
    for pname, p in pm.named_parameters():
        if p.grad is not None and "lora_" in pname:
            key = pname.replace("base_model.model.", "", 1).replace(".default.weight", "")
            grads[key] = p.grad.flatten().tolist()
    with torch.no_grad():
        adapted = pm(input_ids=inputs).logits[0].flatten().tolist()
    json.dump({"inputs": inputs.flatten().tolist(), "targets": targets.flatten().tolist(), "batch": 2, "seq_len": 16,
               "loss": float(loss), "logits_seq0": adapted, "grads": grads},
              open(os.path.join(here, f"tiny-{name}-grads.json"), "w"))
    print(f"{name}:", sum(p.numel() for p in model.parameters()), "params;", len(grads), "LoRA gradients; loss", float(loss))


def loratop_adapters():
    from peft import PeftModel
    for name, cls in (("gemma2", Gemma2ForCausalLM), ("gemma3", Gemma3ForCausalLM)):
        base = cls.from_pretrained(os.path.join(here, f"tiny-{name}-hf"), attn_implementation="eager").eval()
        pm = PeftModel.from_pretrained(base, os.path.join(here, f"tiny-{name}-loratop-peft")).eval()
        prompts = []
        for p in json.load(open(os.path.join(here, f"tiny-{name}-hf", "expected.json")))["prompts"]:
            with torch.no_grad():
                logits = pm(torch.tensor([p["ids"]])).logits[0]
            prompts.append({"ids": p["ids"], "logits": logits.flatten().tolist()})
        json.dump({"prompts": prompts}, open(os.path.join(here, f"tiny-{name}-loratop-peft", "peft_logits.json"), "w"))
        print(name, "loratop adapter in PEFT done")


if len(sys.argv) > 1 and sys.argv[1] == "loratop":
    loratop_adapters()
    sys.exit(0)

g2 = Gemma2Config(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                  rope_theta=10000.0, tie_word_embeddings=True, query_pre_attn_scalar=20, sliding_window=6,
                  attn_logit_softcapping=5.0, final_logit_softcapping=3.0, hidden_activation="gelu_pytorch_tanh",
                  attn_implementation="eager")
torch.manual_seed(13)
build("gemma2", Gemma2ForCausalLM(g2).eval())

g3 = Gemma3TextConfig(vocab_size=V, hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4,
                      num_key_value_heads=1, head_dim=24, max_position_embeddings=128, rms_norm_eps=1e-6,
                      tie_word_embeddings=True, query_pre_attn_scalar=32, sliding_window=6,
                      layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                      rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                       "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
                      hidden_activation="gelu_pytorch_tanh", attn_implementation="eager")
torch.manual_seed(19)
build("gemma3", Gemma3ForCausalLM(g3).eval())
