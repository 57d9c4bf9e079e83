"""A scripted protocol client (docs/PROTOCOL.md, version 1) that checks a live run server: it attaches, reads the
state, sends every command and checks the acks and the events that must follow. The same script runs against both
servers, loratop's engine and the Trainer callback (test_conformance.py).

What a server cannot do it must say: a command kind listed in the state's `unsupported` must be refused with that
reason; every other command must be accepted, show in `pending`, and take effect at a step boundary with the event
the protocol names for it (or a `message` starting with the command's label saying why it could not be applied).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from conftest import RawClient

RUN_KEYS = {"id": str, "pid": int, "kind": str, "mode": str, "model": str, "data": str, "output": str,
            "started": (int, float), "host": str}
STATE_KEYS = {"seq": int, "status": str, "step": int, "total_steps": int, "epoch": (int, float), "settings": dict,
              "train": dict, "eval": dict, "learning_rates": dict, "decimated": bool, "recent_steps": list,
              "elapsed": (int, float), "changes": list, "pending": list, "samples": list, "ghosts": list,
              "messages": list, "trainable_parameters": int, "base_parameters": int, "unsaved": bool}
STEP_KEYS = {"step": int, "loss": (int, float, str), "learning_rate": (int, float), "grad_norm": (int, float, str),
             "tokens": int, "seconds": (int, float), "epoch": (int, float)}
SETTINGS_KEYS = {"rank": int, "alpha": (int, float), "dropout": (int, float), "learning_rate": (int, float),
                 "schedule": str, "targets": list, "quantization": str, "batch_size": int}

#: (command line, kind, the label a failure note starts with, what shows that it took effect)
COMMANDS: List[Tuple[str, str, str, Callable[[Dict[str, Any]], bool]]] = [
    ("lr 1e-4", "lr", "lr 1e-04", lambda m: m["type"] == "change" and m["change"]["kind"] == "lr"),
    ("alpha 32", "alpha", "alpha 32", lambda m: m["type"] == "change" and m["change"]["kind"] == "alpha"),
    ("dropout 0.05", "dropout", "dropout 0.05", lambda m: m["type"] == "change" and m["change"]["kind"] == "dropout"),
    ("rank 4", "rank", "rank 4", lambda m: m["type"] == "change" and m["change"]["kind"] == "rank"),
    ("pause", "pause", "pause", lambda m: m["type"] == "status" and m["status"] == "paused"),
    ("resume", "resume", "resume", lambda m: m["type"] == "status" and m["status"] == "running"),
    ("save", "save", "save", lambda m: m["type"] == "checkpoint"),
    ("eval", "eval", "eval", lambda m: m["type"] == "eval"),
    ("sample", "sample", "sample", lambda m: m["type"] == "samples"),
    ("quant int8", "quant", "quant int8", lambda m: m["type"] == "change" and m["change"]["kind"] == "quant"),
]


class Failure(AssertionError):
    pass


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


def _types(obj: Dict[str, Any], keys: Dict[str, Any], where: str) -> None:
    for k, t in keys.items():
        _check(k in obj, f"{where}: no `{k}` in {sorted(obj)}")
        _check(isinstance(obj[k], t) and not (t is int and isinstance(obj[k], bool)),
               f"{where}: `{k}` is {obj[k]!r}, not {t}")


class Viewer:
    """An attached viewer that keeps the protocol's invariants while it reads: events in order, each step once."""

    def __init__(self, path: str, timeout: float):
        self.client = RawClient(path)
        self.timeout = timeout
        self.last_seq = 0
        self.last_step: Optional[int] = None
        self.log: List[Dict[str, Any]] = []

    def hello(self) -> Dict[str, Any]:
        hello = self.client.message(self.timeout)
        _check(hello is not None and hello["type"] == "hello", f"the first message is not hello: {hello}")
        _check(hello["protocol"] == 1, f"protocol {hello['protocol']}")
        _types(hello["run"], RUN_KEYS, "hello.run")
        _types(hello["progress"], {"status": str, "step": int, "total_steps": int, "tokens_per_second": (int, float)},
               "hello.progress")
        return hello

    def attach(self) -> Dict[str, Any]:
        self.client.send({"type": "attach", "read_only": False, "points": 500, "client": "conformance"})
        state = self.next()
        _check(state["type"] == "state", f"attach answered {state['type']}, not state")
        _types(state, STATE_KEYS, "state")
        _types(state["settings"], SETTINGS_KEYS, "state.settings")
        for name in ("train", "eval", "learning_rates"):
            c = state[name]
            _check(len(c["steps"]) == len(c["values"]), f"state.{name}: steps and values differ in length")
            _check(c["steps"] == sorted(c["steps"]), f"state.{name}: steps not increasing")
        self.last_seq = state["seq"]
        self.last_step = state["step"]
        return state

    def next(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        m = self.client.message(timeout or self.timeout)
        _check(m is not None, "the server closed the connection")
        self.log.append(m)
        seq = m.get("seq")
        if m["type"] not in ("state", "ack", "pong", "hello", "error") and seq:
            _check(seq > self.last_seq, f"event {m['type']} numbered {seq} after {self.last_seq}")
            self.last_seq = seq
        if m["type"] == "state":  # a resynchronisation: start over from it
            self.last_seq, self.last_step = m["seq"], m["step"]
        if m["type"] == "step":
            _types(m["record"], STEP_KEYS, "step.record")
            if self.last_step is not None:
                _check(m["record"]["step"] == self.last_step + 1,
                       f"step {m['record']['step']} after {self.last_step}: a step was lost or repeated")
            self.last_step = m["record"]["step"]
        return m

    def until(self, predicate: Callable[[Dict[str, Any]], bool], what: str,
              timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        deadline = time.monotonic() + (timeout or self.timeout)
        seen = []
        while time.monotonic() < deadline:
            try:
                m = self.next(max(0.05, deadline - time.monotonic()))
            except TimeoutError:
                break
            seen.append(m)
            if predicate(m):
                return seen
        raise Failure(f"no {what} in time; saw {[x['type'] for x in seen][-30:]}")

    def command(self, cid: str, line: str) -> Dict[str, Any]:
        self.client.send({"type": "command", "id": cid, "line": line})
        return self.until(lambda m: m["type"] == "ack" and m["id"] == cid, f"ack {cid}")[-1]


def check_server(path: str, timeout: float = 60.0) -> Dict[str, Any]:
    """Runs the whole script against the server at `path`, ending with `stop`; returns what it found (for the
    test's own checks). Raises Failure with what was wrong."""
    v = Viewer(path, timeout)
    found: Dict[str, Any] = {}
    try:
        found["hello"] = v.hello()
        state = v.attach()
        unsupported: Dict[str, str] = state.get("unsupported") or {}
        _check(isinstance(unsupported, dict), "state.unsupported is not an object")
        found["unsupported"] = unsupported
        v.until(lambda m: m["type"] == "step", "a step after attaching")

        v.client.send({"type": "ping", "id": "p1"})
        v.until(lambda m: m["type"] == "pong" and m["id"] == "p1", "pong")

        results: Dict[str, str] = {}
        for n, (line, kind, label, took_effect) in enumerate(COMMANDS):
            ack = v.command(f"c{n}", line)
            if kind in unsupported:
                _check(not ack["ok"], f"`{line}` is unsupported ({unsupported[kind]}) but was accepted")
                _check(ack["error"] == f"command `{line}`: {unsupported[kind]}",
                       f"`{line}` refused with {ack['error']!r}, not the stated reason")
                results[kind] = "refused"
                continue
            _check(ack["ok"], f"`{line}` refused: {ack.get('error')}")
            _check(isinstance(ack.get("command"), str) and ack["command"].split()[0] == line.split()[0],
                   f"`{line}` acked as {ack.get('command')!r}")
            seen = v.until(lambda m: took_effect(m) or (m["type"] == "message" and m["text"].startswith(label + ":")),
                           f"the effect of `{line}`")
            effect = seen[-1]
            results[kind] = "applied" if took_effect(effect) else "noted: " + effect["text"]
            if effect["type"] == "change":
                v.until(lambda m: m["type"] == "settings", f"settings after `{line}`")
        found["results"] = results

        bad = v.command("bad", "rank banana")
        _check(not bad["ok"] and bad["error"].startswith("command `rank banana`:"), f"garbage acked: {bad}")
        intruder = RawClient(path)
        try:
            intruder.message(timeout)
            intruder.sock.sendall(b"{not json\n")
            err = intruder.until(lambda m: m["type"] == "error", timeout)[-1]
            _check(err["code"] == "malformed", f"malformed JSON answered {err}")
            _check(intruder.closed_within(timeout), "the server kept a connection that sent garbage")
        finally:
            intruder.close()
        v.until(lambda m: m["type"] == "step", "a step after another connection sent garbage")

        stop = v.command("end", "stop nosave")
        _check(stop["ok"], f"stop refused: {stop}")
        v.until(lambda m: m["type"] == "status" and m["status"] in ("stopped", "finished"), "the stopped status")
        _check(v.client.closed_within(timeout), "the server did not close the connection after the run ended")
        return found
    finally:
        v.client.close()
