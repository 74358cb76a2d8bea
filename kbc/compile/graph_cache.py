"""Which concepts each concept's material names, kept between runs: a material that did not
change is searched only for the concepts whose names are new or changed since (what it found
of the others still holds); a changed material is searched for every concept."""
from __future__ import annotations

import hashlib
import json

from kbc.compile import graph as graph_code
from kbc.compile.evidence import Naming, naming_key, naming_words, text_words
from kbc.compile.graph import material_text, names_in
from kbc.compile.mention_cache import CODE as EVIDENCE_CODE
from kbc.compile.rows import Concept, Evidence
from kbc.llm import stable_json
from kbc.vault.files import code_digest

# The search is graph.names_in with evidence.Naming: both codes are part of what was found.
CODE = code_digest(graph_code) + EVIDENCE_CODE
_COLUMNS = ("concept_key", "naming_hash", "text_hash", "found")


def _hash(value) -> str:
    return hashlib.sha256((value if isinstance(value, str) else stable_json(value)).encode()).hexdigest()[:16]


class _Namings(dict):
    """Naming of a concept, built when first asked for (a regex per concept is not free)."""

    def __init__(self, concepts: dict[str, Concept]):
        super().__init__()
        self.concepts = concepts

    def __missing__(self, key: str) -> Naming:
        self[key] = Naming(self.concepts[key])
        return self[key]


class MentionGraphCache:
    def __init__(self, db, lock):
        self.db, self.lock = db, lock

    def mention_lists(self, concepts: dict[str, Concept], evidence: dict[str, list[Evidence]]) -> dict[str, list[str]]:
        """As graph.mention_lists gives them."""
        with self.lock:
            stored = {r[0]: dict(zip(_COLUMNS, r)) for r in self.db.execute(f"select {', '.join(_COLUMNS)} "
                                                                              "from graph_mentions")}
        naming = {k: _hash(CODE + naming_key(c)) for k, c in concepts.items()}
        renamed = [k for k in concepts if stored.get(k, {}).get("naming_hash") != naming[k]]
        gone_names = set(renamed)
        namings = _Namings(concepts)
        order = {k: n for n, k in enumerate(concepts)}
        by_word: dict[str, list[str]] | None = None
        out: dict[str, list[str]] = {}
        rows = []
        for key, items in evidence.items():
            text = material_text(items)
            digest = _hash(text)
            row = stored.get(key)
            before = json.loads(row["found"]) if row else None
            if row and row["text_hash"] == digest and row["naming_hash"] == naming[key]:
                kept = [o for o in before if o in concepts and o not in gone_names]
                fresh = []
                if renamed:
                    lowered, words = text.casefold(), []  # words: folded once, if a name is in the text
                    fresh = [o for o in renamed if o != key and _may_name(namings[o], lowered, text, words)]
                found = sorted(set(kept) | set(fresh), key=order.__getitem__)
            else:
                if by_word is None:
                    by_word = {}
                    for other, concept in concepts.items():
                        for word in naming_words(concept):
                            by_word.setdefault(word, []).append(other)
                found = names_in(text, key, namings, by_word, order)
            out[key] = found
            if not row or (row["text_hash"], row["naming_hash"], before) != (digest, naming[key], found):
                rows.append({"concept_key": key, "naming_hash": naming[key], "text_hash": digest,
                             "found": json.dumps(found)})
        gone = [k for k in stored if k not in evidence]
        if rows or gone:
            with self.lock, self.db.conn:
                if rows:
                    self.db["graph_mentions"].upsert_all(rows, pk="concept_key")
                for key in gone:
                    self.db.execute("delete from graph_mentions where concept_key = ?", [key])
        return out


def _may_name(naming: Naming, lowered: str, text: str, words: list) -> bool:
    """names_in's test for one concept, after a substring check that rules most texts out."""
    if not any(word in lowered for word in naming.words):
        return False
    if not words:
        words.append(text_words(text))
    if not naming.may_occur(words[0]):
        return False
    pattern = naming.finder(text)
    return pattern is not None and pattern.search(text) is not None

