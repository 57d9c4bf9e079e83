"""Watch and steer a PyTorch / Hugging Face training run with loratop: the run becomes a loratop run server
(docs/PROTOCOL.md in the loratop repository), so `loratop ls`, `attach`, `send` and `stop` work on it.

Only the standard library is imported here; transformers and torch are imported by the callback when it is used.
"""

__version__ = "0.1.0"

from .commands import Command, CommandError, parse  # noqa: E402
from .wire import ChangeEvent, EvalRecord, Settings, StepRecord  # noqa: E402
from .server import PROTOCOL_VERSION, RunServer  # noqa: E402

__all__ = ["RunServer", "Command", "CommandError", "parse", "StepRecord", "EvalRecord", "ChangeEvent", "Settings",
           "PROTOCOL_VERSION", "__version__"]


def __getattr__(name):
    """`LoratopCallback` imports transformers, so it is loaded only when asked for."""
    if name == "LoratopCallback":
        from .callback import LoratopCallback
        return LoratopCallback
    raise AttributeError(f"module 'loratop_hf' has no attribute {name!r}")
