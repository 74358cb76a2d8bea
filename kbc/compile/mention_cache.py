"""A concept's material, with its mentions in other sources (the costly part: a search of the
sources) kept between runs. A concept's mentions are searched again only when what they were
found from changed: its names, its own sources, the evidence code, or a source that changed
since (added, edited, renamed or removed) and names the concept or was among its mentions."""
from __future__ import annotations

import hashlib
import json
import sys
from functools import partial

from kbc.compile import evidence as evidence_code
from kbc.compile.evidence import Mentioned, Naming, SourceIndex, mentioned, naming_key, naming_words, source_words
from kbc.compile.material import Material, digest_of
from kbc.compile.rows import Claim, Concept, Evidence
from kbc.compile.sources import Source
from kbc.llm import stable_json
from kbc.vault.files import code_digest

# The search's own code is part of what its results were built from, and this module's (it
# makes the evidence from a stored row).
CODE = code_digest(evidence_code, sys.modules[__name__])


def own_evidence(own: list[Claim], pages: dict[str, str]) -> list[Evidence]:
    """`own`: the concept's claims by source, in the order extracted."""
    return [Evidence(pages.get(c.source_path, ""), c.text, c.lines, c.kind) for c in own]


class MentionCache:
    def __init__(self, db, lock):
        self.db, self.lock = db, lock

    def material(self, concepts: dict[str, Concept], claims: dict[str, list[Claim]], pages: dict[str, str],
                 sources: list[Source]) -> Material:
        """Every concept's evidence: its own claims, then its mentions in other sources. A
        concept whose mentions stand is digested from its stored row, parsed only when read."""
        current = {s.path: (s.sha256, pages[s.path]) for s in sources if s.path in pages}
        with self.lock:
            # plain tuples: sqlite-utils' dict per row cost a tenth of a second at 10,000
            seen = {path: (sha, page) for path, sha, page in self.db.execute(
                "select path, sha256, page from mention_sources")}
            stored = {key: (basis, found) for key, basis, found in self.db.execute(
                "select concept_key, basis, evidence from concept_mentions")}
        changed = {p for p in current.keys() | seen.keys() if current.get(p) != seen.get(p)}
        changed_pages = {pair[1] for p in changed for pair in (current.get(p), seen.get(p)) if pair}
        quoted = [stable_json(page) for page in changed_pages]  # as a stored row spells them
        fresh = [s for s in sources if s.path in changed and s.path in current]
        fresh_words = [(s, source_words(s)) for s in fresh]
        any_fresh = set().union(*(words for _, words in fresh_words))
        index: SourceIndex | None = None
        out = Material()
        updates = []
        for key, concept in concepts.items():
            own_claims = _unique(sorted((c for member in concept.members for c in claims.get(member, [])),
                                        key=lambda c: c.source_path))  # by source, in the order extracted
            own_paths = {c.source_path for c in own_claims}
            own_values = repr([(pages.get(c.source_path, ""), c.text, c.lines, c.kind) for c in own_claims])
            # a repr, not JSON: a tenth of a second at 10,000
            basis = hashlib.sha256(repr((CODE, naming_key(concept), sorted(own_paths))).encode()).hexdigest()[:16]
            hit, kept = stored.get(key), None
            if hit and hit[0] == basis:
                # a page that changed is named in the row only if its quoted name is in it
                loaded = _load(hit[1]) if any(page in hit[1] for page in quoted) else None
                if loaded is None or not any(e.source_page in changed_pages for e in loaded[1]):
                    if not _named_in(concept, fresh_words, any_fresh, own_paths):
                        out.put(key, digest_of(CODE, own_values, hit[1]),
                                make=partial(_made, own_claims, pages, hit[1]))
                        continue
                    kept = (loaded or _load(hit[1]))[0]
            if kept is not None:  # only new sources name it: they join the ranking of the rest
                found = mentioned(concept, fresh, pages, own_paths, kept=kept)
            else:
                if index is None:
                    index = SourceIndex(sources)
                found = mentioned(concept, sources, pages, own_paths, index)
            dumped = _dump(found)
            out.put(key, digest_of(CODE, own_values, dumped),
                    items=own_evidence(own_claims, pages) + [e for m in found for e in m.evidence])
            if not hit or hit != (basis, dumped):
                updates.append({"concept_key": key, "basis": basis, "evidence": dumped})
        gone = [k for k in stored if k not in concepts]
        if updates or gone or changed:
            with self.lock, self.db.conn:
                if updates:
                    self.db["concept_mentions"].upsert_all(updates, pk="concept_key")
                for key in gone:
                    self.db.execute("delete from concept_mentions where concept_key = ?", [key])
                # the changed sources only: rewriting all 10,000 rows was a tenth of a second a run
                self.db.conn.executemany("delete from mention_sources where path = ?",
                                         [(p,) for p in changed if p not in current])
                self.db.conn.executemany("insert or replace into mention_sources (path, sha256, page) "
                                         "values (?, ?, ?)", [(p, *current[p]) for p in changed if p in current])
        return out


def _unique(claims: list[Claim]) -> list[Claim]:
    """One of each claim of a source: a claim naming another concept is that one's too
    (extract.naming_claims), and the two may be one concept."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for claim in claims:
        if (mark := (claim.source_path, claim.kind, claim.text.casefold())) not in seen:
            seen.add(mark)
            out.append(claim)
    return out


def _named_in(concept: Concept, fresh: list[tuple[Source, set[str]]], words: set[str], own: set[str]) -> bool:
    """Whether a changed source (not the concept's own) may name the concept. `words`: all
    the changed sources' words, to rule most concepts out before any pattern is built."""
    # Naming.may_occur needs one of these words in the source: none in all of them rules it out
    if not fresh or naming_words(concept).isdisjoint(words):
        return False
    naming = Naming(concept)
    for source, words in fresh:
        if source.path in own or not naming.may_occur(words):
            continue
        pattern = naming.finder(source.body)
        if pattern is not None and pattern.search(source.body):
            return True
    return False


def _made(own: list[Claim], pages: dict[str, str], stored: str) -> list[Evidence]:
    return own_evidence(own, pages) + _load(stored)[1]


def _dump(found: list[Mentioned]) -> str:
    return stable_json({"found": [{"hits": m.hits, "path": m.path, "evidence": [e.__dict__ for e in m.evidence]}
                                  for m in found]})


def _load(stored: str) -> tuple[list[Mentioned] | None, list[Evidence]]:
    """(the sources found with their rank, their evidence); a row stored before ranks were
    kept gives its evidence only (searched again in full when a new source names it)."""
    data = json.loads(stored)
    if isinstance(data, list):
        return None, [Evidence(**e) for e in data]
    kept = [Mentioned(m["hits"], m["path"], [Evidence(**e) for e in m["evidence"]]) for m in data["found"]]
    return kept, [e for m in kept for e in m.evidence]
