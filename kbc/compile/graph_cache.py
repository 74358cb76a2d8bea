"""Which concepts each concept's material names, kept between runs: a material that did not
change (by its digest) is searched only for the concepts whose names are new or changed since
(what it found of the others still holds), and only if it holds their words: each material's
words are kept too (material_words), so a new name is looked up, not looked for in 12,000
materials. A changed material is searched for every concept."""
from __future__ import annotations

import json
import sys

from kbc.compile import graph as graph_code
from kbc.compile.evidence import Naming, naming_key, naming_words, text_words
from kbc.compile.graph import material_text, names_in
from kbc.compile.material import Material, digest_of
from kbc.compile.mention_cache import CODE as EVIDENCE_CODE
from kbc.compile.rows import Concept
from kbc.vault.files import code_digest

# The search is graph.names_in with evidence.Naming: both codes, and this one, are part of what was found.
CODE = code_digest(graph_code, sys.modules[__name__]) + EVIDENCE_CODE
_CHUNK = 500  # words per `in (...)` query


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

    def mention_lists(self, concepts: dict[str, Concept], evidence: Material) -> dict[str, list[str]]:
        """As graph.mention_lists gives them. A material is read only where its digest changed
        or its words (material_words) may name a concept named anew."""
        with self.lock:
            stored = {r[0]: r[1:] for r in self.db.execute("select concept_key, naming_hash, text_hash, found "
                                                           "from graph_mentions")}
        naming = {k: digest_of(CODE + naming_key(c)) for k, c in concepts.items()}
        renamed = [k for k in concepts if stored.get(k, (None,))[0] != naming[k]]
        gone_names = set(renamed)
        namings = _Namings(concepts)
        order = {k: n for n, k in enumerate(concepts)}
        anew = {k for k in evidence if stored.get(k, (None, None))[:2] != (naming[k], evidence.digest(k))}
        may_name = self._may_name(renamed, namings, set(evidence) - anew)
        by_word: dict[str, list[str]] | None = None
        out: dict[str, list[str]] = {}
        rows, words_of = [], {}
        for key in evidence:
            row = stored.get(key)
            before = json.loads(row[2]) if row else None
            if key not in anew:
                kept = [o for o in before if o in concepts and o not in gone_names]
                fresh = []
                if may_name.get(key):
                    text = material_text(evidence[key])
                    fresh = [o for o in may_name[key] if o != key and _found(namings[o], text)]
                found = sorted(set(kept) | set(fresh), key=order.__getitem__)
            else:
                if by_word is None:
                    by_word = {}
                    for other, concept in concepts.items():
                        for word in naming_words(concept):
                            by_word.setdefault(word, []).append(other)
                text = material_text(evidence[key])
                words_of[key] = text_words(text)
                found = names_in(text, key, namings, by_word, order, words_of[key])
            out[key] = found
            if not row or (row[1], row[0], before) != (evidence.digest(key), naming[key], found):
                rows.append((key, naming[key], evidence.digest(key), json.dumps(found)))
        gone = [k for k in stored if k not in evidence]
        if rows or gone:
            with self.lock, self.db.conn:
                self.db.conn.executemany("insert or replace into graph_mentions (concept_key, naming_hash, "
                                         "text_hash, found) values (?, ?, ?, ?)", rows)
                self.db.conn.executemany("delete from graph_mentions where concept_key = ?", [(k,) for k in gone])
                self.db.conn.executemany("delete from material_words where concept_key = ?",
                                         [(k,) for k in [*words_of, *gone]])
                self.db.conn.executemany("insert into material_words (word, concept_key) values (?, ?)",
                                         [(word, k) for k, words in words_of.items() for word in words])
        return out

    def _may_name(self, renamed: list[str], namings: _Namings, kept: set[str]) -> dict[str, list[str]]:
        """Kept material's key -> the concepts named anew that may occur in it (Naming.may_occur
        of its words), from the index of the words each material holds."""
        if not renamed or not kept:
            return {}
        wanted = {w for k in renamed for w in namings[k].words | set().union(*namings[k].inner)}
        holds: dict[str, set[str]] = {}  # kept key -> the wanted words its material holds
        posting: dict[str, list[str]] = {}  # wanted word -> the kept keys holding it
        with self.lock:
            words = sorted(wanted)
            for i in range(0, len(words), _CHUNK):
                part = words[i:i + _CHUNK]
                for word, key in self.db.execute("select word, concept_key from material_words where word in "
                                                 f"({','.join('?' * len(part))})", part):
                    if key in kept:
                        holds.setdefault(key, set()).add(word)
                        posting.setdefault(word, []).append(key)
        out: dict[str, list[str]] = {}
        for other in renamed:
            naming = namings[other]
            for key in {k for word in naming.words for k in posting.get(word, ())}:
                if naming.may_occur(holds[key]):  # exact: every word it looks at was asked for
                    out.setdefault(key, []).append(other)
        return out


def _found(naming: Naming, text: str) -> bool:
    pattern = naming.finder(text)
    return pattern is not None and pattern.search(text) is not None
