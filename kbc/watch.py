"""`kbc watch`: ingest what lands in a drop folder and compile raw/ once changes settle.

Each cycle runs `kbc ingest` and `kbc compile` as child processes: a crash, a model that
fails to load or a run that stops (budget, endpoint down) ends that cycle only, and the vault
lock those commands take means a watch never compiles alongside another writer. Folders
are polled by mtime and size (no dependency, works on network drives and in containers).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

Snapshot = dict[str, tuple[int, int]]
STOPPED = 3  # kbc compile's exit code for a clean stop (budget, batch, endpoint)


def snapshot(folder: Path) -> Snapshot:
    """Every visible file under folder, with (mtime_ns, size); hidden files and folders skipped."""
    found: Snapshot = {}
    if not folder.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or name.endswith((".tmp", ".part", ".crdownload")):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.stat(path)
            except OSError:  # gone between listing and stat: the next poll sees it
                continue
            found[path] = (st.st_mtime_ns, st.st_size)
    return found


@dataclass
class Cycle:
    number: int
    ingested: list[str] = field(default_factory=list)
    ingest_code: int = 0
    compile_code: int = 0
    seconds: float = 0.0
    summary: str = ""

    @property
    def ok(self) -> bool:
        """A file that fails to ingest is reported, not retried until it changes; a compile
        that fails (or stops) is retried."""
        return self.compile_code == 0


@dataclass
class Watcher:
    root: Path
    drop: Path | None = None
    interval: float = 2.0
    debounce: float = 5.0  # quiet seconds after the last change before a cycle starts
    retry: float = 60.0  # first wait after a failed cycle; doubles up to 15 minutes
    extra_args: list[str] = field(default_factory=list)  # passed to `kbc compile`
    log: Callable[[str], None] = print
    cycles: int = 0
    _child: subprocess.Popen | None = None

    def run_once(self, drop_files: list[str] | None = None) -> Cycle:
        """One cycle: ingest the drop folder's files (all, or those given), then compile."""
        self.cycles += 1
        cycle = Cycle(self.cycles)
        started = time.monotonic()
        files = sorted(drop_files if drop_files is not None else snapshot(self.drop) if self.drop else [])
        if files:
            cycle.ingest_code, out = self._kbc(["ingest", *files])
            cycle.ingested = files
            if cycle.ingest_code:
                self.log(self._stamp(f"cycle {cycle.number}: ingest exit {cycle.ingest_code}: {_last(out)}"))
        cycle.compile_code, out = self._kbc(["compile", *self.extra_args])
        cycle.seconds = time.monotonic() - started
        cycle.summary = " | ".join(line for line in out.splitlines() if line.startswith(("sources:", "pages:"))) \
            or _last(out)
        state = "ok" if cycle.ok else f"failed (exit {cycle.compile_code})"
        self.log(self._stamp(f"cycle {cycle.number}: {len(files)} dropped files ingested, compile {state} "
                             f"in {cycle.seconds:.1f} s: {cycle.summary}"))
        return cycle

    def run_forever(self) -> None:
        """Poll until Ctrl-C (or SIGTERM); a cycle starts once changes have settled."""
        previous = signal.signal(signal.SIGTERM, _interrupt)
        raw = self.root / "raw"
        self.log(self._stamp(f"watching {raw}" + (f" and {self.drop}" if self.drop else "")
                             + f" (every {self.interval:g} s, after {self.debounce:g} s quiet); Ctrl-C stops"))
        try:
            done_raw, done_drop = {}, {}  # what the last good cycle saw; {} so the first poll compiles
            seen = (snapshot(raw), snapshot(self.drop) if self.drop else {})
            last_change, wait_until, failures = time.monotonic(), 0.0, 0
            while True:
                now = time.monotonic()
                current = (snapshot(raw), snapshot(self.drop) if self.drop else {})
                if current != seen:
                    seen, last_change = current, now
                    wait_until = 0.0  # a new change is worth a try even after a failure
                pending = current != (done_raw, done_drop)
                if pending and now - last_change >= self.debounce and now >= wait_until:
                    drop_now = current[1]
                    changed = [p for p, sig in drop_now.items() if done_drop.get(p) != sig]
                    cycle = self.run_once(changed)
                    if cycle.ok:
                        failures = 0
                        # what the cycle itself wrote into raw/ is not a new change
                        done_raw, done_drop = snapshot(raw), drop_now
                        seen = (done_raw, seen[1])
                    else:
                        failures += 1
                        delay = min(self.retry * 2 ** (failures - 1), 900.0)
                        wait_until = time.monotonic() + delay
                        self.log(self._stamp(f"next try in {delay:g} s, or after the next change"))
                time.sleep(self.interval)
        except KeyboardInterrupt:
            self.log(self._stamp(f"stopped after {self.cycles} cycles"))
        finally:
            signal.signal(signal.SIGTERM, previous)

    # -- internals ------------------------------------------------------------------------

    def _kbc(self, args: list[str]) -> tuple[int, str]:
        command = [sys.executable, "-m", "kbc", "--vault", str(self.root), *args]
        self._child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, stdin=subprocess.DEVNULL)
        try:
            out, _ = self._child.communicate()
            return self._child.returncode, out
        except KeyboardInterrupt:
            self._stop_child()
            raise
        finally:
            self._child = None

    def _stop_child(self) -> None:
        """Ctrl-C reaches the child too when run from a terminal; otherwise pass it on, and let
        the child stop cleanly (a compile keeps its finished work)."""
        child = self._child
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    @staticmethod
    def _stamp(line: str) -> str:
        return f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {line}"


def _last(out: str) -> str:
    lines = [line for line in out.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"


def _interrupt(signum, frame):
    raise KeyboardInterrupt
