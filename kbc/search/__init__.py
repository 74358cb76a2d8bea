"""Full-text search over the wiki (and raw notes): SQLite FTS5, BM25 over heading-sized chunks,
titles and aliases weighted up, typo tolerance from the index's own vocabulary."""
from __future__ import annotations

import os
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from kbc.search.chunks import CODE, chunks_of, page_source, source_digest
from kbc.search.vocabulary import (add_words, chunk_words, count_all, forget_all, forget_scope, is_counted,
                                   word_counts, words_of)
from kbc.vault import ATTACHMENTS, Vault
from kbc.vault.bookkeeping import is_navigation
from kbc.vault.files import inside
from kbc.vault.lock import writer_elsewhere

_WORD = re.compile(r"\w+", re.UNICODE)
_LONG_CHUNK = 20_000  # characters
_LOOKED_AT = 2000  # chunks with a word's stem read for the word itself, at most, before the vocabulary


@dataclass
class Hit:
    path: str
    page: str
    heading: str
    score: float
    snippet: str
    rowid: int = 0  # the best chunk of the page, for reading just that section

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "rowid"}


def _files(vault: Vault, scope: str) -> dict[str, os.stat_result]:
    """Markdown files of a scope with their stat, by path relative to the vault. Runs before
    every query, so it walks with os.scandir and no path resolution. The wiki's navigation
    (indexes, the log) is left out: lists of every page's name match every query, and at
    10,000 sources re-indexing the parts a run touched cost seconds."""
    folder = vault.wiki_dir if scope == "wiki" else vault.raw_dir
    prefix = "wiki" if scope == "wiki" else "raw"
    found = {}
    pending = [(str(folder), prefix)]
    while pending:
        directory, rel = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not (entry.name.endswith(".md") and inside(entry.path, vault.root)):
                continue  # a linked folder (maybe a loop) or a page linked to outside the vault
            if entry.is_dir():
                if not (scope == "raw" and rel == "raw" and entry.name == ATTACHMENTS):
                    pending.append((entry.path, f"{rel}/{entry.name}"))
            elif entry.name.endswith(".md") and not (scope == "wiki" and is_navigation(entry.name[:-3])):
                found[f"{rel}/{entry.name}"] = entry.stat()
    return found


def refresh_index(vault: Vault, scopes: tuple[str, ...] = ("wiki",)) -> int:
    """Bring the index in line with the files (edits made in Obsidian included). Returns the
    number of files (re)indexed or dropped. While another process holds the vault lock
    (a compile writing), nothing is written: a reader's write in the middle of the writer's
    transactions could fail them, so search reads the index as it is until the writer ends."""
    if writer_elsewhere(vault.state_dir):
        return 0
    db = vault.db
    changed = 0
    with vault.db_lock, db.conn:
        for scope in scopes:
            files = _files(vault, scope)
            _same_code(db, scope)
            known = {row["path"]: row for row in db.query(
                "select * from indexed_files where scope = ?", [scope])}
            gone = sorted(set(known) - set(files))
            stale = [rel for rel, stat in files.items() if not (
                rel in known and known[rel]["mtime_ns"] == stat.st_mtime_ns and known[rel]["size"] == stat.st_size)]
            # A page whose chunks would be the same (most a compile rewrites changed only their
            # backlinks) keeps them: only its stat is noted.
            sources = {rel: _source(vault, rel) for rel in stale if rel in known and known[rel]["digest"]}
            same = {rel for rel, source in sources.items() if source_digest(source) == known[rel]["digest"]}
            for rel in same:
                db.execute("update indexed_files set mtime_ns = ?, size = ? where path = ?",
                           [files[rel].st_mtime_ns, files[rel].st_size, rel])
            stale = [rel for rel in stale if rel not in same]
            # `path` is an unindexed FTS column: each delete scans every chunk, so delete
            # all of a run's pages in a few statements, not one scan per page.
            dropped = gone + stale
            counted = is_counted(db, scope)
            words: Counter = Counter()  # this refresh's change to the scope's word counts
            if counted and dropped:
                words.subtract(words_of(db, dropped))
            for start in range(0, len(dropped), 500):
                batch = dropped[start:start + 500]
                marks = ",".join("?" * len(batch))
                db.execute(f"delete from chunks where path in ({marks})", batch)
            for rel in gone:
                db.execute("delete from indexed_files where path = ?", [rel])
                changed += 1
            for rel in stale:
                stat, source = files[rel], sources.pop(rel, None) or _source(vault, rel)
                title, aliases, chunks = chunks_of(*source)
                if counted:
                    for heading, text in chunks:
                        words.update(chunk_words(title, aliases, heading, text))
                db.conn.executemany(
                    "insert into chunks (title, aliases, heading, body, path, scope) values (?,?,?,?,?,?)",
                    [(title, aliases, heading, text, rel, scope) for heading, text in chunks])
                db.execute("insert or replace into indexed_files (path, scope, mtime_ns, size, digest) "
                           "values (?,?,?,?,?)", [rel, scope, stat.st_mtime_ns, stat.st_size, source_digest(source)])
                changed += 1
            if counted:
                add_words(db, scope, words)
            else:
                count_all(db, scope)
    return changed


def _same_code(db, scope: str) -> None:
    """An index of the scope made by other chunking code is forgotten: every file is indexed
    again (a code change is never half applied, to the pages that changed since)."""
    row = db.execute("select code from search_code where scope = ?", [scope]).fetchone()
    if row is not None and row[0] == CODE:
        return
    db.execute("delete from chunks where scope = ?", [scope])  # one scan of the chunks
    db.execute("delete from indexed_files where scope = ?", [scope])
    forget_scope(db, scope)
    db.execute("insert or replace into search_code (scope, code) values (?, ?)", [scope, CODE])


def _source(vault: Vault, rel: str) -> tuple[str, str, str]:
    return page_source((vault.root / rel).read_text(encoding="utf-8", errors="replace"), Path(rel).stem)


def reindex(vault: Vault, scopes: tuple[str, ...] = ("wiki", "raw")) -> int:
    with vault.db_lock, vault.db.conn:
        vault.db.execute("delete from chunks")
        vault.db.execute("delete from indexed_files")
        forget_all(vault.db)
    return refresh_index(vault, scopes)


class Searcher:
    """Holds the vocabulary and titles between queries; refreshes when files change."""

    def __init__(self, vault: Vault, scope: str = "wiki"):
        self.vault, self.scope = vault, scope
        self._vocab: set[str] | None = None  # read when first needed
        self._spellings: list[str] = []  # the vocabulary, commonest first: what a typo is corrected to
        self._known: dict[str, bool] = {}  # word -> a chunk has it as written (_written)
        self._titles: dict[str, str] | None = None
        self._lowered: list[str] = []  # the titles lowered, in their order

    def _load(self) -> None:
        if refresh_index(self.vault, (self.scope,)) or self._titles is None:
            rows = self.vault.db.execute("select title, path from chunks where scope = ?", [self.scope])
            self._titles = {title: path for title, path in rows}
            self._lowered = [title.lower() for title in self._titles]
            self._vocab, self._spellings, self._known = None, [], {}

    def _vocabulary(self) -> set[str]:
        """The words as written (the index itself holds stems), for correcting typos: read
        only when a query has a word the index may lack."""
        if self._vocab is None:
            counts = word_counts(self.vault.db, self.scope)
            self._vocab = set(counts)
            self._spellings = sorted(counts, key=lambda w: (-counts[w], w))
        return self._vocab

    def _written(self, word: str) -> bool:
        """Whether a chunk has `word` as written: looked for among the chunks FTS finds for its
        stem (a superset), so the whole vocabulary is read only for a word no chunk has."""
        if word not in self._known:
            found = False
            pattern = re.compile(rf"(?<!\w){re.escape(word)}(?!\w)")
            try:
                # Long chunks (a log page) cost more to lower and scan than they are worth here.
                rows = self.vault.db.execute("select title, aliases, heading, body from chunks "
                                             "where chunks match ? and scope = ? and length(body) < ? limit ?",
                                             [f'"{word}"', self.scope, _LONG_CHUNK, _LOOKED_AT])
                found = any(pattern.search(f"{title} {aliases} {heading} {body}".lower())
                            for title, aliases, heading, body in rows)
            except sqlite3.OperationalError:  # not a term FTS can look up: the vocabulary decides
                pass
            self._known[word] = found
        return self._known[word]

    def _terms(self, query: str) -> list[str]:
        terms = []
        for word in _WORD.findall(query.lower()):
            if len(word) < 5 or self._written(word):
                terms.append(word)
                continue
            vocab = self._vocabulary()
            if word in vocab or not vocab:
                terms.append(word)
                continue
            # A typo is an edit or a swap or two away (more in a long word); a real word the wiki
            # lacks ('define', 'depart') is left alone rather than turned into 'fine' or 'part'.
            edits = 1 if len(word) < 10 else 2
            best = process.extractOne(word, self._spellings, scorer=OSA.distance, score_cutoff=edits)
            terms.append(best[0] if best else word)
        return terms

    def search(self, query: str, limit: int = 10, marks: tuple[str, str] = ("**", "**")) -> list[Hit]:
        self._load()
        terms = self._terms(query)
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in terms)
        db = self.vault.db
        # `rank` is bm25 with the column weights (set in the schema); FTS5 orders by it fast.
        rows = db.execute("select rowid, path, heading, rank from chunks where chunks match ? "
                          "and scope = ? order by rank limit ?", [match, self.scope, limit * 4]).fetchall()
        best: dict[str, Hit] = {}
        rowids: dict[str, int] = {}
        for rowid, path, heading, rank in rows:
            if path not in best:
                best[path] = Hit(path, Path(path).stem, heading, round(-rank, 4), "", rowid)
                rowids[path] = rowid
        # A title close to the whole query (typos included) ranks first.
        titles, lowered = list(self._titles), self._lowered
        close = process.extract(query.lower(), lowered, scorer=fuzz.WRatio, score_cutoff=88, limit=None)
        for _, closeness, at in sorted(close, key=lambda found: found[2]):  # in the titles' order
            title = titles[at]
            path = self._titles[title]
            hit = best.get(path) or Hit(path, Path(path).stem, "", 0.0, title)
            hit.score += closeness / 10
            best[path] = hit
        # Ties broken by path: the same wiki gives the same order, so prompts built from
        # search results stay byte-identical (and cached).
        hits = sorted(best.values(), key=lambda h: (-h.score, h.path))[:limit]
        for hit in hits:  # snippets only for what is shown
            if hit.path in rowids:
                row = db.execute(
                    "select snippet(chunks, 3, ?, ?, '…', 16) from chunks where chunks match ? and rowid = ?",
                    [marks[0], marks[1], match, rowids[hit.path]]).fetchone()
                hit.snippet = row[0] if row else ""  # the page was reindexed meanwhile (a compile runs)
        return hits

    def section(self, hit: Hit) -> str:
        """The text of the chunk (heading-sized section) a hit matched in."""
        if not hit.rowid:
            return ""
        row = self.vault.db.execute("select heading, body from chunks where rowid = ?", [hit.rowid]).fetchone()
        return (f"## {row[0]}\n\n" if row and row[0] else "") + (row[1] if row else "")
