"""The protocol's objects and JSON as loratop writes them (docs/PROTOCOL.md §2-3): snake_case keys, absent optional
keys left out, non-finite floats as the strings "NaN", "Infinity", "-Infinity", one message per line."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

__all__ = ["StepRecord", "EvalRecord", "ChangeEvent", "Settings", "encode_line", "decode_line", "decimate",
           "MAX_LINE", "WireError"]

#: The longest client-to-server line accepted, newline excluded (1 MiB).
MAX_LINE = 1 << 20


class WireError(ValueError):
    """A line that is not one JSON object with a string `type`."""


def _finite(v: Any) -> Any:
    """`v` with every non-finite float replaced by its protocol string (only called when json refuses `v`)."""
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return v
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def encode_line(message: Mapping[str, Any]) -> bytes:
    """One message as a protocol line: compact UTF-8 JSON and a newline."""
    try:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(message), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _no_constants(name: str) -> Any:
    raise WireError(f"bare {name} is not JSON (the protocol writes it as the string \"{name}\")")


def decode_line(line: bytes) -> Dict[str, Any]:
    """A received line as a message; raises WireError unless it is a JSON object with a string `type`."""
    try:
        obj = json.loads(line.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"not JSON: {e}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise WireError("expected one JSON object with a \"type\" per line")
    return obj


def _number(v: Any) -> float:
    return float(v)


@dataclass(frozen=True)
class StepRecord:
    """One optimizer step (all keys required on the wire)."""

    step: int             # 1-based, this step included
    loss: float
    learning_rate: float
    grad_norm: float
    tokens: int           # inputs processed in this step
    seconds: float        # wall-clock of this step
    epoch: float          # fractional

    def wire(self) -> Dict[str, Any]:
        return {"step": int(self.step), "loss": _number(self.loss), "learning_rate": _number(self.learning_rate),
                "grad_norm": _number(self.grad_norm), "tokens": int(self.tokens), "seconds": _number(self.seconds),
                "epoch": _number(self.epoch)}


@dataclass(frozen=True)
class EvalRecord:
    """One evaluation."""

    step: int
    loss: float
    seconds: float = 0.0
    exact_match: Optional[float] = None  # 0…1

    def wire(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"step": int(self.step), "loss": _number(self.loss)}
        if self.exact_match is not None:
            d["exact_match"] = _number(self.exact_match)
        d["seconds"] = _number(self.seconds)
        return d


_SHORT = {"rank": "r", "alpha": "α", "lr": "lr", "dropout": "p", "quant": "q"}


@dataclass(frozen=True)
class ChangeEvent:
    """A setting that changed at a step boundary: it took effect after `step` steps (from step `step + 1`)."""

    step: int
    kind: str             # rank, alpha, lr, dropout, quant, restart, …
    from_: str
    to: str
    detail: Optional[str] = None

    @property
    def label(self) -> str:
        """The chart marker's label, as loratop writes it: `lr 2e-04→1e-04`."""
        return f"{_SHORT.get(self.kind, self.kind)} {self.from_}→{self.to}"

    def wire(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"step": int(self.step), "kind": self.kind, "from": self.from_, "to": self.to}
        if self.detail is not None:
            d["detail"] = self.detail
        return d


@dataclass
class Settings:
    """The run's settings as loratop shows them; the defaults are loratop's."""

    rank: int = 8
    alpha: float = 16.0
    rslora: bool = False
    dropout: float = 0.0
    learning_rate: float = 2e-4          # the peak
    schedule: str = "cosine"             # constant, linear, cosine
    warmup: int = 10
    targets: List[str] = field(default_factory=lambda: ["q", "k", "v", "o", "gate", "up", "down"])
    quantization: str = "none"           # f32, int8, nf4+dq, bf16, …
    batch_size: int = 4
    grad_accum: int = 1
    seq_len: int = 128
    checkpointing: bool = False

    def wire(self) -> Dict[str, Any]:
        return {"rank": int(self.rank), "alpha": _number(self.alpha), "rslora": bool(self.rslora),
                "dropout": _number(self.dropout), "learning_rate": _number(self.learning_rate),
                "schedule": self.schedule, "warmup": int(self.warmup), "targets": list(self.targets),
                "quantization": self.quantization, "batch_size": int(self.batch_size),
                "grad_accum": int(self.grad_accum), "seq_len": int(self.seq_len),
                "checkpointing": bool(self.checkpointing)}


Point = Tuple[int, float]


def decimate(points: Sequence[Point], limit: int) -> List[Point]:
    """A curve of at most about `limit` points that keeps its shape, exactly as loratop cuts one: the first and last
    points and the lowest and highest point of each slice between. Curves within the limit come back unchanged."""
    limit = max(4, limit)
    n = len(points)
    if n <= limit:
        return list(points)
    slices = (limit - 2) // 2
    out: List[Point] = []
    for i in range(slices):
        lo, hi = i * n // slices, (i + 1) * n // slices
        if hi <= lo:
            continue
        mn = mx = lo
        for j in range(lo, hi):
            v = points[j][1]
            if v < points[mn][1] or math.isnan(points[mn][1]):
                mn = j
            if v > points[mx][1] or math.isnan(points[mx][1]):
                mx = j
        out.append(points[min(mn, mx)])
        if mn != mx:
            out.append(points[max(mn, mx)])
    if out[0][0] != points[0][0]:
        out.insert(0, points[0])
    if out[-1][0] != points[-1][0]:
        out.append(points[-1])
    return out


def curve(points: Sequence[Point]) -> Dict[str, List[Any]]:
    """A curve on the wire: parallel `steps` and `values` arrays."""
    return {"steps": [p[0] for p in points], "values": [p[1] for p in points]}


def as_wire(v: Union[Mapping[str, Any], Any]) -> Dict[str, Any]:
    """A record (anything with `wire()`) or a mapping already in wire form, as a dict."""
    if hasattr(v, "wire"):
        return v.wire()
    return dict(v)
