"""Pages' states (ours, edited, manual, foreign) remembered by each file's inode, mtime and
size, within a run and between runs (.kbc/page_states.json, saved when the wiki is
refreshed): a compile asks the state of every page to find free page names, so without it
every run read and hashed the whole wiki (15 of 94 profiled seconds of a +1 source at
N=3,000). A file changed since, in place or replaced, stats differently; one changed in the
last seconds is never remembered (an edit within one clock tick keeps the mtime, and may
keep the size)."""
from __future__ import annotations

import json
import os
import time

from kbc.vault.files import atomic_write

STATES_FILE = "page_states.json"
RECENT_NS = 3_000_000_000

# vault state folder -> path -> [inode, mtime, size, state]; and the paths asked this run
_MEMO: dict[str, dict[str, list]] = {}
_ASKED: dict[str, set[str]] = {}


def _memo(vault) -> dict[str, list]:
    folder = str(vault.state_dir)
    if folder not in _MEMO:
        try:
            data = json.loads((vault.state_dir / STATES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        _MEMO[folder] = data if isinstance(data, dict) else {}
        _ASKED[folder] = set()
    return _MEMO[folder]


def known_state(vault, path, stat: os.stat_result) -> str | None:
    """The remembered state of the page at `path` if the file is as it was then."""
    memo, key = _memo(vault), str(path)
    _ASKED[str(vault.state_dir)].add(key)
    seen = memo.get(key)
    if seen and seen[:3] == [stat.st_ino, stat.st_mtime_ns, stat.st_size]:
        return seen[3]
    return None


def remember(vault, path, stat: os.stat_result, state: str) -> None:
    if time.time_ns() - stat.st_mtime_ns > RECENT_NS:
        _memo(vault)[str(path)] = [stat.st_ino, stat.st_mtime_ns, stat.st_size, state]


def save_states(vault) -> None:
    """The states of the pages asked about this run (those of pages gone are dropped)."""
    folder = str(vault.state_dir)
    if folder not in _MEMO:
        return
    asked = _ASKED[folder]
    kept = {path: seen for path, seen in _MEMO[folder].items() if path in asked}
    vault.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(vault.state_dir / STATES_FILE, json.dumps(kept))
    _ASKED[folder] = set()
