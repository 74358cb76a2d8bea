"""Names: what may be a concept name, the fixed categories, and unique page names (one home)."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from kbc.compile.concepts import concept_key
from kbc.vault import Vault
from kbc.vault.files import page_name
from kbc.vault.links import link_key
from kbc.vault.pages import page_state

# The categories extraction chooses from, so index pages do not drift between requests.
CATEGORIES = ("algorithm", "system", "technique", "property", "problem", "data structure", "model",
              "protocol", "role", "concept", "person", "organization", "product", "event", "place",
              "dataset", "tool", "metric", "work", "other")
_SPELLINGS = {"organisation": "organization", "organisations": "organization", "company": "organization"}
MAX_PAGE_NAME = 120  # characters: leaves room for " (source 2).md" in a file system's 255 bytes


_MARKER = re.compile(r"^(?:#+\s*|[-+>]\s+|\*\s+|\d+[.)]\s+)+")
_WRAPPED = re.compile(r"^(\*{1,3}|_{1,2}|`|\"|“|\[\[)(.+?)(\*{1,3}|_{1,2}|`|\"|”|\]\])$")
_CLOSERS = {"“": "”", "[[": "]]"}


def name_text(raw: str) -> str:
    """A model's name as plain words: no heading or list marker, emphasis, quotes or link
    brackets copied from the note ('# Raft consensus', '**Leases**', '[[Paxos]]'); a name
    that is markup itself ('__init__') stays."""
    text = _MARKER.sub("", " ".join(raw.split())).rstrip(":").strip()
    wrapped = _WRAPPED.match(text)
    while wrapped and _CLOSERS.get(wrapped[1], wrapped[1]) == wrapped[3] and not wrapped[1].startswith("_"):
        text = wrapped[2].strip()
        wrapped = _WRAPPED.match(text)
    return text


def is_name(name: str) -> bool:
    """A concept name is a short phrase with letters, not a number, a line or a sentence."""
    name = name.strip()
    return 0 < len(name) <= 80 and any(c.isalpha() for c in name) and "|" not in name \
        and len(name.split()) <= 8


def category(text: str) -> str:
    """One of CATEGORIES; a model's near miss ("algorithms", "Data structures") is mapped."""
    words = [_SPELLINGS.get(w, w) for w in re.sub(r"[^\w\s-]", " ", text.lower()).split()]
    wanted = " ".join(words[:2])
    for option in CATEGORIES:
        if concept_key(wanted) == concept_key(option) or (words and concept_key(words[0]) == option):
            return option
    return "other" if words else "concept"


def is_source_title(name: str, title: str) -> bool:
    """A paper's title is not a concept. A short title ("Paxos") may well be one."""
    return len(title.split()) >= 5 and concept_key(name) == concept_key(title)


def short_name(title: str) -> str:
    """A page name of at most MAX_PAGE_NAME characters, cut at a word."""
    name = page_name(title)
    if len(name) <= MAX_PAGE_NAME:
        return name
    cut = name[:MAX_PAGE_NAME]
    return cut[:cut.rfind(" ")].rstrip(" .,;:-") if " " in cut else cut


class PageNames:
    """Page names unique in the whole vault (case-insensitive), as Obsidian needs."""

    def __init__(self, vault: Vault, claimed):
        self.vault = vault
        self.claimed = claimed  # () -> names the database gives to concepts and sources now
        self._files: dict[str, Callable[[str], bool]] = {}  # kind -> taken(key), see _taken_files
        self._markdown: list[tuple[Path, list[tuple[str, str]]]] | None = None  # (folder, [(name, its key)])
        # The keys of the claimed names, read once and kept up to date with each name given
        # (and claim()) until release(): rebuilt per new name, that was quadratic in a run.
        self._claimed: set[str] | None = None

    def _taken_files(self, kind: str) -> Callable[[str], bool]:
        """key -> whether a file of the vault takes that name."""
        # A page kbc wrote that no concept or source claims any more is free to reuse: that
        # is how a fresh clone (no database) adopts the committed wiki instead of renaming it.
        # So is a concept page a person edited: the concept comes back to it (a renamed note,
        # a concept lost and found again), and the person's edit gets a proposal, not a twin.
        # Only the pages of the names asked for are looked at: a +1 asks a few of 22,000.
        if kind not in self._files:  # the vault's files, read once a run
            own = self.vault.wiki_dir / ("concepts" if kind == "concept" else "sources")
            adoptable = ("ours", "edited") if kind == "concept" else ("ours",)
            if self._markdown is None:  # one walk for both kinds
                self._markdown = [(folder, [(name, link_key(name[:-3] if len(name) > 3 else name)) for name in names])
                                  for folder, names in _markdown_files(self.vault.root)]
            elsewhere: set[str] = set()
            mine: dict[str, list[str]] = {}
            for folder, names in self._markdown:
                if folder == own:
                    for name, key in names:
                        mine.setdefault(key, []).append(name)
                else:
                    elsewhere.update(key for _, key in names)
            looked: dict[str, bool] = {}

            def taken(key: str) -> bool:
                if key in elsewhere:
                    return True
                if key not in looked:
                    looked[key] = any(page_state(self.vault, own / name) not in adoptable
                                      for name in mine.get(key, ()))
                return looked[key]

            self._files[kind] = taken
        return self._files[kind]

    def claim(self, name: str) -> None:
        """A name taken outside free() (a page a concept keeps) while the claimed keys are kept."""
        if self._claimed is not None:
            self._claimed.add(link_key(name))

    def release(self) -> None:
        """What the database claims changed otherwise than through free(): read it again."""
        self._claimed = None

    def free(self, wanted: str, kind: str = "concept", keep: str = "") -> str:
        """`keep`: the name the thing has now, which stays free for it."""
        files = self._taken_files(kind)
        if self._claimed is None:
            self._claimed = {link_key(n) for n in self.claimed()}
        claimed = self._claimed
        free_key = link_key(keep)

        def taken(name: str) -> bool:
            key = link_key(name)
            return key != free_key and (key in claimed or files(key))

        base = short_name(wanted)
        found = next((c for c in (base, f"{base} ({kind})") if not taken(c)), None)
        number = 2
        while found is None:  # each numbered name asked once (a name taken k times cost k² asks)
            candidate = f"{base} ({kind} {number})"
            found = None if taken(candidate) else candidate
            number += 1
        claimed.add(link_key(found))
        return found


def _markdown_files(root: Path) -> list[tuple[Path, list[str]]]:
    """(folder, the names in it) of the *.md that root.rglob("*.md") gives outside .kbc/ (hidden
    folders too, symlinked folders not entered), without a Path made per file."""
    if ".kbc" in root.parts:
        return []
    out, pending = [], [root]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:  # rglob too passes over a folder it cannot list
            continue
        names = []
        for entry in entries:
            if entry.name.endswith(".md"):
                names.append(entry.name)
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder and entry.name != ".kbc":
                pending.append(folder / entry.name)
        if names:
            out.append((folder, names))
    return out


def summary_name_of(row_summary_page: str) -> str:
    return Path(row_summary_page).stem
