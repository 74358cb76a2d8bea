"""The search index's words as written (the index itself holds stems) and how often each occurs,
kept in step with the chunks in search_words: typo correction reads them instead of lowering and
splitting every chunk's text (2.8 s a query at 10,000 sources). A scope is counted in full once,
from its chunks, then only the chunks added and dropped are."""
from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)


def chunk_words(title: str, aliases: str, heading: str, body: str) -> list[str]:
    return _WORD.findall(f"{title} {aliases} {heading} {body}".lower())


def is_counted(db, scope: str) -> bool:
    return bool(db.execute("select 1 from search_words_counted where scope = ?", [scope]).fetchone())


def words_of(db, paths: list[str]) -> Counter:
    """The words of the chunks of these files, counted (before they are dropped)."""
    counts: Counter = Counter()
    for start in range(0, len(paths), 500):
        batch = paths[start:start + 500]
        marks = ",".join("?" * len(batch))
        for row in db.execute(f"select title, aliases, heading, body from chunks where path in ({marks})", batch):
            counts.update(chunk_words(*row))
    return counts


def add_words(db, scope: str, delta: Counter) -> None:
    """Add `delta` (negative for chunks dropped) to the scope's counts; a word no chunk has any
    more is forgotten."""
    db.conn.executemany("insert into search_words (scope, word, n) values (?, ?, ?) "
                        "on conflict (scope, word) do update set n = n + excluded.n",
                        [(scope, word, n) for word, n in delta.items() if n])
    db.conn.executemany("delete from search_words where scope = ? and word = ? and n <= 0",
                        [(scope, word) for word, n in delta.items() if n < 0])


def count_all(db, scope: str) -> None:
    counts: Counter = Counter()
    for row in db.execute("select title, aliases, heading, body from chunks where scope = ?", [scope]):
        counts.update(chunk_words(*row))
    db.execute("delete from search_words where scope = ?", [scope])
    add_words(db, scope, counts)
    db.execute("insert or replace into search_words_counted (scope) values (?)", [scope])


def forget_scope(db, scope: str) -> None:
    db.execute("delete from search_words where scope = ?", [scope])
    db.execute("delete from search_words_counted where scope = ?", [scope])


def forget_all(db) -> None:
    db.execute("delete from search_words")
    db.execute("delete from search_words_counted")


def word_counts(db, scope: str) -> Counter:
    return Counter(dict(db.execute("select word, n from search_words where scope = ?", [scope]).fetchall()))
