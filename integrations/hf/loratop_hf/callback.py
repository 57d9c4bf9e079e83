"""`LoratopCallback`: a `transformers.TrainerCallback` that makes a Trainer's run a loratop run server.

    trainer = Trainer(model=model, args=args, train_dataset=..., callbacks=[LoratopCallback()])

`loratop ls` lists the run; `loratop attach ID` draws it; `loratop send ID "lr 1e-4"`, `save`, `eval`, `pause`,
`resume` and `stop` steer it at the step boundary. This module imports transformers; `import loratop_hf` does not.

The step boundary is the Trainer's log of each step: the callback asks the Trainer to log every step (its per-step
loss, grad norm and learning rate become the step's record), applies the commands queued since the last step, and
sets the Trainer's own flags for `save` (a normal `checkpoint-N` folder), `eval` and `stop`. A paused run holds at the
end of its boundary (after the evaluation or save it asked for), so no step starts while it is paused.

`alpha X` and `dropout X` change every PEFT LoRA layer of the active adapter (PEFT's scaling is alpha/r, or
alpha/√r with rsLoRA) and the adapter's config, so checkpoints save what trains.

Distributed (torchrun, accelerate): rank 0 serves; at every step boundary the commands it took are broadcast to
every rank (`torch.distributed.broadcast_object_list`) and applied by all at the same step, and a pause holds every
rank (rank 0 broadcasts twice a second while it holds). Not yet: `sample`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

from transformers import TrainerCallback

from .commands import Command, format_number, parse
from .registry import RegistryError
from .server import RunServer
from .wire import ChangeEvent, EvalRecord, Settings, StepRecord

__all__ = ["LoratopCallback", "REFUSALS"]

logger = logging.getLogger("loratop_hf")

#: Commands a Trainer run does not do, with the reason given to whoever sends one.
REFUSALS: Dict[str, str] = {
    "rank": "a PyTorch run cannot change the LoRA rank while it trains (PEFT's adapters have a fixed shape; "
            "restart with another r)",
    "quant": "a PyTorch run keeps the base model as it was loaded; it cannot re-quantize it while it trains",
    "restart": "a Trainer run cannot restart itself; start the script again",
    "sample": "sampling from a PyTorch run is not supported yet",
}
_DISTRIBUTED = ("this run has {n} processes but torch.distributed is not initialised, so a command could not reach "
                "every rank at the same step; it serves read-only")

_NOT_PEFT = "this model has no PEFT LoRA layers, so there is no LoRA {what} to change"
_PATTERNS = "this adapter sets {what} per layer ({key}), so one value cannot replace it"

_SCHEDULES = {"linear": "linear", "cosine": "cosine", "constant": "constant", "constant_with_warmup": "constant",
              "cosine_with_restarts": "cosine", "cosine_with_min_lr": "cosine"}


def _quantization(model: Any) -> str:
    if getattr(model, "is_loaded_in_4bit", False):
        return "nf4"
    if getattr(model, "is_loaded_in_8bit", False):
        return "int8"
    try:
        dtype = str(next(model.parameters()).dtype)
    except (StopIteration, AttributeError, TypeError):
        return "none"
    return {"torch.float32": "f32", "torch.bfloat16": "bf16", "torch.float16": "f16"}.get(dtype, dtype)


def _parameters(model: Any) -> Tuple[int, int]:
    trainable = total = 0
    try:
        for p in model.parameters():
            n = p.numel()
            total += n
            if p.requires_grad:
                trainable += n
    except (AttributeError, TypeError):
        pass
    return trainable, total - trainable


def _adapter(model: Any) -> Tuple[str, Any]:
    """The active adapter's name and PEFT config, or ("", None) when the model is not a PEFT model."""
    peft = getattr(model, "peft_config", None)
    if not isinstance(peft, Mapping) or not peft:
        return "", None
    name = getattr(model, "active_adapter", None)
    if not isinstance(name, str) or name not in peft:
        name = next(iter(peft))
    return name, peft[name]


def lora_layers(model: Any, adapter: str) -> List[Any]:
    """The modules holding a LoRA adapter `adapter` (PEFT's LoraLayer: `r`, `lora_alpha`, `scaling` dicts)."""
    out = []
    for m in model.modules():
        r, scaling = getattr(m, "r", None), getattr(m, "scaling", None)
        if isinstance(r, dict) and isinstance(scaling, dict) and adapter in scaling and adapter in r:
            out.append(m)
    return out


def describe(model: Any, args: Any) -> Settings:
    """The run's settings from the Trainer's arguments and, when the model is a PEFT model, its LoRA config."""
    s = Settings(rank=0, alpha=0.0, dropout=0.0, targets=[], warmup=0)
    _, config = _adapter(model)
    if config is not None and hasattr(config, "r"):
        s.rank = int(config.r)
        s.alpha = float(getattr(config, "lora_alpha", s.rank))
        s.dropout = float(getattr(config, "lora_dropout", 0.0) or 0.0)
        s.rslora = bool(getattr(config, "use_rslora", False))
        targets = getattr(config, "target_modules", None) or []
        s.targets = sorted(targets) if not isinstance(targets, str) else [targets]
    s.learning_rate = float(args.learning_rate)
    kind = str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type))
    s.schedule = _SCHEDULES.get(kind, kind)
    s.warmup = int(getattr(args, "warmup_steps", 0) or 0)
    s.quantization = _quantization(model)
    s.batch_size = int(args.per_device_train_batch_size)
    s.grad_accum = int(args.gradient_accumulation_steps)
    s.seq_len = int(getattr(args, "max_seq_length", None) or getattr(args, "max_length", None) or 0)  # 0: unknown
    s.checkpointing = bool(getattr(args, "gradient_checkpointing", False))
    return s


class _Silent:
    """The server of a rank that does not serve: takes the same calls and does nothing."""

    socket_path = None

    def __getattr__(self, name: str) -> Any:
        return _nothing


def _nothing(*args: Any, **kwargs: Any) -> Any:
    return None


class LoratopCallback(TrainerCallback):
    """Serves the Trainer's run to loratop (rank 0 only); see the module's documentation."""

    def __init__(self, *, folder: Optional[str] = None, data: str = "", mode: str = "headless",
                 refusals: Optional[Mapping[str, str]] = None):
        """`folder` overrides the runs folder; `data` names the training data for `loratop ls`; `refusals` adds
        (or replaces) commands this run refuses, with their reasons."""
        self.folder = folder
        self.data = data
        self.mode = mode
        self.refusals = dict(REFUSALS)
        self.refusals.update(refusals or {})
        self.server: Any = None  # a RunServer on the rank that serves, _Silent on the others, None when inactive
        self._distributed = False
        self.settings: Optional[Settings] = None
        self.paused = False
        self.stop_requested: Optional[bool] = None  # None, or whether to save first
        self._deferred: List[Command] = []
        self._optimizer: Any = None
        self._model: Any = None
        self._scheduler: Any = None
        self._step_started = 0.0
        self._step_seconds = 0.0
        self._tokens_seen = 0
        self._hold_in: Optional[str] = None  # where this boundary ends: "log", "evaluate" or "save"

    # -- life ------------------------------------------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if self.server is not None:
            return
        world = int(getattr(args, "world_size", 1) or 1)
        self._distributed = world > 1 and _distributed_ready()
        if not state.is_world_process_zero and not self._distributed:
            return
        self.settings = describe(model, args)
        self._optimizer, self._scheduler, self._model = optimizer, lr_scheduler, model
        self._tokens_seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        if not state.is_world_process_zero:
            self.server = _Silent()  # takes part in every broadcast, says nothing
            return
        trainable, base = _parameters(model)
        refusals = dict(self.refusals)
        adapter, config = _adapter(model)
        if not adapter or not lora_layers(model, adapter):
            refusals.setdefault("alpha", _NOT_PEFT.format(what="alpha"))
            refusals.setdefault("dropout", _NOT_PEFT.format(what="dropout"))
        else:
            if getattr(config, "alpha_pattern", None):
                refusals.setdefault("alpha", _PATTERNS.format(what="alpha", key="alpha_pattern"))
        if world > 1 and not self._distributed:
            why = _DISTRIBUTED.format(n=world)
            for kind in ("lr", "alpha", "dropout", "pause", "resume", "save", "eval", "stop"):
                refusals[kind] = why
        name = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
        self.server = RunServer(model=name, output=args.output_dir, total_steps=int(state.max_steps), data=self.data,
                                mode=self.mode, settings=self.settings, trainable_parameters=trainable,
                                base_parameters=base, refusals=refusals, folder=self.folder)
        try:
            self.server.start()
        except (RegistryError, OSError) as e:  # no viewer is no reason to stop training
            logger.warning("loratop: this run is not served (%s)", e)
            self.server = _Silent() if self._distributed else None  # the other ranks still wait for broadcasts
            return
        self.server.status("running")

    def on_train_end(self, args, state, control, **kwargs):
        if self.server is None:
            return
        self.server.status("stopped" if self.stop_requested is not None else "finished")
        self.server.close()
        self.server = None

    # -- the step --------------------------------------------------------------------------------------------

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.server is None:
            return
        self._step_seconds = time.perf_counter() - self._step_started
        control.should_log = True  # the step's own loss, grad norm and learning rate become its record

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.server is None or not logs:
            return
        if "loss" in logs and "eval_loss" not in logs:
            seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)
            tokens, self._tokens_seen = max(0, seen - self._tokens_seen), seen
            lr = logs.get("learning_rate", self.settings.learning_rate if self.settings else 0.0)
            self.server.step(StepRecord(step=state.global_step, loss=_float(logs["loss"]), learning_rate=_float(lr),
                                        grad_norm=_float(logs.get("grad_norm", math.nan)), tokens=tokens,
                                        seconds=self._step_seconds, epoch=float(state.epoch or 0.0)))
            self._boundary(state, control)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.server is None:
            return
        if metrics and "eval_loss" in metrics:
            self.server.eval(EvalRecord(step=state.global_step, loss=_float(metrics["eval_loss"]),
                                        seconds=float(metrics.get("eval_runtime", 0.0))))
        self.server.status("paused" if self.paused else "running")
        if self._hold_in == "evaluate" and not control.should_save:
            self._hold(state, control, "evaluate")
        elif control.should_save:
            self._hold_in = "save"

    def on_save(self, args, state, control, **kwargs):
        if self.server is None:
            return
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(path):
            self.server.checkpoint(path)
        self.server.status("paused" if self.paused else "running")
        if self._hold_in == "save" and self.stop_requested is None:
            self._hold(state, control, "save")

    # -- commands --------------------------------------------------------------------------------------------

    def _boundary(self, state, control) -> None:
        """At the end of a step: apply what was deferred and what was sent, then hold if paused."""
        commands, self._deferred = self._deferred + self._take(), []
        for c in commands:
            self._apply(c, state, control, "log")
        self._hold_in = "save" if control.should_save else "evaluate" if control.should_evaluate else "log"
        if self.paused and self._hold_in == "log" and self.stop_requested is None:
            self._hold(state, control, "log")

    def _hold(self, state, control, where: str) -> None:
        """Holds the training loop while paused; returns on resume, stop, or an action only the Trainer can do here."""
        assert self.server is not None
        if not self.paused or self.stop_requested is not None:
            return
        self.server.status("paused")
        while self.paused and self.stop_requested is None:
            self.server.wait_for_commands(0.5)
            for c in self._take():
                self._apply(c, state, control, where)
            if control.should_evaluate and where == "log":
                self._hold_in = "save" if control.should_save else "evaluate"
                return
            if control.should_save and where in ("log", "evaluate"):
                self._hold_in = "save"
                return
        if self.stop_requested is None:
            self.server.status("running")

    def _take(self) -> List[Command]:
        """The commands to apply now: rank 0's, sent to every rank when the run is distributed (every rank calls
        this at the same points, so the broadcasts pair up)."""
        lines = [c.line for c in (self.server.take_commands() or [])]
        if self._distributed:
            import torch.distributed as dist

            box: List[Any] = [lines]
            dist.broadcast_object_list(box, src=0)
            lines = box[0]
        return [parse(line) for line in lines]

    def _apply(self, c: Command, state, control, where: str) -> None:
        s = self.server
        assert s is not None
        if c.kind == "lr":
            self._set_lr(float(c.value), state)
        elif c.kind == "alpha":
            self._set_alpha(float(c.value), state)
        elif c.kind == "dropout":
            self._set_dropout(float(c.value), state)
        elif c.kind == "pause":
            self.paused = True
            s.status("paused")
        elif c.kind == "resume":
            self.paused = False
            s.status("running")
        elif c.kind == "save":
            if where == "save":
                self._deferred.append(c)
                # Not a failure (a note starting with "save:" would say so): it is done after resume.
                s.message("the Trainer has just saved; the save asked for now comes at the first step's end after "
                          "resume")
            else:
                s.status("saving")
                control.should_save = True
        elif c.kind == "eval":
            if where != "log":
                self._deferred.append(c)
                s.message("the Trainer evaluates at a step's end; the evaluation asked for now runs at the first "
                          "one after resume")
            else:
                s.status("evaluating")
                control.should_evaluate = True
        elif c.kind == "stop":
            self.stop_requested = bool(c.value)
            if c.value and where != "save":
                control.should_save = True
            control.should_training_stop = True
        else:
            s.message(f"{c.label}: not supported by this run")

    def _set_lr(self, lr: float, state) -> None:
        """A new peak: every param group and the scheduler's base rates scale by new/old, so the schedule goes on
        from the new peak at the next step."""
        assert self.server is not None and self.settings is not None
        old = self.settings.learning_rate
        ratio = lr / old if old > 0 else None
        if self._optimizer is not None:
            for g in self._optimizer.param_groups:
                g["lr"] = g["lr"] * ratio if ratio is not None else lr
                if "initial_lr" in g:
                    g["initial_lr"] = g["initial_lr"] * ratio if ratio is not None else lr
        scheduler = getattr(self._scheduler, "scheduler", self._scheduler)  # accelerate wraps the torch scheduler
        base = getattr(scheduler, "base_lrs", None)
        if isinstance(base, list):
            scheduler.base_lrs = [b * ratio if ratio is not None else lr for b in base]
        if self._optimizer is not None and isinstance(getattr(scheduler, "_last_lr", None), list):
            # The Trainer logs the scheduler's last rate as the next step's: it is the rate that step now uses.
            scheduler._last_lr = [g["lr"] for g in self._optimizer.param_groups]
        self.settings.learning_rate = lr
        self.server.applied(ChangeEvent(state.global_step, "lr", format_number(old), format_number(lr)),
                            self.settings)


    def _set_alpha(self, alpha: float, state) -> None:
        """alpha on every LoRA layer of the adapter: scaling = alpha/r (alpha/√r with rsLoRA), as PEFT sets it."""
        assert self.server is not None and self.settings is not None
        adapter, config = _adapter(self._model)
        old = self.settings.alpha
        for m in lora_layers(self._model, adapter):
            r = m.r[adapter]
            rs = m.use_rslora.get(adapter, False) if isinstance(getattr(m, "use_rslora", None), dict) else False
            m.lora_alpha[adapter] = alpha
            m.scaling[adapter] = alpha / math.sqrt(r) if rs else alpha / r
        config.lora_alpha = alpha
        self.settings.alpha = alpha
        self.server.applied(ChangeEvent(state.global_step, "alpha", format_number(old), format_number(alpha)),
                            self.settings)

    def _set_dropout(self, p: float, state) -> None:
        """The dropout on every LoRA layer's input (PEFT uses Identity for 0, Dropout otherwise)."""
        import torch  # present: the Trainer runs on it

        assert self.server is not None and self.settings is not None
        adapter, config = _adapter(self._model)
        old = self.settings.dropout
        for m in lora_layers(self._model, adapter):
            drop = getattr(m, "lora_dropout", None)
            if drop is None or adapter not in drop:
                continue
            current = drop[adapter]
            if p > 0 and isinstance(current, torch.nn.Dropout):
                current.p = p
            else:
                drop[adapter] = torch.nn.Dropout(p=p) if p > 0 else torch.nn.Identity()
                drop[adapter].train(current.training)
        config.lora_dropout = p
        self.settings.dropout = p
        self.server.applied(ChangeEvent(state.global_step, "dropout", format_number(old), format_number(p)),
                            self.settings)


def _distributed_ready() -> bool:
    try:
        import torch.distributed as dist
    except ImportError:
        return False
    return dist.is_available() and dist.is_initialized()


def _float(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
