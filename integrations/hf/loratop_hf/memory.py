"""The memory figures a PyTorch run serves (the protocol's MemoryState).

What the run holds is counted from its tensors: the frozen base's parameters, the trainable (adapter) parameters,
their gradients (counted as the trainable parameters' size: the Trainer frees gradients after each optimizer step,
so at the step boundary they are gone, but every step holds them) and the optimizer's state. What the process holds
is measured: the resident set and its peak from the kernel, and on a GPU `torch.cuda`'s allocated bytes and their
peak. Activations are not counted (PyTorch frees them inside the step); the gap between the parts and the resident
set is what the viewer shows as the rest.

Under torchrun every rank reports its own resident set and peak (gathered by the callback), in `ranks`.
"""

from __future__ import annotations

import os
import resource
from typing import Any, Dict, List, Optional

__all__ = ["TensorBytes", "resident_bytes", "peak_resident_bytes", "rank_figures", "memory_state"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class TensorBytes:
    """The bytes of the model's parameters by role, counted once (parameter shapes do not change while a Trainer
    runs), and of the optimizer's state, counted when it first has some."""

    def __init__(self, model: Any):
        self.base = self.adapters = 0
        seen = set()
        for p in _parameters(model):
            if id(p) in seen:  # tied weights are one tensor
                continue
            seen.add(id(p))
            n = p.numel() * p.element_size()
            if p.requires_grad:
                self.adapters += n
            else:
                self.base += n
        for b in _buffers(model):
            self.base += b.numel() * b.element_size()
        self.optimizer = 0

    def count_optimizer(self, optimizer: Any) -> None:
        """The optimizer's state tensors (AdamW: two moments per trainable parameter), once they exist."""
        if self.optimizer or optimizer is None:
            return
        total = 0
        state = getattr(optimizer, "state", None)
        if not hasattr(state, "values"):
            return
        for per_param in state.values():
            if not hasattr(per_param, "values"):
                continue
            for v in per_param.values():
                if hasattr(v, "numel") and hasattr(v, "element_size"):
                    total += v.numel() * v.element_size()
        self.optimizer = total


def _parameters(model: Any):
    try:
        return list(model.parameters())
    except (AttributeError, TypeError):
        return []


def _buffers(model: Any):
    try:
        return list(model.buffers())
    except (AttributeError, TypeError):
        return []


def resident_bytes() -> Optional[int]:
    """This process's resident set (Linux: /proc/self/statm)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def peak_resident_bytes() -> int:
    """This process's peak resident set (getrusage; Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def rank_figures(rank: int) -> Dict[str, Any]:
    """This process's figures for `ranks`: the GPU's allocated bytes and peak where the run uses CUDA, else the
    resident set and its peak."""
    rss = resident_bytes() or 0
    figures: Dict[str, Any] = {"rank": rank, "device": "cpu", "resident_bytes": rss,
                               "peak_bytes": max(peak_resident_bytes(), rss)}
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            d = torch.cuda.current_device()
            figures.update(device=f"cuda:{d}", allocated_bytes=int(torch.cuda.memory_allocated(d)),
                           peak_bytes=int(torch.cuda.max_memory_allocated(d)))
    except Exception:  # noqa: BLE001 - a figure we cannot read is left out, never a failed step
        pass
    return figures


def memory_state(tensors: TensorBytes, ranks: Optional[List[Dict[str, Any]]] = None,
                 gradient_bytes: Optional[int] = None) -> Dict[str, Any]:
    """The MemoryState of this process (rank 0 when distributed), with every rank's figures when given."""
    parts = [{"name": "frozen base", "bytes": tensors.base, "kind": "base_weights"},
             {"name": "trainable parameters", "bytes": tensors.adapters, "kind": "adapters"},
             {"name": "gradients", "bytes": tensors.adapters if gradient_bytes is None else gradient_bytes,
              "kind": "gradients"}]
    if tensors.optimizer:
        parts.append({"name": "optimizer state", "bytes": tensors.optimizer, "kind": "optimizer_state"})
    state: Dict[str, Any] = {"parts": parts, "methods": []}
    rss = resident_bytes()
    if rss is not None:
        state["resident_bytes"] = rss
    # The kernel updates its high-water mark lazily, so it can trail the resident set just read.
    state["peak_resident_bytes"] = max(peak_resident_bytes(), rss or 0)
    if ranks:
        state["ranks"] = ranks
    return state
