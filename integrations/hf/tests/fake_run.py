"""A fake training loop around a RunServer: steps every few milliseconds and applies commands at the step boundary
the way a real loop does (lr, save, eval, pause/resume, stop). Run as a script it serves one run until stopped or
done, printing its id on the first line (the Swift CLI tests start it so)."""

from __future__ import annotations

import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from loratop_hf import ChangeEvent, EvalRecord, RunServer, Settings, StepRecord  # noqa: E402
from loratop_hf.commands import format_number  # noqa: E402

REFUSALS = {
    "rank": "a PyTorch run cannot change the LoRA rank while it trains (PEFT's adapters have a fixed shape)",
    "quant": "a PyTorch run cannot re-quantize its base model while it trains",
    "restart": "this run cannot restart itself; start it again",
    "sample": "this run has no prompts to sample from",
}


class FakeRun:
    """Steps on its own thread until `total_steps`, a stop command, or `halt()`."""

    def __init__(self, folder: str, output: str, total_steps: int = 100_000, step_seconds: float = 0.003,
                 nan_at: int = -1, **server_options):
        self.settings = Settings(rank=8, alpha=16, learning_rate=2e-4, schedule="constant", warmup=0,
                                 targets=["q_proj", "v_proj"], quantization="f32", batch_size=2, seq_len=64)
        self.output = output
        self.total_steps = total_steps
        self.step_seconds = step_seconds
        self.nan_at = nan_at
        self.server = RunServer(model="fake/SmolLM2-135M", data="", output=output, total_steps=total_steps,
                                settings=self.settings, trainable_parameters=460_800, base_parameters=134_515_008,
                                refusals=REFUSALS, folder=folder, **server_options)
        self.lr = self.settings.learning_rate
        self.step = 0
        self.paused = False
        self.stopped_by_command = False
        self._halt = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="fake-training", daemon=True)
        self.exit_status = "running"

    def start(self) -> "FakeRun":
        self.server.start()
        self.server.status("running")
        self.thread.start()
        return self

    def halt(self) -> None:
        """Ends the loop (as a finished run) and the server; safe to call twice."""
        self._halt.set()
        self.thread.join(10)
        self.server.close()

    def _save(self) -> None:
        self.server.status("saving")
        path = os.path.join(self.output, f"checkpoint-{self.step}")
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "state.txt"), "w") as f:
            f.write(f"step {self.step} lr {self.lr}\n")
        self.server.checkpoint(path)
        self.server.status("paused" if self.paused else "running")

    def _apply(self) -> bool:
        """Applies queued commands; False when the run should end."""
        for c in self.server.take_commands():
            if c.kind == "lr":
                old, self.lr = self.lr, float(c.value)
                self.settings.learning_rate = self.lr
                self.server.applied(ChangeEvent(self.step, "lr", format_number(old), format_number(self.lr)),
                                    self.settings)
            elif c.kind == "pause":
                self.paused = True
                self.server.status("paused")
            elif c.kind == "resume":
                self.paused = False
                self.server.status("running")
            elif c.kind == "save":
                self._save()
            elif c.kind == "eval":
                self.server.status("evaluating")
                self.server.eval(EvalRecord(step=self.step, loss=2.0 / (1 + self.step / 100), seconds=0.001))
                self.server.status("paused" if self.paused else "running")
            elif c.kind == "stop":
                if c.value:
                    self._save()
                self.stopped_by_command = True
                self.server.status("stopped")
                return False
            else:
                self.server.message(f"{c.label}: not supported by this run")
        return True

    def _loop(self) -> None:
        while not self._halt.is_set():
            if not self._apply():
                self.exit_status = "stopped"
                return
            if self.paused:
                self.server.wait_for_commands(0.05)
                continue
            if self.step >= self.total_steps:
                self.server.status("finished")
                self.exit_status = "finished"
                return
            t0 = time.perf_counter()
            time.sleep(self.step_seconds)
            self.step += 1
            loss = float("nan") if self.step == self.nan_at else 2.5 * math.exp(-self.step / 200) + 0.5
            self.server.step(StepRecord(step=self.step, loss=loss, learning_rate=self.lr, grad_norm=1.0,
                                        tokens=128, seconds=time.perf_counter() - t0,
                                        epoch=self.step / 1000))
        self.server.status("finished")
        self.exit_status = "finished"


def main() -> int:
    folder, output = sys.argv[1], sys.argv[2]
    run = FakeRun(folder, output, total_steps=int(sys.argv[3]) if len(sys.argv) > 3 else 100_000).start()
    print(run.server.id, flush=True)
    try:
        run.thread.join()
    finally:
        run.server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
