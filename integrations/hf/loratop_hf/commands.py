"""The headless command language (docs/PROTOCOL.md §5), parsed as loratop's own `Command.parse` parses it.

A `Command` has a `kind` (rank, alpha, lr, dropout, quant, pause, resume, save, eval, sample, restart, stop) and a
`value` (the number, the quantization word, or for `stop` whether to save first). `line` writes it back in the form
loratop writes (`lr 0.0001`, `stop nosave`), so `parse(c.line) == c`.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Optional, Union

__all__ = ["Command", "CommandError", "parse", "format_number", "float32_text"]

Value = Union[int, float, str, bool, None]


class CommandError(ValueError):
    """A command line that could not be understood; str() reads "command `LINE`: what was wrong"."""

    def __init__(self, line: str, message: str):
        super().__init__(f"command `{line}`: {message}")
        self.line = line
        self.message = message


def _f32(v: float) -> float:
    """`v` rounded to the nearest 32-bit float (loratop keeps settings as Float)."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def float32_text(v: float) -> str:
    """A 32-bit float as Swift's `Float.description` writes it: the shortest digits that read back to the same
    Float, positional from 1e-4 to 2^24 (`0.0001`, `16.0`), exponential outside (`1e-05`, `2e+07`)."""
    v = _f32(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    for digits in range(1, 10):
        text = f"{v:.{digits - 1}e}"
        if _f32(float(text)) == v:
            break
    mantissa, exp = text.split("e")
    exponent = int(exp)
    if v != 0 and (exponent < -4 or abs(v) > 2 ** 24):
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    text = repr(float(text))  # positional, shortest, ".0" on whole numbers
    if "e" in text:  # Python switches to exponents at 1e16; below 2^24 this does not happen, but be safe
        text = f"{float(text):f}".rstrip("0")
        text = text + "0" if text.endswith(".") else text
    return text


# What a live change may set, as loratop's LiveLimits: beyond these a run diverges at once or learns nothing.
ALPHA_RANGE = (1e-3, 4096.0)
LR_RANGE = (1e-9, 1.0)


def _range(r: tuple) -> str:
    return f"{format_number(r[0])} to {format_number(r[1])}"


def format_number(v: float) -> str:
    """A number for people, as loratop's `formatNumber` writes it: 0.0002 → "2e-04", 16 → "16", 0.05 → "0.05"."""
    v = _f32(v)
    if math.isfinite(v) and v == round(v) and abs(v) < 1e6:
        return str(int(v))
    a = abs(v)
    if 0.01 <= a < 1e4:
        s = f"{v:.4f}".rstrip("0").rstrip(".")
        return s
    return f"{v:.0e}"


@dataclass(frozen=True)
class Command:
    """One parsed command: `kind` and its `value` (None for the verbs without one; for stop, whether to save)."""

    kind: str
    value: Value = None

    @property
    def line(self) -> str:
        """The command as loratop writes it (`parse` reads it back to the same command)."""
        k, v = self.kind, self.value
        if k == "rank":
            return f"rank {v}"
        if k in ("alpha", "lr", "dropout"):
            return f"{k} {float32_text(float(v))}"
        if k == "quant":
            return f"quant {v}"
        if k == "stop":
            return "stop" if v else "stop nosave"
        return k

    @property
    def label(self) -> str:
        """A short label for notes: `lr 1e-04`, `stop (no save)`."""
        k, v = self.kind, self.value
        if k in ("alpha", "lr", "dropout"):
            return f"{k} {format_number(float(v))}"
        if k == "stop":
            return "stop" if v else "stop (no save)"
        return self.line

    @property
    def is_setting_change(self) -> bool:
        """Whether applying it changes a setting (and so becomes a change event)."""
        return self.kind in ("rank", "alpha", "lr", "dropout", "quant")


_EXAMPLES = {"rank": "16", "r": "16", "alpha": "32", "dropout": "0.05"}
_QUANTS = ("none", "int8", "fp4", "nf4", "source")


def _number(text: str) -> Optional[float]:
    """A number as Swift's `Double(String)` reads one (decimal or hex floats, inf/nan words), or None."""
    t = text
    if t[:1] in "+-":
        t = t[1:]
    if not t or t.startswith(("+", "-")) or t.lower().startswith("0x") and not t[2:]:
        return None
    if "_" in t:
        return None
    try:
        if t.lower().startswith("0x"):
            v = float.fromhex(text)
        else:
            v = float(text)
    except ValueError:
        return None
    return v


def parse(line: str) -> Command:
    """Parses one command line; raises CommandError with loratop's wording when it is not a command."""
    words = [w for w in line.replace("\t", " ").split(" ") if w]
    if not words:
        raise CommandError(line, "empty command")
    verb = words[0].lower()

    def number() -> float:
        if len(words) != 2:
            raise CommandError(line, f"`{verb}` takes one number, e.g. `{verb} {_EXAMPLES.get(verb, '1e-4')}`")
        v = _number(words[1])
        if v is None or not math.isfinite(v):
            raise CommandError(line, f"expected a number after `{verb}`, found `{words[1]}`")
        return v

    def no_args(c: Command) -> Command:
        if len(words) != 1:
            raise CommandError(line, f"`{verb}` takes no arguments")
        return c

    if verb in ("rank", "r"):
        v = number()
        if not (1 <= v <= 4096 and v == round(v)):
            raise CommandError(line, f"rank must be a whole number from 1 to 4096, found {words[1]}")
        return Command("rank", int(v))
    if verb == "alpha":
        v = number()
        if not ALPHA_RANGE[0] <= _f32(v) <= ALPHA_RANGE[1]:
            raise CommandError(line, f"alpha must be from {_range(ALPHA_RANGE)}, found {words[1]}")
        return Command("alpha", _f32(v))
    if verb in ("lr", "learning-rate", "learning_rate"):
        v = number()
        if not LR_RANGE[0] <= _f32(v) <= LR_RANGE[1]:
            raise CommandError(line, f"lr must be from {_range(LR_RANGE)}, found {words[1]}")
        return Command("lr", _f32(v))
    if verb == "dropout":
        v = number()
        if not 0 <= v < 1:
            raise CommandError(line, f"dropout must be in [0, 1), found {words[1]}")
        return Command("dropout", _f32(v))
    if verb in ("quant", "quantization"):
        if len(words) != 2:
            raise CommandError(line, "`quant` takes one of none, int8, fp4, nf4, source")
        q = words[1].lower()
        if q not in _QUANTS:
            raise CommandError(line, f"unknown quantization `{words[1]}`; expected none, int8, fp4, nf4 or source")
        return Command("quant", q)
    simple = {"pause": "pause", "resume": "resume", "continue": "resume", "save": "save", "eval": "eval",
              "evaluate": "eval", "sample": "sample", "inspect": "inspect", "restart": "restart"}
    if verb in simple:
        return no_args(Command(simple[verb]))
    if verb in ("stop", "quit"):
        if len(words) == 2 and words[1].lower() in ("nosave", "--no-save", "no-save"):
            return Command("stop", False)
        return no_args(Command("stop", True))
    raise CommandError(line, f"unknown command `{verb}`; expected rank, alpha, lr, dropout, quant, pause, resume, "
                             "save, eval, sample, inspect, restart or stop")
