"""Blocking for consolidation's candidate pairs (kbc/compile/consolidate.py): the concepts one
concept can score a pair with at all, found through indexes of their profiles
(consolidate.Profile) instead of scoring every concept against it."""
from __future__ import annotations

import re

from rapidfuzz import fuzz, process

from kbc.compile.fuzzy_index import RatioIndex, TokenSetIndex

NEAR_DUPLICATE = 85  # names this alike are always put to the model, and lint flags them if never decided

DEFINITION_BLOCK = 12  # see Blocks.of
SWEEP_UPTO = 48  # name keys asked about: up to this many, a sweep is cheaper than the index


def _index(profiles: dict, values) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, p in profiles.items():
        for value in values(p):
            out.setdefault(value, set()).add(key)
    return out


def name_starts(p) -> set[str]:
    """The word a text holds wherever it mentions one of p's names (see _mentions): a longer
    name's first word; a one-word name's word, maybe plural; "" for a name without one."""
    out = set()
    for name, _ in p.patterns:
        words = re.findall(r"\w+", name)
        out |= {words[0]} if len(words) > 1 else {words[0], words[0] + "s", words[0] + "es"} if words else {""}
    return out


class Blocks:
    """The concepts one concept can score MIN_SCORE with at all, found through indexes
    (names, their words and initials, definition words, mentions, names within rapidfuzz's
    reach): scoring only those gives the pairs scoring every concept would."""

    def __init__(self, profiles: dict, frequency: dict[str, int], asked: int | None = None):
        """`asked`: how many name keys the blocks will be asked about (all, if not given)."""
        self.profiles, self.frequency = profiles, frequency
        self.labels = [(label, k) for k, p in profiles.items() for label in p.labels]
        self.name_keys = [(name_key, k) for k, p in profiles.items() for name_key in p.name_keys]
        texts = [name_key for name_key, _ in self.name_keys]
        # A few new concepts (a +1) are compared with every profile in one pass each (set
        # tests and rapidfuzz in C): the indexes, all of them, cost more than that.
        self.swept = asked is not None and asked <= SWEEP_UPTO
        if self.swept:
            self.label_texts = [label for label, _ in self.labels]
            self.near_name_keys = _Sweep(texts, 80)
            return
        self.by_token = _index(profiles, lambda p: p.tokens)
        self.by_name_key = _index(profiles, lambda p: p.name_keys)
        self.by_initials = _index(profiles, lambda p: p.initials)
        self.by_definition = _index(profiles, lambda p: p.definition)
        self.by_name_start = _index(profiles, lambda p: p.starts)
        self.by_text_word = _index(profiles, lambda p: p.text_words)
        # What a sweep of rapidfuzz over all names found, through indexes (kbc/compile/fuzzy_index.py).
        self.near_labels = RatioIndex([label for label, _ in self.labels], NEAR_DUPLICATE)
        self.near_name_keys = TokenSetIndex(texts, 80, [profiles[k].tokens for _, k in self.name_keys])

    def of(self, key: str) -> set[str]:
        if self.swept:
            return self._swept(key)
        x, none = self.profiles[key], set()
        found: set[str] = set()
        for token in x.tokens:
            found |= self.by_token[token]
        for name_key in x.name_keys:
            found |= self.by_name_key[name_key] | self.by_initials.get(name_key, none)
        for initials in x.initials:
            found |= self.by_name_key.get(initials, none)
        # Definition words shared by more concepts than this weigh under 30 / sqrt(limit)
        # each: however many of them two definitions share, score() gives them < MIN_SCORE.
        limit = DEFINITION_BLOCK * len(x.definition)
        for word in x.definition:
            if self.frequency[word] <= limit:
                found |= self.by_definition[word]
        for word in x.text_words | {""}:  # its names in x's definition
            found |= self.by_name_start.get(word, none)
        starts = x.starts  # x's names in their definitions
        if "" in starts:
            return set(self.profiles) - {key}
        for word in starts:
            found |= self.by_text_word.get(word, none)
        for label in x.labels:
            found |= {self.labels[i][1] for i in self.near_labels.near(label)}
        for name_key in x.name_keys:  # those sharing one of x.tokens are in by_token already
            found |= {self.name_keys[i][1] for i in self.near_name_keys.near(name_key, x.tokens)}
        found.discard(key)
        return found

    def _swept(self, key: str) -> set[str]:
        """What of() finds through the indexes, by one pass over the profiles."""
        x = self.profiles[key]
        if "" in x.starts:
            return set(self.profiles) - {key}
        limit = DEFINITION_BLOCK * len(x.definition)
        rare = {word for word in x.definition if self.frequency[word] <= limit}
        words = x.text_words | {""}
        tokens, name_keys, initials, starts = x.tokens, x.name_keys, x.initials, x.starts
        found = {k for k, y in self.profiles.items()
                 if not (tokens.isdisjoint(y.tokens) and name_keys.isdisjoint(y.name_keys)
                         and name_keys.isdisjoint(y.initials) and initials.isdisjoint(y.name_keys)
                         and rare.isdisjoint(y.definition) and words.isdisjoint(y.starts)
                         and starts.isdisjoint(y.text_words))}
        for label in x.labels:
            hits = process.extract(label, self.label_texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE,
                                   limit=None)
            found |= {self.labels[i][1] for _, _, i in hits}
        for name_key in x.name_keys:
            found |= {self.name_keys[i][1] for i in self.near_name_keys.near(name_key, x.tokens)}
        found.discard(key)
        return found


class _Sweep:
    """TokenSetIndex's answers and more, by a sweep over all the texts (in C): those it leaves
    out share a strong token with the query, found by the caller's own index anyway."""

    def __init__(self, texts: list[str], cutoff: float):
        self.texts, self.cutoff = texts, cutoff

    def near(self, query: str, strong: set[str]) -> list[int]:
        hits = process.extract(query, self.texts, scorer=fuzz.token_set_ratio, score_cutoff=self.cutoff, limit=None)
        return sorted(i for _, _, i in hits)
