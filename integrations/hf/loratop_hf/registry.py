"""The per-user folder of runs (docs/PROTOCOL.md §1): `$XDG_RUNTIME_DIR/loratop/` or `/tmp/loratop-<uid>/`, 0700
and ours; `<id>.sock` (0600) and `<id>.json` (written atomically) for each run."""

from __future__ import annotations

import json
import os
import secrets
import stat
from typing import Any, Dict, Mapping, Optional

__all__ = ["RegistryError", "default_folder", "ensure_private_folder", "new_id", "write_entry", "ID_ALPHABET",
           "MAX_SOCKET_PATH"]

#: Run ids are 6 characters from this alphabet (no 0/1/l/o, which people misread).
ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
#: The longest socket path Linux binds (sun_path holds 108 bytes with the terminating NUL).
MAX_SOCKET_PATH = 107


class RegistryError(RuntimeError):
    """The runs folder cannot be used; the message says why and what to do."""


def default_folder(environ: Optional[Mapping[str, str]] = None) -> str:
    """The runs folder for this user and environment (not created)."""
    env = os.environ if environ is None else environ
    x = env.get("XDG_RUNTIME_DIR", "")
    if x:
        return x + "/loratop"
    return f"/tmp/loratop-{os.getuid()}"


def ensure_private_folder(path: str) -> None:
    """Creates `path` (0700) when missing; refuses a non-folder, a symbolic link, another uid's folder, or a folder
    open to group or others."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise RegistryError(f"cannot create the runs folder {path}: {e.strerror} "
                                "(hint: set XDG_RUNTIME_DIR to a folder you own)") from None
        st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise RegistryError(f"{path} should be the folder of your runs but is not a folder (or is a symbolic link) "
                            "(hint: remove it, or set XDG_RUNTIME_DIR to a folder you own)")
    if st.st_uid != os.getuid():
        raise RegistryError(f"{path} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}); refusing to use it "
                            "(hint: set XDG_RUNTIME_DIR to a folder you own)")
    if st.st_mode & 0o077:
        raise RegistryError(f"{path} is open to other users (mode {stat.S_IMODE(st.st_mode):o}) "
                            f"(hint: chmod 700 {path})")


def new_id(folder: str) -> str:
    """A fresh run id not used by any entry or socket in `folder`."""
    while True:
        rid = "".join(secrets.choice(ID_ALPHABET) for _ in range(6))
        if not os.path.lexists(os.path.join(folder, rid + ".json")) and \
                not os.path.lexists(os.path.join(folder, rid + ".sock")):
            return rid


def _finite(v: Any) -> Any:
    if isinstance(v, float) and v != v:
        return "NaN"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


def write_entry(folder: str, entry: Dict[str, Any]) -> None:
    """Writes a run's entry atomically: `.<id>.json.partial-<pid>`, fsync, rename to `<id>.json`."""
    rid = entry["run"]["id"]
    final = os.path.join(folder, rid + ".json")
    tmp = os.path.join(folder, f".{rid}.json.partial-{os.getpid()}")
    data = json.dumps(_finite(entry), sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.rename(tmp, final)
    except OSError:
        try:
            os.unlink(tmp)
        finally:
            raise
