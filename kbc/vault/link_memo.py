"""Which pages the auto-linker already left as they are: a page is linked again only if its
body changed since, or it holds a term (or a source title) that was added, removed or points
elsewhere since the last run. Linking is idempotent, so the rest would come out unchanged."""
from __future__ import annotations

import json
import re
from typing import Callable

from kbc.vault import autolink, term_trie
from kbc.vault.autolink import MentionLinker, term_pattern
from kbc.vault.files import code_digest
from kbc.vault.page_index import body_digest
from kbc.vault.page_words import probe_tokens
from kbc.vault.term_trie import term_ending

# The linker's own code is part of what a page was linked with.
CODE = code_digest(autolink, term_trie)


class LinkMemo:
    def __init__(self, db, lock, linker: MentionLinker):
        self.db, self.lock = db, lock
        with lock:  # plain tuples: 22,000 rows as dicts cost a third of a second
            self.bodies = dict(db.conn.execute("select page, body_hash from linked_pages").fetchall())
            row = db.conn.execute("select terms from link_terms where id = 1").fetchone()
        old = json.loads(row[0]) if row else {"pages": {}, "titles": []}
        self._saved = row[0] if row else None
        self.terms = {**linker.terms(), "code": CODE}
        if old.get("code") != CODE:
            self.bodies = {}  # no record of the terms or the code the pages were linked with: link all
        spellings = set()
        for key in old["pages"].keys() | self.terms["pages"].keys():
            before, now = old["pages"].get(key), self.terms["pages"].get(key)
            if before != now:
                spellings |= {pair[1] for pair in (before, now) if pair}
        titles = set(old["titles"]) ^ set(self.terms["titles"])
        alternatives = [term_pattern(spelled) for spelled in sorted(spellings, key=len, reverse=True)] + \
            [re.escape(t).replace(r"\ ", r"\s+") for t in sorted(titles)]
        self.probe = re.compile("(?:" + "|".join(alternatives) + ")", re.I) if alternatives else None
        # Per changed term or title, the words a page where it can be found holds (None: no such words).
        self.tokens = {probe_tokens(term_ending(spelled)[0], True) for spelled in spellings} | \
            {probe_tokens(title, False) for title in titles}
        self._done: dict[str, str] = {}

    def needed(self, page: str, digest: str, body: Callable[[], str], may_hold: bool = True) -> bool:
        """`digest`: the page's own body's digest as read (before any fix); `body` reads that
        body, only when a changed term must be looked for in it; `may_hold`: False when the
        page holds none of `tokens`' sets of words (page_words), so no changed term can be found there."""
        if self.bodies.get(page) != digest:
            return True
        return bool(may_hold and self.probe and self.probe.search(body()))

    def linked(self, page: str, body: str) -> None:
        digest = body_digest(body)
        if self.bodies.get(page) != digest:
            self._done[page] = digest

    def save(self, pages: set[str]) -> None:
        """`pages`: every page there is now (the others are forgotten)."""
        gone = [p for p in self.bodies if p not in pages]
        with self.lock, self.db.conn:
            if self._done:
                self.db["linked_pages"].upsert_all([{"page": p, "body_hash": h} for p, h in self._done.items()],
                                                   pk="page")
            for page in gone:
                self.db.execute("delete from linked_pages where page = ?", [page])
            terms = json.dumps(self.terms, sort_keys=True)
            if terms != self._saved:
                self.db["link_terms"].upsert({"id": 1, "terms": terms}, pk="id")
