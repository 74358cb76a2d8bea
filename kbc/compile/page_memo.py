"""What kbc last found a page holding, with the page's stat then: a page unchanged since that
would get the same again is not read again (a run that adds one source changes a few concepts'
Related sections and a few summaries' concept lists, not every page's)."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from kbc.llm import stable_json
from kbc.vault.files import SETTLED_NS, atomic_write

RELATED_FILE = "related_sections.json"  # concept page -> the Related section it holds
SUMMARIES_FILE = "summary_concepts.json"  # source summary -> the concept pages it lists


class PageMemo:
    """Pages of one folder (keyed by file name) in .kbc/`file_name`."""

    def __init__(self, vault, file_name: str):
        self.vault, self.path = vault, vault.state_dir / file_name
        try:
            self.seen = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.seen = {}
        self.now: dict[str, list] = {}

    def holds(self, path: Path | str, content) -> bool:
        """Whether the page is as it was when it was last found to need nothing for `content`."""
        entry = self._entry(path, content)
        if entry is not None and self.seen.get(entry[0]) == entry[1]:
            self.now[entry[0]] = entry[1]
            return True
        return False

    def saw(self, path: Path, content) -> None:
        """The page as it is now needs nothing for `content` (unless it changed too recently to tell)."""
        entry = self._entry(path, content)
        if entry is not None and time.time_ns() - entry[1][1] > SETTLED_NS:
            self.now[entry[0]] = entry[1]

    def save(self) -> None:
        if self.now != self.seen:
            self.vault.state_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(self.now, ensure_ascii=False))

    def _entry(self, path: Path | str, content) -> tuple[str, list] | None:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        text = content if isinstance(content, str) else stable_json(content)  # a section: as it is
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return os.path.basename(path), [stat.st_ino, stat.st_mtime_ns, stat.st_size, digest]
