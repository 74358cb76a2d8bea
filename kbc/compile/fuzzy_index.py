"""The texts a query can reach a rapidfuzz score with, found through an index instead of a
sweep over all of them (per new concept, that sweep made consolidation quadratic in the
vault's concepts). Both finders are exact: they return what the sweep with the same scorer
and cutoff returns, because their indexes only rule out texts that cannot reach the cutoff.

fuzz.ratio is 100 * (1 - d / (len(a) + len(b))), d the insert/delete distance, so a cutoff
bounds d. PassJoin's pigeonhole rule (Li et al., VLDB 2011) then finds the candidates: a text
cut into d_max + 1 segments keeps at least one segment untouched by d <= d_max edits, found
in the query as a substring a few places from where it was (|shift| + |length change - shift|
<= d). Candidates are checked with the scorer itself.
"""
from __future__ import annotations

from collections import Counter
from itertools import chain

from rapidfuzz import fuzz, process


def _most_edits(a: int, b: int, cutoff: float) -> int:
    """The largest distance at which texts of lengths a and b still reach the cutoff (with a
    margin for float rounding: the scorer decides in the end)."""
    return int((a + b) * (100 - cutoff) / 100 + 1e-6)


def _segments(length: int, count: int) -> list[tuple[int, int]]:
    """(start, length) of `count` near-equal segments of a text of `length` characters."""
    count = max(1, min(count, length))
    short, extra = divmod(length, count)
    out, start = [], 0
    for i in range(count):
        size = short + (1 if i >= count - extra else 0)
        out.append((start, size))
        start += size
    return out


class RatioIndex:
    """Texts whose fuzz.ratio with a query reaches `cutoff` (0 < cutoff <= 100). Texts are
    indexed once however many times they recur (a first compile's concepts share names)."""

    def __init__(self, texts: list[str], cutoff: float):
        self.cutoff = cutoff
        self.positions: dict[str, list[int]] = {}  # text -> where it is in `texts`
        for position, text in enumerate(texts):
            self.positions.setdefault(text, []).append(position)
        self.texts = list(self.positions)  # each text once: what the index's numbers are
        self._lengths: dict[int, list[tuple[int, int]]] = {}  # length -> its segments
        self._index: dict[tuple[int, int, str], list[int]] = {}  # (length, segment, text) -> texts
        self._empty: list[int] = []
        self._asked: dict[str, list[int]] = {}
        for position, text in enumerate(self.texts):
            size = len(text)
            if not size:
                self._empty.append(position)
                continue
            if size not in self._lengths:
                edits = self._most_edits_for(size)
                # One-character segments all edited away: no segment to look up, all are candidates.
                self._lengths[size] = _segments(size, edits + 1) if edits < size else [(0, 0)]
            for number, (start, width) in enumerate(self._lengths[size]):
                self._index.setdefault((size, number, text[start:start + width]), []).append(position)

    def _most_edits_for(self, size: int) -> int:
        """The most edits any text within reach of one of `size` characters may be away."""
        longest = size
        while longest + 1 - size <= _most_edits(longest + 1, size, self.cutoff):
            longest += 1
        return _most_edits(longest, size, self.cutoff)

    def candidates(self, query: str) -> set[int]:
        """A superset of the texts reaching the cutoff with `query`."""
        size = len(query)
        if not size:
            return set(self._empty)
        found: set[int] = set()
        for other, segments in self._lengths.items():
            edits = _most_edits(size, other, self.cutoff)
            change = size - other
            if abs(change) > edits:
                continue
            low, high = min(0, change), max(0, change)
            spare = (edits - abs(change)) // 2  # a shift beyond [low, high] costs two edits per step
            hits = []
            for number, (start, width) in enumerate(segments):
                first = max(0, start + low - spare)
                last = min(size - width, start + high + spare)
                for at in range(first, last + 1):
                    hit = self._index.get((other, number, query[at:at + width]))
                    if hit:
                        hits.append(hit)
            # Each edit touches one segment at most: len(segments) - edits of them are found.
            needed = len(segments) - edits
            if needed <= 1:
                found.update(chain.from_iterable(hits))
            else:  # a text found twice for one segment counts twice: more candidates, none lost
                found.update(t for t, n in Counter(chain.from_iterable(hits)).items() if n >= needed)
        return found

    def near(self, query: str) -> list[int]:
        """Where in `texts` those are whose fuzz.ratio with `query` reaches the cutoff."""
        if query not in self._asked:
            self._asked[query] = self.expand(_check(query, self.candidates(query), self.texts, fuzz.ratio,
                                                    self.cutoff))
        return self._asked[query]

    def expand(self, numbers) -> list[int]:
        """The positions in `texts` of the indexed texts numbered `numbers`."""
        return _positions(self, numbers)


def _positions(index, numbers) -> list[int]:
    """The positions in an index's input of its distinct texts numbered `numbers`."""
    return sorted(p for n in numbers for p in index.positions[index.texts[n]])


def _check(query: str, found: set[int], texts: list[str], scorer, cutoff: float) -> list[int]:
    """The candidates that reach the cutoff, scored in one call (in C)."""
    found = sorted(found)
    hits = process.extract(query, [texts[i] for i in found], scorer=scorer, score_cutoff=cutoff, limit=None)
    return [found[j] for _, _, j in hits]


def _token_set(text: str) -> str:
    return " ".join(sorted(set(text.split())))


class TokenSetIndex:
    """Texts whose fuzz.token_set_ratio with a query reaches `cutoff`, except those sharing a
    token the caller calls strong on both sides (`strong`: per text, the tokens it finds by
    its own index: it has those pairs already). Texts sharing no token score the ratio of
    their sorted token sets (a RatioIndex); the others share a token, looked up here."""

    def __init__(self, texts: list[str], cutoff: float, strong: list[set[str]]):
        self.cutoff = cutoff
        self.positions: dict[str, list[int]] = {}
        for position, text in enumerate(texts):
            self.positions.setdefault(text, []).append(position)
        self.texts = list(self.positions)
        self._apart = RatioIndex([_token_set(t) for t in self.texts], cutoff)  # its positions: text numbers
        number = {text: n for n, text in enumerate(self.texts)}
        self._weak: dict[str, set[int]] = {}  # token -> texts where it is not strong somewhere
        self._strong: dict[str, set[int]] = {}
        for text, own in zip(texts, strong):
            for token in set(text.split()):
                (self._strong if token in own else self._weak).setdefault(token, set()).add(number[text])
        self._asked: dict[tuple[str, frozenset], list[int]] = {}

    def near(self, query: str, strong: set[str]) -> list[int]:
        tokens = set(query.split())
        key = (query, frozenset(tokens & strong))
        if key not in self._asked:
            found = set(self._apart.expand(self._apart.candidates(_token_set(query))))
            for token in tokens:
                found.update(self._weak.get(token, ()))
                if token not in strong:
                    found.update(self._strong.get(token, ()))
            hits = _check(query, found, self.texts, fuzz.token_set_ratio, self.cutoff)
            self._asked[key] = _positions(self, hits)
        return self._asked[key]
