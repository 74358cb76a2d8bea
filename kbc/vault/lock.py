"""The vault lock (.kbc/lock): one command writes a vault at a time.

The lock is an advisory flock on the file, so the kernel drops it when its holder dies (even
by kill -9): a lock left by a dead process is stale by construction and simply taken over.
The file names the holder (pid, command, since) so a refused second writer can say who.
Readers (search, serve) take no lock: SQLite's WAL and atomic page writes keep them consistent.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kbc.errors import KbcError

try:
    import fcntl
except ImportError:  # Windows: fall back to pid liveness alone
    fcntl = None


class VaultBusy(KbcError):
    pass


_HELD: set[str] = set()  # state folders whose lock this process holds


def writer_elsewhere(state_dir: Path) -> bool:
    """Is another process writing this vault right now (holding its lock)?"""
    path = Path(state_dir) / "lock"
    if str(path.resolve()) in _HELD or fcntl is None or not path.exists():
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the shared lock just taken


@dataclass
class Holder:
    pid: int
    command: str
    since: str

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def read_holder(path: Path) -> Holder | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "null")
        return Holder(int(data["pid"]), str(data["command"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class VaultLock:
    """`with VaultLock(state_dir, "kbc compile"):` or acquire()/release(). Not re-entrant
    across processes; within one process a second acquire of a held lock is a no-op."""

    def __init__(self, state_dir: Path, command: str):
        self.path = Path(state_dir) / "lock"
        self.command = command
        self._fd: int | None = None
        self.took_stale: Holder | None = None  # a dead holder whose lock was taken over

    def acquire(self) -> "VaultLock":
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        previous = read_holder(self.path)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise VaultBusy(self._busy_line(read_holder(self.path))) from None
        elif previous and previous.alive() and previous.pid != os.getpid():
            os.close(fd)
            raise VaultBusy(self._busy_line(previous))
        if previous and previous.pid != os.getpid() and not previous.alive():
            self.took_stale = previous
        record = json.dumps({"pid": os.getpid(), "command": self.command,
                             "since": dt.datetime.now().replace(microsecond=0).isoformat()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode() + b"\n", 0)
        self._fd = fd
        _HELD.add(str(self.path.resolve()))
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)  # an empty lock file names no holder
        finally:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
            _HELD.discard(str(self.path.resolve()))

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def _busy_line(self, holder: Holder | None) -> str:
        who = f"`{holder.command}` (pid {holder.pid}, since {holder.since})" if holder else "another kbc command"
        return (f"{self.path.parent.parent}: the vault is busy: {who} is writing it; "
                f"`{self.command}` did nothing. Run it again when that one has finished")
