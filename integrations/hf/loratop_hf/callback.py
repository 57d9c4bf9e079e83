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
rank (rank 0 broadcasts twice a second while it holds).

`sample` generates greedy answers to a few prompts (`sample_prompts`, or the first examples of the evaluation data)
from the adapted model and, on a PEFT model, from the base with the adapter off; every rank generates, so sharded
models (FSDP, ZeRO-3) work, and rank 0 serves the answers.

Memory: the run's tensors by role and the resident set (or `torch.cuda`'s allocated bytes and peak), each rank's
gathered every `memory_every` steps when distributed (see `memory`).

SIGINT and SIGTERM (docs/PROTOCOL.md, "The run's life"): the first finishes the current step, saves a checkpoint
and stops training; then the process ends as the signal asks (KeyboardInterrupt for SIGINT, exit status 143 for
SIGTERM), after `trainer.train()` has let go of everything. A second one of the same signal ends it at once. The
callback takes them only when nobody else has (their handlers are Python's defaults) and only in the main thread;
under torchrun rank 0 decides and broadcasts the stop, so every rank saves at the same step.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from transformers import TrainerCallback

from .commands import Command, format_number, parse
from .memory import TensorBytes, memory_state, rank_figures
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
    "inspect": "a PyTorch run does not compute the update inspection; `loratop inspect CHECKPOINT` reads a saved "
               "adapter",
}
_NO_TOKENIZER = ("no tokenizer is known to this run (give the Trainer processing_class=tokenizer), so there is "
                 "nothing to sample with")
_NO_PROMPTS = ("there are no prompts to sample (no sample_prompts= and no evaluation or training examples with "
               "a prompt)")
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
                 refusals: Optional[Mapping[str, str]] = None, sample_prompts: Optional[Sequence[str]] = None,
                 sample_tokens: int = 48, memory_every: int = 10, handle_signals: bool = True):
        """`folder` overrides the runs folder; `data` names the training data for `loratop ls`; `refusals` adds
        (or replaces) commands this run refuses, with their reasons. `sample_prompts` are what `sample` answers
        (default: the first evaluation examples' prompts), with at most `sample_tokens` new tokens each.
        `memory_every` is how often (in steps) every rank's memory is gathered when distributed.
        `handle_signals=False` leaves SIGINT and SIGTERM alone."""
        self.folder = folder
        self.data = data
        self.mode = mode
        self.sample_prompts = list(sample_prompts) if sample_prompts is not None else None
        self.sample_tokens = int(sample_tokens)
        self.memory_every = max(1, int(memory_every))
        self.handle_signals = handle_signals
        self._tokenizer: Any = None
        self._datasets: List[Any] = []
        self._tensors: Optional[TensorBytes] = None
        self._ranks: Optional[List[Dict[str, Any]]] = None
        self._signal: Optional[int] = None  # the first SIGINT/SIGTERM taken
        self._signal_sent = False
        self._previous_handlers: Dict[int, Any] = {}
        self._seq_len_given = False
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

    def on_init_end(self, args, state, control, **kwargs):
        _count_tokens(args)

    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if self.server is not None:
            return
        _count_tokens(args)  # also when the callback was added after the Trainer was made
        world = int(getattr(args, "world_size", 1) or 1)
        self._distributed = world > 1 and _distributed_ready()
        if not state.is_world_process_zero and not self._distributed:
            return
        self.settings = describe(model, args)
        self._seq_len_given = self.settings.seq_len > 0
        self._optimizer, self._scheduler, self._model = optimizer, lr_scheduler, model
        self._tokens_seen = int(getattr(state, "num_input_tokens_seen", 0) or 0)
        self._tokenizer = kwargs.get("processing_class") or kwargs.get("tokenizer")
        self._datasets = [getattr(kwargs.get(k), "dataset", None) for k in ("eval_dataloader", "train_dataloader")]
        self._take_signals()
        if not state.is_world_process_zero:
            self.server = _Silent()  # takes part in every broadcast, says nothing
            return
        self._tensors = TensorBytes(model)
        trainable, base = _parameters(model)
        refusals = dict(self.refusals)
        adapter, config = _adapter(model)
        if not adapter or not lora_layers(model, adapter):
            refusals.setdefault("alpha", _NOT_PEFT.format(what="alpha"))
            refusals.setdefault("dropout", _NOT_PEFT.format(what="dropout"))
        else:
            if getattr(config, "alpha_pattern", None):
                refusals.setdefault("alpha", _PATTERNS.format(what="alpha", key="alpha_pattern"))
        if self._tokenizer is None or not hasattr(self._tokenizer, "decode"):
            refusals.setdefault("sample", _NO_TOKENIZER)
        if world > 1 and not self._distributed:
            why = _DISTRIBUTED.format(n=world)
            for kind in ("lr", "alpha", "dropout", "pause", "resume", "save", "eval", "stop", "sample"):
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
            if self.server is None:
                self._give_back_signals()
            return
        self.server.memory(memory_state(self._tensors))
        self.server.status("running")

    def on_train_end(self, args, state, control, **kwargs):
        if self.server is None:
            return
        self.server.status("stopped" if self.stop_requested is not None else "finished")
        self.server.close()
        self.server = None
        taken = self._signal
        self._give_back_signals()
        if taken is not None:
            # The run saved and stopped as the signal asked; now the process ends as it asked.
            if taken == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + taken)

    # -- signals ---------------------------------------------------------------------------------------------

    def _take_signals(self) -> None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(sig)
            if current in (signal.SIG_DFL, signal.default_int_handler):  # nobody else's: ours to take
                self._previous_handlers[sig] = current
                signal.signal(sig, self._on_signal)

    def _give_back_signals(self) -> None:
        for sig, previous in self._previous_handlers.items():
            try:
                signal.signal(sig, previous)
            except (ValueError, OSError):
                pass
        self._previous_handlers = {}

    def _on_signal(self, signum, frame) -> None:
        """The first: stop at the step's end with a save. A second of the same kind: end now."""
        if self._signal == signum:
            server, self.server = self.server, None
            if server is not None:
                server.status("stopped")
                server.close(drain_seconds=0.2)
            self._give_back_signals()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)  # the default disposition: the process ends by the signal
            return
        if self._signal is None:
            # Only a flag and a write(2) here: the handler runs between two bytecodes of the training thread, which
            # may hold any lock (logging's, an Event's). A paused run sees the flag within half a second.
            self._signal = signum
            note = (f"loratop: {signal.Signals(signum).name}: stopping at the end of this step, after a save "
                    "(again to end at once)\n")
            try:
                os.write(2, note.encode())
            except OSError:
                pass

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
            self._learn_seq_len(args, tokens)
            self._gather_memory(state)
            self._boundary(state, control)

    def _learn_seq_len(self, args, tokens: int) -> None:
        """The sequence length, when the arguments do not say (a Trainer pads per batch): the longest batch so far,
        from its token count (all ranks' batches of all accumulation steps together)."""
        s = self.settings
        if s is None or tokens <= 0 or self._seq_len_given:
            return
        sequences = max(1, s.batch_size * s.grad_accum * max(1, int(getattr(args, "world_size", 1) or 1)))
        seq = tokens // sequences
        if seq > s.seq_len:
            s.seq_len = seq
            self.server.set_settings(s)

    def _gather_memory(self, state) -> None:
        """Rank 0's tensors and resident set every step; every rank's figures every `memory_every` steps when
        distributed (a collective: every rank calls this at the same step)."""
        if self._distributed and (state.global_step % self.memory_every == 0 or self._ranks is None):
            import torch.distributed as dist

            everyone: List[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(everyone, rank_figures(dist.get_rank()))
            self._ranks = [r for r in everyone if isinstance(r, dict)]
        if self._tensors is None:
            return
        self._tensors.count_optimizer(self._optimizer)
        self.server.memory(memory_state(self._tensors, self._ranks))

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
            if self._signal is not None and not self._signal_sent and not isinstance(self.server, _Silent):
                self.paused = False  # the stop `_take` adds is applied at this boundary, on every rank
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
        if self._signal is not None and not self._signal_sent and not isinstance(self.server, _Silent):
            self._signal_sent = True  # rank 0 (or the only process) decides; the others follow its broadcast
            lines.append("stop")
            self.server.message(f"{signal.Signals(self._signal).name}: stopping after a save")
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
        elif c.kind == "sample":
            self._sample(state)
        elif c.kind == "stop":
            self.stop_requested = bool(c.value)
            if c.value and where != "save":
                control.should_save = True
            control.should_training_stop = True
        else:
            s.message(f"{c.label}: not supported by this run")

    def _sample(self, state) -> None:
        """Greedy answers to the sample prompts, now (every rank generates; rank 0 serves them)."""
        from .sampling import generate_samples, prompts_from

        s = self.server
        assert s is not None
        if self._tokenizer is None:
            s.message(f"sample: {_NO_TOKENIZER}")
            return
        prompts = self.sample_prompts
        if prompts is None:
            prompts = next((p for p in (prompts_from(d, self._tokenizer) for d in self._datasets) if p), [])
        if not prompts:
            s.message(f"sample: {_NO_PROMPTS}")
            return
        s.status("sampling")
        try:
            s.samples(generate_samples(self._model, self._tokenizer, prompts, state.global_step, self.sample_tokens))
        except Exception as e:  # noqa: BLE001 - a failed sample is a note, never a failed run
            s.message(f"sample: generation failed: {type(e).__name__}: {e}"[:300])
        s.status("paused" if self.paused else "running")

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
        self._changed(state, "lr", "learning_rate", old, lr)

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
        self._changed(state, "alpha", "alpha", old, alpha)

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
        self._changed(state, "dropout", "dropout", old, p)

    def _changed(self, state, kind: str, field: str, old: float, new: float) -> None:
        """A setting took effect at this boundary: the settings say so, and every viewer gets the change."""
        assert self.server is not None and self.settings is not None
        setattr(self.settings, field, new)
        self.server.applied(ChangeEvent(state.global_step, kind, format_number(old), format_number(new)),
                            self.settings)


def _count_tokens(args: Any) -> None:
    """Tokens/s come from the batch shapes: the Trainer counts each batch's input tokens (all ranks' together) when
    `include_num_input_tokens_seen` is on, so the callback turns it on ("all") when it is off; a "non_padding" choice
    is kept."""
    v = getattr(args, "include_num_input_tokens_seen", None)
    if v in ("no", False):
        args.include_num_input_tokens_seen = "all" if v == "no" else True


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
