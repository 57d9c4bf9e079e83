"""A loratop run server (docs/PROTOCOL.md) for a training loop written in Python.

The training thread calls cheap methods only: `step`, `eval`, `checkpoint`, `status`, `message`, `samples`,
`memory`, `take_commands` and `applied`. Each takes a lock for a few list operations and hands the event to the
server's own thread, which owns every socket (a `selectors` loop): it says hello to each connection, sends the state
and then every event to attached viewers, and answers commands with acks. No viewer can slow a step: each connection
has a bounded output queue, and a viewer that falls behind loses its backlog and gets a fresh state once it drains.

    server = RunServer(model="HuggingFaceTB/SmolLM2-135M", output="out", total_steps=300, settings=Settings(rank=8))
    server.start()
    for ...:
        for command in server.take_commands():  # at the step boundary
            ...
        server.step(StepRecord(step=s, loss=..., learning_rate=..., grad_norm=..., tokens=..., seconds=..., epoch=...))
    server.status("finished")
    server.close()
"""

from __future__ import annotations

import atexit
import collections
import weakref
import os
import selectors
import socket
import struct
import sys
import threading
import traceback
import time
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from . import __version__
from .commands import Command, CommandError, parse
from .registry import MAX_SOCKET_PATH, RegistryError, default_folder, ensure_private_folder, new_id, write_entry
from .wire import (MAX_LINE, ChangeEvent, EvalRecord, Settings, StepRecord, WireError, as_wire, curve, decimate,
                   decode_line, encode_line)

__all__ = ["RunServer", "PROTOCOL_VERSION", "TERMINAL_STATUSES"]

#: The protocol version spoken.
PROTOCOL_VERSION = 1
#: Status words after which the run does not step again.
TERMINAL_STATUSES = ("finished", "stopped", "failed")
#: Recent steps that tokens/s, s/step and the ETA are averaged over.
RECENT_WINDOW = 20
#: Notes kept for the state message.
MAX_MESSAGES = 50
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class _Connection:
    """One client: its socket, the partial line it is sending, and the messages waiting to go out."""

    __slots__ = ("sock", "number", "partial", "out", "offset", "queued", "attached", "read_only", "points", "skip",
                 "resync", "last_progress", "closed", "close_after_flush", "writing")

    def __init__(self, sock: socket.socket, number: int):
        self.sock = sock
        self.number = number
        self.partial = bytearray()
        self.out: Deque[bytes] = collections.deque()
        self.offset = 0              # bytes of out[0] already written
        self.queued = 0              # bytes in out not yet written
        self.attached = False
        self.read_only = False
        self.points = 2000
        self.skip = 0                # events numbered up to this were in the state it got
        self.resync = False          # fell behind: a fresh state follows once the queue drains
        self.last_progress = time.monotonic()
        self.closed = False
        self.close_after_flush = False
        self.writing = False         # registered for EVENT_WRITE


class RunServer:
    """Serves one training run over a Unix socket in the user's runs folder; see the module's documentation."""

    def __init__(self, *, model: str, output: str, total_steps: int, data: str = "", mode: str = "headless",
                 settings: Union[Settings, Mapping[str, Any], None] = None, trainable_parameters: int = 0,
                 base_parameters: int = 0, refusals: Optional[Mapping[str, str]] = None, folder: Optional[str] = None,
                 kind: str = "pytorch", server_name: Optional[str] = None, queue_limit: int = 1 << 20,
                 stall_seconds: float = 60.0, max_connections: int = 256):
        """`refusals` maps a command kind (rank, quant, restart, …) this run cannot do to the reason given in the
        refusal; every other command is accepted and handed to the training loop by `take_commands`."""
        self.folder = folder if folder is not None else default_folder()
        self.refusals = dict(refusals or {})
        self.queue_limit = queue_limit
        self.stall_seconds = stall_seconds
        self.max_connections = max_connections
        self.server_name = server_name or f"loratop-hf {__version__}"
        self._info = {"id": "", "pid": os.getpid(), "kind": kind, "mode": mode, "model": str(model),
                      "data": os.path.abspath(data) if data else "", "output": os.path.abspath(output),
                      "started": time.time(), "host": socket.gethostname()}
        self.socket_path: Optional[str] = None

        # The run as viewers see it; every field below is guarded by _lock.
        self._lock = threading.Lock()
        self._status = "starting"
        self._error: Optional[str] = None
        self._step = 0
        self._total = int(total_steps)
        self._epoch = 0.0
        self._settings = as_wire(settings) if settings is not None else Settings().wire()
        self._train: List[Tuple[int, float]] = []
        self._lrs: List[Tuple[int, float]] = []
        self._evals: List[Tuple[int, float]] = []
        self._last_step: Optional[Dict[str, Any]] = None
        self._recent: Deque[Dict[str, Any]] = collections.deque(maxlen=RECENT_WINDOW)
        self._last_eval: Optional[Dict[str, Any]] = None
        self._elapsed = 0.0
        self._changes: List[Dict[str, Any]] = []
        self._pending: List[Command] = []
        self._samples: List[Dict[str, Any]] = []
        self._last_checkpoint: Optional[str] = None
        self._messages: Deque[str] = collections.deque(maxlen=MAX_MESSAGES)
        self._trainable = int(trainable_parameters)
        self._base = int(base_parameters)
        self._unsaved = False
        self._memory: Optional[Dict[str, Any]] = None
        self._seq = 0
        self._inbox: Deque[Tuple[int, Dict[str, Any]]] = collections.deque()  # events for the server thread
        self._woken = False
        self._commands_queued = threading.Event()

        # Touched only by the server thread (and by close() after it has ended).
        self._selector: Optional[selectors.BaseSelector] = None
        self._listen: Optional[socket.socket] = None
        self._wake_r = self._wake_w = -1
        self._connections: Dict[int, _Connection] = {}
        self._next_number = 1
        self._memory_sent: Optional[Dict[str, Any]] = None
        self._last_entry_write = 0.0
        self._thread: Optional[threading.Thread] = None
        self._stopping = False
        self._drain_seconds = 1.0
        self._closed = False

    # ------------------------------------------------------------------------------------------------------------
    # Life

    @property
    def id(self) -> str:
        """The run id (after `start`)."""
        return self._info["id"]

    @property
    def info(self) -> Dict[str, Any]:
        """The RunInfo object."""
        return dict(self._info)

    def start(self) -> "RunServer":
        """Binds `<id>.sock` (0600) in the runs folder, writes `<id>.json` and starts serving on a thread."""
        ensure_private_folder(self.folder)
        rid = new_id(self.folder)
        path = os.path.join(self.folder, rid + ".sock")
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            raise RegistryError(f"the run's socket path {path} is {len(os.fsencode(path))} bytes, longer than the "
                                f"{MAX_SOCKET_PATH} a Unix socket allows "
                                "(hint: set XDG_RUNTIME_DIR to a shorter folder)")
        listen = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listen.bind(path)
        except OSError:
            listen.close()
            raise
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        listen.listen(64)
        listen.setblocking(False)
        self._info["id"] = rid
        self.socket_path = path
        self._listen = listen
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(listen, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._write_entry(ended=False)
        self._thread = threading.Thread(target=self._serve, name=f"loratop-server-{rid}", daemon=True)
        self._thread.start()
        atexit.register(_close_at_exit, weakref.ref(self))
        return self

    def close(self, drain_seconds: float = 1.0) -> None:
        """Sends what is queued (up to `drain_seconds`), closes every connection, removes the socket and marks the
        entry ended with the final progress. Call `status` with the final word first."""
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        self._drain_seconds = drain_seconds
        self._stopping = True
        self._wake()
        self._thread.join()
        with self._lock:  # _emit wakes under the lock: no event can write to a descriptor closed (and reused) here
            r, w = self._wake_r, self._wake_w
            self._wake_r = self._wake_w = -1
        os.close(r)
        os.close(w)
        self._write_entry(ended=True)

    def __enter__(self) -> "RunServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def viewer_count(self) -> int:
        """Attached viewers now (read on any thread; a moment's view)."""
        return sum(1 for c in list(self._connections.values()) if c.attached and not c.closed)

    # ------------------------------------------------------------------------------------------------------------
    # The training thread's side: cheap, never waits for a viewer

    def _emit(self, seq_numbered: bool, message: Dict[str, Any]) -> None:
        """Queues an event for the server thread; call with _lock held. After `close` nothing is queued."""
        if self._closed:
            return
        if seq_numbered:
            self._seq += 1
            message["seq"] = self._seq
            self._inbox.append((self._seq, message))
        else:
            message["seq"] = 0
            self._inbox.append((0, message))
        if not self._woken:
            self._woken = True
            self._wake()

    def _wake(self) -> None:
        if self._wake_w < 0:
            return
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (the thread will wake anyway) or closed (the server has ended)

    def step(self, record: Union[StepRecord, Mapping[str, Any]]) -> None:
        """One optimizer step done."""
        r = as_wire(record)
        with self._lock:
            self._step = r["step"]
            self._epoch = r["epoch"]
            self._last_step = r
            self._train.append((r["step"], r["loss"]))
            self._lrs.append((r["step"], r["learning_rate"]))
            self._elapsed += r["seconds"]
            self._recent.append(r)
            self._unsaved = True
            self._emit(True, {"type": "step", "record": r})

    def eval(self, record: Union[EvalRecord, Mapping[str, Any]]) -> None:
        """An evaluation done."""
        e = as_wire(record)
        with self._lock:
            self._last_eval = e
            self._evals.append((e["step"], e["loss"]))
            self._emit(True, {"type": "eval", "eval": e})

    def checkpoint(self, path: str) -> None:
        """A checkpoint folder written: a note, then the checkpoint event (progress is saved)."""
        path = os.path.abspath(path)
        with self._lock:
            self._note(f"saved {path}")
            self._last_checkpoint = path
            self._unsaved = False
            self._emit(True, {"type": "checkpoint", "path": path})

    def status(self, word: str, error: Optional[str] = None) -> None:
        """The run's status word (starting, running, paused, evaluating, sampling, saving, finished, stopped,
        failed with an `error`); an unchanged word sends nothing."""
        with self._lock:
            if word == self._status and error == self._error:
                return
            self._status = word
            self._error = error if word == "failed" else None
            m: Dict[str, Any] = {"type": "status", "status": word}
            if self._error is not None:
                m["error"] = self._error
            self._emit(True, m)

    def message(self, text: str) -> None:
        """A note for people (the run's message list, newest last)."""
        with self._lock:
            self._note(text)

    def _note(self, text: str) -> None:
        self._messages.append(text)
        self._emit(True, {"type": "message", "text": text})

    def samples(self, records: Iterable[Mapping[str, Any]]) -> None:
        """The latest samples: each {step, prompt, adapted, base?, reference?}."""
        s = [dict(r) for r in records]
        with self._lock:
            self._samples = s
            self._emit(True, {"type": "samples", "samples": s})

    def memory(self, state: Optional[Mapping[str, Any]]) -> None:
        """The run's memory figures (MemoryState); sent to viewers at most once a second when they change."""
        with self._lock:
            self._memory = dict(state) if state is not None else None

    def set_settings(self, settings: Union[Settings, Mapping[str, Any]], trainable_parameters: Optional[int] = None,
                     base_parameters: Optional[int] = None) -> None:
        """Replaces the settings without a change event (e.g. once the model is loaded)."""
        w = as_wire(settings)
        with self._lock:
            self._settings = w
            if trainable_parameters is not None:
                self._trainable = int(trainable_parameters)
            if base_parameters is not None:
                self._base = int(base_parameters)
            self._emit(True, {"type": "settings", "settings": w, "trainable_parameters": self._trainable})

    def take_commands(self) -> List[Command]:
        """The commands accepted since the last call, oldest first, to apply now (at the step boundary). Viewers see
        the pending list emptied; report each setting applied with `applied`, and one that could not be with
        `message`."""
        with self._lock:
            self._commands_queued.clear()
            if not self._pending:
                return []
            taken, self._pending = self._pending, []
            self._emit(False, {"type": "pending", "pending": []})
            return taken

    def wait_for_commands(self, timeout: Optional[float] = None) -> bool:
        """Blocks the caller (a paused training loop) until a command is queued or `timeout` passes."""
        return self._commands_queued.wait(timeout)

    def applied(self, change: Union[ChangeEvent, Mapping[str, Any]],
                settings: Union[Settings, Mapping[str, Any], None] = None,
                trainable_parameters: Optional[int] = None) -> None:
        """A setting changed at the step boundary: change, settings and a note go to every viewer."""
        c = as_wire(change)
        w = as_wire(settings) if settings is not None else None
        with self._lock:
            self._changes.append(c)
            self._unsaved = True
            self._emit(True, {"type": "change", "change": c})
            if w is not None:
                self._settings = w
            if trainable_parameters is not None:
                self._trainable = int(trainable_parameters)
            self._emit(True, {"type": "settings", "settings": self._settings,
                              "trainable_parameters": self._trainable})
            label = ChangeEvent(c["step"], c["kind"], c["from"], c["to"]).label
            self._note(f"step {c['step']}: {label}" + (f" ({c['detail']})" if c.get("detail") else ""))

    # ------------------------------------------------------------------------------------------------------------
    # Views of the run (call with _lock held)

    def _progress(self) -> Dict[str, Any]:
        p: Dict[str, Any] = {"status": self._status, "step": self._step, "total_steps": self._total}
        if self._last_step is not None:
            p["loss"] = self._last_step["loss"]
        secs = sum(r["seconds"] for r in self._recent)
        toks = sum(r["tokens"] for r in self._recent)
        p["tokens_per_second"] = toks / secs if secs > 0 else 0.0
        if self._recent:
            p["eta"] = max(0, self._total - self._step) * secs / len(self._recent)
        return p

    def _state_parts(self) -> Dict[str, Any]:
        """A consistent copy of the run (lists copied, not yet decimated)."""
        return {"seq": self._seq, "status": self._status, "error": self._error, "step": self._step,
                "total_steps": self._total, "epoch": self._epoch, "settings": self._settings,
                "train": list(self._train), "eval": list(self._evals), "learning_rates": list(self._lrs),
                "last_step": self._last_step, "recent_steps": list(self._recent), "last_eval": self._last_eval,
                "elapsed": self._elapsed, "changes": list(self._changes), "pending": [c.line for c in self._pending],
                "samples": self._samples, "last_checkpoint": self._last_checkpoint, "messages": list(self._messages),
                "trainable_parameters": self._trainable, "base_parameters": self._base, "unsaved": self._unsaved,
                "memory": self._memory, "unsupported": dict(self.refusals)}

    @staticmethod
    def _state_message(p: Dict[str, Any], points: int) -> Dict[str, Any]:
        m: Dict[str, Any] = {"type": "state", "seq": p["seq"], "status": p["status"]}
        if p["error"] is not None:
            m["error"] = p["error"]
        m.update(step=p["step"], total_steps=p["total_steps"], epoch=p["epoch"], settings=p["settings"],
                 train=curve(decimate(p["train"], points)), eval=curve(decimate(p["eval"], points)),
                 learning_rates=curve(decimate(p["learning_rates"], points)),
                 decimated=len(p["train"]) > points or len(p["learning_rates"]) > points)
        if p["last_step"] is not None:
            m["last_step"] = p["last_step"]
        m["recent_steps"] = p["recent_steps"]
        if p["last_eval"] is not None:
            m["last_eval"] = p["last_eval"]
        m.update(elapsed=p["elapsed"], changes=p["changes"], pending=p["pending"], samples=p["samples"], ghosts=[])
        if p["last_checkpoint"] is not None:
            m["last_checkpoint"] = p["last_checkpoint"]
        m.update(messages=p["messages"], trainable_parameters=p["trainable_parameters"],
                 base_parameters=p["base_parameters"], unsaved=p["unsaved"])
        if p["memory"] is not None:
            m["memory"] = p["memory"]
        m["unsupported"] = p["unsupported"]
        return m

    def _write_entry(self, ended: bool) -> None:
        with self._lock:
            progress = self._progress()
        self._last_entry_write = time.monotonic()
        entry = {"run": dict(self._info), "progress": progress, "socket": self.socket_path or "",
                 "ended": time.time() if ended else None}
        try:
            write_entry(self.folder, entry)
        except OSError:
            pass  # a full or vanished folder must not stop training; `loratop ls` then shows the last entry

    # ------------------------------------------------------------------------------------------------------------
    # The server thread

    def _serve(self) -> None:
        sel = self._selector
        assert sel is not None
        try:
            while not self._stopping:
                for key, events in sel.select(timeout=1.0):
                    if key.fileobj is self._listen:
                        self._accept_all()
                    elif key.fileobj == self._wake_r:
                        self._drain_wake()
                    else:
                        c: _Connection = key.data
                        try:
                            if events & selectors.EVENT_READ and not c.closed:
                                self._read(c)
                            if events & selectors.EVENT_WRITE and not c.closed:
                                self._writable(c)
                        except Exception:  # a bug must cost one connection, never the run or the other viewers
                            traceback.print_exc(file=sys.stderr)
                            self._drop(c)
                self._dispatch()
                self._tick()
            self._drain_wake()
            self._dispatch()
            self._shutdown()
        finally:
            sel.close()

    def _drain_wake(self) -> None:
        with self._lock:
            self._woken = False
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _accept_all(self) -> None:
        assert self._listen is not None
        while True:
            try:
                sock, _ = self._listen.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # EMFILE and friends: try again on the next wake-up
            try:
                pid, uid, _gid = _UCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
            except OSError:
                uid = -1
            if uid != os.getuid():
                who = f"uid {uid}" if uid >= 0 else "an unknown user"
                self._refuse_at_once(sock, "refused", f"run {self.id} belongs to uid {os.getuid()}; {who} may not "
                                                      "attach to it")
                continue
            if len(self._connections) >= self.max_connections:
                self._refuse_at_once(sock, "overloaded", f"run {self.id} already has {len(self._connections)} "
                                                         "connections")
                continue
            sock.setblocking(False)
            c = _Connection(sock, self._next_number)
            self._next_number += 1
            self._connections[c.number] = c
            assert self._selector is not None
            self._selector.register(sock, selectors.EVENT_READ, c)
            with self._lock:
                hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "server": self.server_name,
                         "run": dict(self._info), "progress": self._progress()}
            self._enqueue_now(c, encode_line(hello))

    @staticmethod
    def _refuse_at_once(sock: socket.socket, code: str, message: str) -> None:
        try:
            sock.setblocking(False)
            sock.send(encode_line({"type": "error", "code": code, "message": message}), socket.MSG_NOSIGNAL)
        except OSError:
            pass
        sock.close()

    def _drop(self, c: _Connection) -> None:
        if c.closed:
            return
        c.closed = True
        c.out.clear()
        c.queued = 0
        self._connections.pop(c.number, None)
        try:
            assert self._selector is not None
            self._selector.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _read(self, c: _Connection) -> None:
        while not c.closed:
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._drop(c)
                return
            if not data:
                self._drop(c)
                return
            if c.close_after_flush:
                continue  # refused or detaching: what it still sends is not read
            start = 0
            while True:
                nl = data.find(b"\n", start)
                if nl < 0:
                    break
                if len(c.partial) + (nl - start) > MAX_LINE:
                    self._refuse(c, "too_large", "a message was longer than 1 MiB; closing this connection")
                    return
                line = bytes(c.partial) + data[start:nl]
                c.partial.clear()
                if line.endswith(b"\r"):
                    line = line[:-1]
                self._handle(line, c)
                if c.closed or c.close_after_flush:
                    return
                start = nl + 1
            if len(c.partial) + len(data) - start > MAX_LINE:
                self._refuse(c, "too_large", "a message was longer than 1 MiB; closing this connection")
                return
            c.partial += data[start:]

    def _refuse(self, c: _Connection, code: str, message: str) -> None:
        """Sends an error (after what is being written now) and closes the connection once it is out."""
        self._drop_queued(c)
        c.partial.clear()
        self._enqueue_now(c, encode_line({"type": "error", "code": code, "message": message}))
        c.close_after_flush = True
        if not c.out:
            self._drop(c)

    def _handle(self, line: bytes, c: _Connection) -> None:
        if not line.strip(b" \t"):
            return
        try:
            m = decode_line(line)
        except WireError:
            self._refuse(c, "malformed", "expected one JSON object with a \"type\" per line")
            return
        t = m["type"]
        try:
            if t == "hello":
                v = _optional(m, "protocol", int)
                _optional(m, "client", str)
                if v is not None and v != PROTOCOL_VERSION:
                    self._refuse(c, "version", f"this run speaks protocol {PROTOCOL_VERSION}, the client {v}")
            elif t == "attach":
                read_only = _required(m, "read_only", bool)
                points = _optional(m, "points", int)
                _optional(m, "client", str)
                c.attached = True
                c.read_only = read_only
                c.points = min(100_000, max(10, 2000 if points is None else points))
                self._send_state(c)
            elif t == "command":
                cid = _required(m, "id", str)
                line_text = _required(m, "line", str)
                self._enqueue_now(c, encode_line(self._command(cid, line_text, c)))
            elif t == "ping":
                pid = _required(m, "id", str)
                self._enqueue_now(c, encode_line({"type": "pong", "id": pid}))
            elif t == "detach":
                c.close_after_flush = True
                if not c.out:
                    self._drop(c)
            # unknown types are ignored (a newer client may send more)
        except _BadField as e:
            self._refuse(c, "malformed", f"a \"{t[:40]}\" message could not be read: {e}"[:300])

    def _command(self, cid: str, line: str, c: _Connection) -> Dict[str, Any]:
        ack: Dict[str, Any] = {"type": "ack", "id": cid, "ok": False}
        if c.read_only:
            ack["error"] = "this viewer attached read-only and cannot send commands"
            return ack
        text = line.strip(" \t")
        try:
            command = parse(text)
        except CommandError as e:
            ack["error"] = str(e)
            return ack
        why = self.refusals.get(command.kind)
        if why is not None:
            ack["error"] = f"command `{text}`: {why}"
            return ack
        with self._lock:
            self._pending.append(command)
            self._emit(False, {"type": "pending", "pending": [p.line for p in self._pending]})
            self._commands_queued.set()
        ack["ok"] = True
        ack["command"] = command.line
        return ack

    # Output

    def _drop_queued(self, c: _Connection) -> None:
        """Forgets every queued message not yet begun (one partly written stays, so the stream stays whole)."""
        if not c.out:
            return
        if c.offset > 0:
            first = c.out[0]
            c.out.clear()
            c.out.append(first)
            c.queued = len(first) - c.offset
        else:
            c.out.clear()
            c.queued = 0

    def _enqueue_now(self, c: _Connection, data: bytes) -> None:
        """Queues without a limit (hello, acks, errors, states) and writes what the socket takes."""
        if c.closed:
            return
        if not c.out:
            c.last_progress = time.monotonic()
        c.out.append(data)
        c.queued += len(data)
        self._flush(c)

    def _enqueue(self, c: _Connection, data: bytes) -> None:
        """Queues an event; a viewer whose queue would pass the limit is resynchronised instead."""
        if c.closed or c.resync:
            return
        if c.out and c.queued + len(data) > self.queue_limit:
            self._drop_queued(c)
            c.resync = True
            if not c.out:
                c.resync = False
                self._send_state(c)
            return
        self._enqueue_now(c, data)

    def _flush(self, c: _Connection) -> bool:
        while c.out:
            first = c.out[0]
            try:
                n = c.sock.send(memoryview(first)[c.offset:], socket.MSG_NOSIGNAL)
            except (BlockingIOError, InterruptedError):
                self._want_write(c, True)
                return True
            except OSError:
                self._drop(c)
                return False
            c.last_progress = time.monotonic()
            c.offset += n
            c.queued -= n
            if c.offset == len(first):
                c.out.popleft()
                c.offset = 0
        self._want_write(c, False)
        return True

    def _want_write(self, c: _Connection, on: bool) -> None:
        if c.writing == on or c.closed:
            return
        c.writing = on
        assert self._selector is not None
        self._selector.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if on else 0), c)

    def _writable(self, c: _Connection) -> None:
        if not self._flush(c):
            return
        if not c.out:
            if c.close_after_flush:
                self._drop(c)
            elif c.resync:
                c.resync = False
                self._send_state(c)

    def _send_state(self, c: _Connection) -> None:
        with self._lock:
            parts = self._state_parts()
        c.skip = parts["seq"]
        self._enqueue_now(c, encode_line(self._state_message(parts, c.points)))

    def _dispatch(self) -> None:
        """Hands the events the training thread queued to every attached viewer, in order."""
        while True:
            with self._lock:
                if not self._inbox:
                    return
                batch = list(self._inbox)
                self._inbox.clear()
            for seq, message in batch:
                data = encode_line(message)
                restart = message["type"] == "change" and message["change"].get("kind") == "restart"
                for c in list(self._connections.values()):
                    if not c.attached or c.closed or c.close_after_flush:
                        continue
                    if seq != 0 and seq <= c.skip:
                        continue
                    if restart:
                        self._drop_queued(c)
                        self._send_state(c)
                    else:
                        self._enqueue(c, data)
                if message["type"] == "status":
                    self._write_entry(ended=False)

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            memory = self._memory
        if memory != self._memory_sent and (memory is not None or self._memory_sent is not None):
            self._memory_sent = memory
            if memory is not None:
                data = encode_line({"type": "memory", "seq": 0, "memory": memory})
                for c in list(self._connections.values()):
                    if c.attached and not c.close_after_flush:
                        self._enqueue(c, data)
        for c in list(self._connections.values()):
            if (c.out or c.resync) and now - c.last_progress > self.stall_seconds:
                self._drop(c)
        if now - self._last_entry_write >= 10:
            self._write_entry(ended=False)

    def _shutdown(self) -> None:
        if self.socket_path:
            try:
                os.unlink(self.socket_path)
            except OSError:
                pass
        assert self._listen is not None and self._selector is not None
        self._selector.unregister(self._listen)
        self._listen.close()
        deadline = time.monotonic() + self._drain_seconds
        for c in list(self._connections.values()):
            while c.out and not c.closed and time.monotonic() < deadline:
                if not self._flush(c) or not c.out:
                    break
                _wait_writable(c.sock, min(0.05, max(0.0, deadline - time.monotonic())))
            self._drop(c)
        self._connections.clear()


def _close_at_exit(ref: "weakref.ReferenceType[RunServer]") -> None:
    """A process that exits without closing its run (an exception in the training loop) marks it failed and ended,
    so `loratop ls` does not list it as running."""
    server = ref()
    if server is None or server._closed:
        return
    with server._lock:
        live = server._status not in TERMINAL_STATUSES
    if live:
        server.status("failed", "the process exited without ending the run")
    server.close(drain_seconds=0.2)


def _wait_writable(sock: socket.socket, timeout: float) -> None:
    with selectors.DefaultSelector() as s:
        s.register(sock, selectors.EVENT_WRITE)
        s.select(timeout)


class _BadField(Exception):
    pass


def _kind_ok(v: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and v.is_integer()
    return isinstance(v, kind)


_NAMES = {bool: "a boolean", int: "a whole number", str: "a string"}


def _required(m: Mapping[str, Any], key: str, kind: type) -> Any:
    if m.get(key) is None:
        raise _BadField(f"missing key \"{key}\"")
    return _optional(m, key, kind)


def _optional(m: Mapping[str, Any], key: str, kind: type) -> Any:
    v = m.get(key)
    if v is None:
        return None
    if not _kind_ok(v, kind):
        raise _BadField(f"\"{key}\" should be {_NAMES[kind]}, found {type(v).__name__} {str(v)[:40]}")
    return int(v) if kind is int else v
