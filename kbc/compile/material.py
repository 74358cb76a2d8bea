"""Every concept's material (the evidence its article is written from), with a digest per
concept of everything that material is made from. At 10,000 sources a +1 changes a few dozen
materials of 12,000: the caches after it (mention lists, the graph, input hashes) compare
digests, and a material is parsed from its stored form only where one of them reads it."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping

from kbc.compile.rows import Evidence


def digest_of(*parts: str) -> str:
    """A short hash of the parts, in order."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def evidence_values(items) -> str:
    """The repr of every field of every item: equal for equal evidence, cheaper than JSON."""
    return repr([(e.source_page, e.text, e.lines, e.kind) for e in items])


class Material(Mapping):
    """Concept key -> its evidence (a list), made when first read; digest(key): a hash that
    differs whenever the evidence may."""

    def __init__(self):
        self._made: dict[str, list[Evidence]] = {}
        self._makers: dict[str, Callable[[], list[Evidence]]] = {}
        self._digests: dict[str, str] = {}

    @classmethod
    def of(cls, evidence: Mapping[str, list[Evidence]]) -> Material:
        """Evidence at hand, digested from its values."""
        out = cls()
        for key, items in evidence.items():
            out.put(key, digest_of(evidence_values(items)), items=list(items))
        return out

    def put(self, key: str, digest: str, items: list[Evidence] | None = None,
            make: Callable[[], list[Evidence]] | None = None) -> None:
        """`digest`: a hash of all `items` (or what `make` returns) are made from."""
        self._digests[key] = digest
        self._made.pop(key, None)
        self._makers.pop(key, None)
        if items is not None:
            self._made[key] = items
        else:
            self._makers[key] = make

    def extend(self, key: str, items: list[Evidence], added: list[Evidence]) -> None:
        """The key's evidence is now `items`, made of what it was and of `added`."""
        self.put(key, digest_of(self._digests[key], evidence_values(added)), items=items)

    def digest(self, key: str) -> str:
        return self._digests[key]

    def made(self, key: str) -> bool:
        """Whether the key's evidence has been read (for tests: what stayed unparsed)."""
        return key in self._made

    def __getitem__(self, key: str) -> list[Evidence]:
        found = self._made.get(key)
        if found is None:
            found = self._made[key] = self._makers.pop(key)()  # KeyError: no such concept
        return found

    def __contains__(self, key) -> bool:
        return key in self._digests

    def __iter__(self) -> Iterator[str]:
        return iter(self._digests)

    def __len__(self) -> int:
        return len(self._digests)
