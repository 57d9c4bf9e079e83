"""What every parity fixture script here does to a tiny random transformers model (imported by the make_*_fixture.py
scripts beside it): make its weights non-trivial, save it as a folder, record logits and greedy continuations of three
seeded prompts, and record a PEFT adapter with the LoRA gradients of a masked batch."""
import json, os
import torch


def perturb(model, gain=6.0, norm_noise=0.2):
    """Norm weights (1-D) get noise so none is trivial; matrices are scaled so that positions matter to the logits."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * norm_noise)
            else:
                p.mul_(gain)


def save_folder(model, d):
    """save_pretrained with safetensors, without the generation_config.json loratop does not read."""
    model.save_pretrained(d, safe_serialization=True)
    if os.path.exists(os.path.join(d, "generation_config.json")):
        os.remove(os.path.join(d, "generation_config.json"))


def fresh_rope(model):
    """Puts a dynamic-NTK rotary embedding back to its first state. transformers keeps the frequencies of the longest
    sequence seen until one shorter than max_position_embeddings comes, so a forward's logits would depend on the
    forwards before it; with this before each, they are those of a forward over positions 0..<L alone."""
    rotary = model.get_base_model().model.rotary_emb if hasattr(model, "get_base_model") else model.model.rotary_emb
    rotary.register_buffer("inv_freq", rotary.original_inv_freq.clone(), persistent=False)
    rotary.max_seq_len_cached = rotary.original_max_seq_len


def prompts(model, vocab=96, low=0, gen=None, reset=None):
    """Three prompts of 5, 12 and 20 ids in [low, vocab) from `gen` (seed 5 unless given): the logits at every position
    and the greedy 24-token continuation of each. Returns the list and the generator, for the draws that follow.
    `reset(model)`, when given, runs before each forward and each generation."""
    gen = gen or torch.Generator().manual_seed(5)
    out = []
    for n in (5, 12, 20):
        ids = [int(x) for x in torch.randint(low, vocab, (n,), generator=gen)]
        with torch.no_grad():
            if reset:
                reset(model)
            logits = model(torch.tensor([ids])).logits[0]
            if reset:
                reset(model)
            cont = model.generate(torch.tensor([ids]), max_new_tokens=24, min_new_tokens=24, do_sample=False,
                                  eos_token_id=None, pad_token_id=0)[0, n:].tolist()
        out.append({"ids": ids, "logits": logits.flatten().tolist(), "greedy": cont})
    return out, gen


def peft_model(model, target_modules, b_seed, b_scale):
    """PEFT LoRA (r 4, alpha 8, no dropout) on `target_modules`, B drawn nonzero from seed `b_seed` so every gradient
    is."""
    from peft import LoraConfig, get_peft_model
    cfg = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM", target_modules=target_modules)
    pm = get_peft_model(model, cfg)
    torch.manual_seed(b_seed)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn_like(p) * b_scale)
    return pm


def gradients(pm, gen, vocab, path, reset=None):
    """On a batch of two sequences of 16 from `gen` with masked targets (a prompt's first 5, padding after 12): the
    loss, every lora_A / lora_B gradient from torch autograd (by module name) and PEFT's logits of the first sequence,
    written to `path`. Returns the number of gradients and the loss. `reset(pm)`, when given, runs before the
    forwards."""
    inputs = torch.randint(0, vocab, (2, 16), generator=gen)
    targets = torch.randint(0, vocab, (2, 16), generator=gen)
    targets[0, :5] = -100
    targets[1, 12:] = -100
    if reset:
        reset(pm)
    out = pm(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(out.reshape(-1, vocab), targets.reshape(-1), ignore_index=-100)
    loss.backward()
    grads = {}
    for name, p in pm.named_parameters():
        if p.grad is not None and "lora_" in name:
            # base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight -> model.layers.0.self_attn.q_proj.lora_A
            grads[name.replace("base_model.model.", "", 1).replace(".default.weight", "")] = p.grad.flatten().tolist()
    with torch.no_grad():
        if reset:
            reset(pm)
        adapted = pm(input_ids=inputs).logits[0].flatten().tolist()
    json.dump({"inputs": inputs.flatten().tolist(), "targets": targets.flatten().tolist(), "batch": 2, "seq_len": 16,
               "loss": float(loss), "logits_seq0": adapted, "grads": grads}, open(path, "w"))
    return len(grads), float(loss)


def loratop_in_peft(cls, name, reset=None, **load):
    """The adapter loratop trained on tiny-NAME-hf (tiny-NAME-loratop-peft/, written by the Swift test
    LoratopAdapterWriter) loaded in PEFT on the transformers model: its logits of tiny-NAME-hf's prompts, written to
    peft_logits.json beside the adapter (the structure of expected.json). `load` goes to from_pretrained; `reset`, when
    given, runs before each forward."""
    from peft import PeftModel
    here = os.path.dirname(os.path.abspath(__file__))
    base = cls.from_pretrained(os.path.join(here, f"tiny-{name}-hf"), **load).eval()
    pm = PeftModel.from_pretrained(base, os.path.join(here, f"tiny-{name}-loratop-peft")).eval()
    out = []
    for p in json.load(open(os.path.join(here, f"tiny-{name}-hf", "expected.json")))["prompts"]:
        with torch.no_grad():
            if reset:
                reset(pm)
            out.append({"ids": p["ids"], "logits": pm(torch.tensor([p["ids"]])).logits[0].flatten().tolist()})
    json.dump({"prompts": out}, open(os.path.join(here, f"tiny-{name}-loratop-peft", "peft_logits.json"), "w"))
    print(name, "loratop adapter in PEFT done")
