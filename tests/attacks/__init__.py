"""The adversarial battery of issue 13: each attack builds its own vault, does its worst with
real processes, files and servers (kill -9, SIGINT, a second writer, hostile pages, damaged
databases), and checks that nothing was lost, nothing leaked, no traceback reached the user
and a rerun paid for nothing already answered.

tests/test_attacks.py asserts that every attack survives; benchmarks/battery.py replays them
all and prints tried / survived / lost / tracebacks. An attack is a function of a Lab; it
raises Lost when data was lost or changed, AssertionError when it was otherwise not survived.
"""
from __future__ import annotations

import os
import signal
import shutil
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kbc.vault import init_vault
from tests.scripted import ScriptedServer

REPO = Path(__file__).resolve().parents[2]
ATTACKS: dict[str, Callable[["Lab"], None]] = {}  # by function name; .description says what
# Attacks on compile's own internals (issue 13 items the compile helper owns): replayed by the
# battery, asserted by that helper's tests.
COMPILE_OWNED: set[str] = set()


class Lost(AssertionError):
    """Data was lost or changed that must not be."""


def attack(description: str, compile_owned: bool = False):
    def register(fn):
        fn.description = description
        ATTACKS[fn.__name__] = fn
        if compile_owned:
            COMPILE_OWNED.add(fn.__name__)
        return fn
    return register


@dataclass
class Outcome:
    name: str
    survived: bool = True
    lost: bool = False
    traceback: bool = False
    detail: str = ""


@dataclass
class Lab:
    tmp: Path
    server: ScriptedServer
    tracebacks: list[str] = field(default_factory=list)

    def vault(self, name: str = "vault", sample: bool = True) -> Path:
        root = self.tmp / name
        init_vault(root)
        if sample:
            for note in (REPO / "raw").glob("*.md"):
                shutil.copy(note, root / "raw" / note.name)
        return root

    def env(self, root: Path | None = None, **extra) -> dict:
        env = {**os.environ, "KBC_BASE_URL": self.server.base_url, "KBC_MODEL": "scripted",
               "OPENAI_API_KEY": "test", "PYTHONPATH": str(REPO)}
        env.pop("KBC_VAULT", None)
        if root is not None:
            env["KBC_VAULT"] = str(root)
        env.update(extra)
        return env

    def popen(self, root: Path | None, *args, env: dict | None = None, cwd: Path | None = None):
        return subprocess.Popen([sys.executable, "-m", "kbc", *args], env=env or self.env(root),
                                cwd=cwd or self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def kbc(self, root: Path | None, *args, env: dict | None = None, cwd: Path | None = None,
            timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "kbc", *args], env=env or self.env(root),
                              cwd=cwd or self.tmp, capture_output=True, text=True, timeout=timeout,
                              input=stdin)
        self.saw(done.stderr + done.stdout)
        return done

    def saw(self, output: str) -> None:
        if "Traceback (most recent call last)" in output:
            self.tracebacks.append(output[-2000:])

    def finish(self, process: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
        out, err = process.communicate(timeout=timeout)
        self.saw(out + err)
        return out, err


def snapshot(root: Path, folders=("raw", "wiki")) -> dict[str, bytes]:
    """Every file of the given folders, by path: to prove them intact."""
    files = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            if path.is_file() and not path.is_symlink():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def intact(before: dict[str, bytes], root: Path, folders=("raw", "wiki")) -> None:
    after = snapshot(root, folders)
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(set(after) - set(before))
    if changed or added:
        raise Lost(f"changed: {changed[:5]}, added: {added[:5]}")


def one_error(stderr: str, *words: str) -> str:
    """The single `kbc: error:` line, which must name each of `words`."""
    lines = [line for line in stderr.splitlines() if line.startswith("kbc: error:")]
    assert len(lines) == 1, f"expected one error line, got: {stderr[-800:]!r}"
    for word in words:
        assert word.lower() in lines[0].lower(), f"{word!r} not in {lines[0]!r}"
    return lines[0]


def answered(root: Path) -> set[str]:
    """Request hashes of every answer kbc stored (the response cache)."""
    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        return {row[0] for row in db.execute("select request_hash from responses")}


def paid_since(root: Path, hashes: set[str], after_id: int) -> list[str]:
    """Live (paid) requests after ledger row `after_id` whose answer was already stored."""
    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        rows = db.execute("select request_hash from requests where id > ? and from_cache = 0 "
                          "and finish_reason != 'error'", [after_id]).fetchall()
    return [h for (h,) in rows if h in hashes]


def last_request_id(root: Path) -> int:
    with sqlite3.connect(root / ".kbc" / "kbc.db") as db:
        return db.execute("select coalesce(max(id), 0) from requests").fetchone()[0]


def wait_for(condition: Callable[[], bool], timeout: float = 60, step: float = 0.05) -> None:
    ends = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > ends:
            raise AssertionError("timed out waiting")
        time.sleep(step)


def requests_of(server: ScriptedServer, schema: str) -> list[dict]:
    return [r for r in list(server.requests) if schema in str(r.get("response_format"))]


def kill9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)


def run_attack(name: str, tmp: Path) -> Outcome:
    outcome = Outcome(name)
    tmp.mkdir(parents=True, exist_ok=True)
    with ScriptedServer() as server:
        server.httpd.handle_error = lambda *args: None  # a client killed mid-answer is the point
        lab = Lab(tmp, server)
        try:
            ATTACKS[name](lab)
        except Lost as exc:
            outcome.survived, outcome.lost, outcome.detail = False, True, f"lost: {exc}"
        except AssertionError as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            outcome.survived = False
            outcome.detail = f"{Path(where.filename).name}:{where.lineno} {where.line}: {str(exc)[:600]}"
        except Exception:  # the attack's own harness broke: not survived, and say how
            outcome.survived, outcome.detail = False, traceback.format_exc()[-800:]
        if lab.tracebacks:
            outcome.survived, outcome.traceback = False, True
            outcome.detail += "\n" + lab.tracebacks[0][-800:]
    return outcome


# The attack modules register themselves.
from tests.attacks import damage, leaks, paid, safety, web  # noqa: E402,F401
