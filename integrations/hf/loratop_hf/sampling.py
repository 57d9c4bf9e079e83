"""`sample` on a PyTorch run: greedy answers to a few prompts, from the adapted model and (for a PEFT model) the
base with the adapter switched off, as loratop's own runs show them.

The prompts are the callback's `sample_prompts` when given, else the first examples of the evaluation data (or the
training data when there is none): a `prompt` text field, a chat's messages up to the last assistant turn (through
the tokenizer's chat template), or the tokens whose labels are masked (-100: the prompt of completion-only data),
else the first half of the example's tokens.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence

__all__ = ["prompts_from", "generate_samples"]

#: How many prompts are taken from the data.
PROMPTS_FROM_DATA = 3


def prompts_from(dataset: Any, tokenizer: Any, n: int = PROMPTS_FROM_DATA) -> List[str]:
    """Up to `n` prompt texts from the first examples of `dataset` (see the module's documentation)."""
    prompts: List[str] = []
    if dataset is None or tokenizer is None:
        return prompts
    try:
        count = len(dataset)
    except TypeError:
        return prompts
    for i in range(min(count, n * 4)):
        if len(prompts) >= n:
            break
        try:
            text = _prompt(dataset[i], tokenizer)
        except Exception:  # noqa: BLE001 - an example we cannot read is skipped
            text = None
        if text and text.strip():
            prompts.append(text)
    return prompts


def _prompt(example: Any, tokenizer: Any) -> Optional[str]:
    if not hasattr(example, "get"):
        return None
    prompt = example.get("prompt")
    if isinstance(prompt, str):
        return prompt
    messages = example.get("messages") or (prompt if isinstance(prompt, list) else None)
    if isinstance(messages, list) and messages and getattr(tokenizer, "chat_template", None):
        turns = list(messages)
        while turns and isinstance(turns[-1], dict) and turns[-1].get("role") == "assistant":
            turns.pop()
        if turns:
            return tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=True)
    ids = _as_list(example.get("input_ids"))
    if not ids:
        return None
    labels = _as_list(example.get("labels"))
    cut = 0
    if labels and len(labels) == len(ids):
        while cut < len(labels) and labels[cut] == -100:
            cut += 1
        if cut == len(labels):
            cut = 0
    if cut == 0:
        cut = max(1, len(ids) // 2)
    return tokenizer.decode(ids[:cut], skip_special_tokens=False)


def _as_list(v: Any) -> List[int]:
    if v is None:
        return []
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, list) and v and isinstance(v[0], list):  # a batch of one
        v = v[0]
    return [int(x) for x in v] if isinstance(v, list) else []


def generate_samples(model: Any, tokenizer: Any, prompts: Sequence[str], step: int,
                     max_new_tokens: int = 48) -> List[Dict[str, Any]]:
    """SampleRecords for `prompts`: greedy, `max_new_tokens` at most; the base's answer too when the model is a
    PEFT model. The model is put back in the mode it was in."""
    import torch

    was_training = model.training
    device = next(model.parameters()).device
    records: List[Dict[str, Any]] = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    try:
        with torch.no_grad():
            for prompt in prompts:
                enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(device)
                record: Dict[str, Any] = {"step": step, "prompt": prompt,
                                          "adapted": _answer(model, tokenizer, enc, max_new_tokens, pad)}
                disable = getattr(model, "disable_adapter", None)
                if callable(disable):
                    with _context(disable()):
                        record["base"] = _answer(model, tokenizer, enc, max_new_tokens, pad)
                records.append(record)
    finally:
        model.train(was_training)
    return records


def _context(c: Any):
    return c if hasattr(c, "__enter__") else contextlib.nullcontext()


def _answer(model: Any, tokenizer: Any, enc: Any, max_new_tokens: int, pad: Optional[int]) -> str:
    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
    new = out[0, enc["input_ids"].shape[1]:]
    return tokenizer.decode(new, skip_special_tokens=True)
