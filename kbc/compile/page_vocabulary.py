"""The vault's page names as grounding reads them (grounding.NameVocabulary), kept between runs
in .kbc/page_vocabulary.jsonl: folding and stemming the 32,000 names of a 10,000-source vault
was most of writing nine articles, for names nearly all there the run before.

Its first line holds names and how many of them have each feature (word, stem, acronym,
initials, key); each later line, a run's names added and removed, counted again on reading.
A run appends one short line, so its cost is reading the file, not writing 3 MB; the file is
written whole again when the lines hold many names or one cannot be read (a run killed while
appending), or the grounding code or stemmer changed (the file is keyed by both)."""
from __future__ import annotations

import json

from kbc.compile import grounding
from kbc.compile.grounding import STEMMER_VERSION, NameVocabulary, name_counts
from kbc.vault.files import atomic_write, code_digest

VOCABULARY_FILE = "page_vocabulary.jsonl"
REWRITE_AFTER = 2000  # names in the appended lines: past this, the file is written whole again


def page_vocabulary(vault, names) -> NameVocabulary:
    """The vocabulary of `names` (every page name of the vault); the file follows them."""
    names = list(dict.fromkeys(names))
    version = f"{code_digest(grounding)} {STEMMER_VERSION}"
    path = vault.state_dir / VOCABULARY_FILE
    kept = _Kept.load(path, version)
    wanted = set(names)
    if kept.counts is None:
        counts = name_counts(names)
    else:
        counts = kept.counts
        added, removed = [n for n in names if n not in kept.names], [n for n in kept.names if n not in wanted]
        if not (added or removed or kept.broken):
            return NameVocabulary.counted(counts)
        name_counts(added, counts)
        name_counts(removed, counts, sign=-1)
        if not kept.broken and kept.logged + len(added) + len(removed) <= REWRITE_AFTER:
            with path.open("a", encoding="utf-8") as log:
                log.write(json.dumps({"added": added, "removed": removed}, ensure_ascii=False) + "\n")
            return NameVocabulary.counted(counts)
    vault.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps({"version": version, "names": names, "counts": counts}, ensure_ascii=False) + "\n")
    return NameVocabulary.counted(counts)


class _Kept:
    """The file as read: its names and counts (None: nothing usable), how many names its
    appended lines hold, and whether a line could not be read."""

    def __init__(self, names: set[str], counts: dict | None, logged: int = 0, broken: bool = False):
        self.names, self.counts, self.logged, self.broken = names, counts, logged, broken

    @classmethod
    def load(cls, path, version: str) -> _Kept:
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
            head = json.loads(lines[0])
        except (OSError, ValueError):
            return cls(set(), None)
        if not (isinstance(head, dict) and head.get("version") == version and _names(head.get("names"))
                and _counts(head.get("counts"))):
            return cls(set(), None)  # another version's, or not kbc's writing: counted afresh
        kept = cls(set(head["names"]), head["counts"])
        for line in filter(None, lines[1:]):
            try:
                change = json.loads(line)
            except ValueError:
                change = None
            if not (isinstance(change, dict) and _names(change.get("added")) and _names(change.get("removed"))):
                kept.broken = True  # the rest is not trusted: counted from the names as now, written whole
                break
            name_counts([n for n in dict.fromkeys(change["added"]) if n not in kept.names], kept.counts)
            name_counts([n for n in dict.fromkeys(change["removed"]) if n in kept.names], kept.counts, sign=-1)
            kept.names.update(change["added"])
            kept.names.difference_update(change["removed"])
            kept.logged += len(change["added"]) + len(change["removed"])
        return kept


def _names(names) -> bool:
    return isinstance(names, list) and all(isinstance(name, str) for name in names)


def _counts(counts) -> bool:
    return isinstance(counts, dict) and all(
        isinstance(kind, dict) and all(type(n) is int and n > 0 for n in kind.values()) for kind in counts.values())
