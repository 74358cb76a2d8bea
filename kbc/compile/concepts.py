"""Code, not the model, decides which names are one concept: normalised names and fuzzy matches."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz, process

FUZZY_SAME = 92  # token-sort ratio above which two names are taken as one concept


@lru_cache(maxsize=1 << 18)
def concept_key(name: str) -> str:
    """'The Paxos Algorithms' and 'paxos algorithm' share a key. Memoised: a run asks it of
    the same names again and again (each sync, identity, the pairs: 250,000 calls at 3,000)."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = re.sub(r"[\(\)\[\]{}\"'`’.,;:!?]", " ", text)
    text = re.sub(r"[-_/]+", " ", text)
    words = [w for w in text.split() if w not in ("the", "a", "an")]
    return " ".join(_singular(w) for w in words)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "os")):
        return word[:-1]
    return word


class ConceptMatcher:
    """Maps any name or alias to the key of the concept it belongs to."""

    def __init__(self):
        self._by_name: dict[str, str] = {}  # normalised name or alias -> concept key

    def add(self, key: str, names: list[str]) -> None:
        for name in names:
            normal = concept_key(name)
            if normal:
                self._by_name.setdefault(normal, key)

    def match(self, names: list[str]) -> str | None:
        normals = [concept_key(n) for n in names if concept_key(n)]
        for normal in normals:
            if normal in self._by_name:
                return self._by_name[normal]
        if not self._by_name:
            return None
        choices = list(self._by_name)
        for normal in normals:
            if len(normal) < 5:  # short names (acronyms) must match exactly
                continue
            best = process.extractOne(normal, choices, scorer=fuzz.token_sort_ratio,
                                      score_cutoff=FUZZY_SAME)
            if best:
                return self._by_name[best[0]]
        return None


class MentionPattern:
    """A casefolded name's mention pattern (consolidate.Profile), compiled at its first search:
    a substring test before the search rules most texts out, so most are never needed."""
    __slots__ = ("name", "_compiled")

    def __init__(self, name: str):
        self.name, self._compiled = name, None

    def search(self, text: str):
        if self._compiled is None:
            self._compiled = _mention_regex(self.name)
        return self._compiled.search(text)


@lru_cache(maxsize=1 << 14)
def _mention_regex(name: str) -> re.Pattern:
    return re.compile(r"(?<![\w-])" + re.escape(name) + r"(?:e?s)?(?![\w-])")
