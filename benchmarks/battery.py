"""Replays the issue-13 adversarial battery (tests/attacks/) and prints what it survived.

Each attack runs in its own temporary vault against its own scripted endpoint, with real
subprocesses (kill -9, SIGINT, a second writer), real files and servers, and Chromium.

    .venv/bin/python -m benchmarks.battery            # all attacks
    .venv/bin/python -m benchmarks.battery sigint     # those whose name contains "sigint"
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.attacks import ATTACKS, COMPILE_OWNED, run_attack  # noqa: E402


def main(patterns: list[str]) -> int:
    names = [n for n in ATTACKS if not patterns or any(p in n for p in patterns)]
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="kbc-battery-") as scratch:
        for name in names:
            started = time.monotonic()
            outcome = run_attack(name, Path(scratch) / name)
            outcomes.append(outcome)
            mark = "ok  " if outcome.survived else ("LOST" if outcome.lost else "FAIL")
            owner = " [compile]" if name in COMPILE_OWNED else ""
            print(f"{mark} {time.monotonic() - started:5.1f} s  {name}: {ATTACKS[name].description}{owner}",
                  flush=True)
            if not outcome.survived:
                print("       " + outcome.detail.strip().replace("\n", "\n       ")[:900], flush=True)
    survived = sum(o.survived for o in outcomes)
    lost = sum(o.lost for o in outcomes)
    tracebacks = sum(o.traceback for o in outcomes)
    print(f"\ntried {len(outcomes)}, survived {survived}, lost {lost}, tracebacks {tracebacks}")
    return 0 if survived == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
