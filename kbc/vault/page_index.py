"""The wiki's page index: each page's state, front matter, links and backlinks, remembered by
the file's inode, mtime and size, within a run and between runs (rows of the page_index table
in .kbc/kbc.db, m018). Whole-wiki work (the indexes, aliases, the link graph, backlinks, free
page names) reads it instead of every page: parsing 22,000 pages' front matter and links was
most of a run's refresh at 10,000 sources, for pages that had not changed.

A run loads only every page's stat and state (page_state asks nothing more); a record's front
matter and links are loaded when asked for, and only the rows of pages read again are written
back. A file changed since stats differently and is read again. One changed in the last
seconds (SETTLED_NS) is remembered with its content's hash, and trusted only while that hash
still matches (an edit within one clock tick keeps the mtime, and may keep the size): so a page
kbc has just written (`wrote`) is re-hashed by the next run, never re-parsed. Properties are
kept as JSON: a page whose properties JSON cannot hold exactly is read each time. A writer
never writes from the index: it reads the page itself, right before writing."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from kbc.vault.files import SETTLED_NS
from kbc.vault.frontmatter import body_of, copied, split
from kbc.vault.links import WIKILINK
from kbc.vault.page_text import BACKLINKS_END, BACKLINKS_START, own_body, state_of
from kbc.vault.page_words import LINKED_KINDS, words_of

_OLD_FILES = ("page_index.json", "page_states.json")  # where this index was kept before m018


@dataclass(frozen=True)
class PageRecord:
    """What the whole-wiki passes need of a page. An unreadable page (bad encoding, broken front
    matter) is `readable=False` with state 'edited': reported by lint, never rewritten."""
    state: str
    props: dict  # shared with the index: read it, never change it (read_with_body gives a copy)
    links: tuple[str, ...]  # the wikilinks of its own body (not its backlinks), as written
    backlinks: tuple[str, ...]  # the pages its backlinks section lists
    digest: str  # of its own body: what the link memo compares
    readable: bool = True

    @property
    def kind(self) -> str:
        return str(self.props.get("kind", ""))


def body_digest(body: str) -> str:
    """The body without its backlinks (set after linking, and never linked in)."""
    return hashlib.sha256(own_body(body).encode("utf-8")).hexdigest()[:16]


def record_of(props: dict, body: str) -> PageRecord:
    """The record of a page already read."""
    listed = _section(body)
    backlinks = tuple(m["target"].strip() for m in WIKILINK.finditer(listed)) if listed else ()
    return PageRecord(state_of(props, body), props, links_of(body), backlinks, body_digest(body))


def _section(body: str) -> str | None:
    """What the first backlinks section lists, between its markers (re.S START(.*?)END)."""
    start = body.find(BACKLINKS_START)
    end = body.find(BACKLINKS_END, start + len(BACKLINKS_START)) if start >= 0 else -1
    return body[start + len(BACKLINKS_START):end] if end >= 0 else None


def links_of(body: str) -> tuple[str, ...]:
    return tuple(m[0] for m in WIKILINK.finditer(own_body(body)))


_UNREADABLE = PageRecord("edited", {}, (), (), "", readable=False)
# What a run loads of every page: its stat, state, content hash and light properties.
_STAT = "path, ino, mtime_ns, size, hash, state, readable, digest, rev, light"
_COLUMNS = ("path", "ino", "mtime_ns", "size", "hash", "state", "readable", "digest", "rev", "light",
            "props", "links", "backlinks")
_WRITE = f"insert into page_index ({', '.join(_COLUMNS)}) values ({', '.join('?' * len(_COLUMNS))}) " \
         f"on conflict (path) do update set " + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
# The properties whole-wiki passes read of every page (indexes, aliases, terms, titles).
LIGHT = ("kind", "title", "aliases", "description", "question", "category")


@dataclass(frozen=True)
class PageSnap:
    """What a run knows of every page without loading its record."""
    state: str
    readable: bool
    digest: str  # of its own body
    rev: str  # of its whole text: any change to the file changes it
    light: dict  # its LIGHT properties


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


class _Index:
    """One vault's index in this process: every page's stat as the table holds it, the records
    loaded so far, and the rows to write back."""

    def __init__(self, vault):
        self.prefix = str(vault.root) + os.sep
        with vault.db_lock:
            rows = vault.db.conn.execute(f"select {_STAT} from page_index").fetchall()
        # key -> (ino, mtime, size, hash (of a racy entry), state, readable, digest, rev, light)
        self.stats: dict[str, tuple] = {row[0]: row[1:] for row in rows}
        self.records: dict[str, PageRecord] = {}
        self.dirty: dict[str, tuple] = {}
        self.words: dict[str, str] = {}  # key -> the words of a page whose text changed
        self.keys: dict[str, str] = {}  # path -> key: whole-wiki passes ask for every page's, often

    def key(self, path) -> str:
        """The path relative to the vault (so a vault moved or copied keeps its rows' names)."""
        text = os.fspath(path)
        if text not in self.keys:
            self.keys[text] = text[len(self.prefix):] if text.startswith(self.prefix) else text
        return self.keys[text]

    def known(self, vault, key: str, stat: os.stat_result, path) -> bool:
        """Does the index vouch for the file as it stats now? A racy entry only if the file's
        content still has its hash (then, settled by now, it is trusted by stat from here on)."""
        seen = self.stats.get(key)
        if seen is None or seen[0] != stat.st_ino or seen[1] != stat.st_mtime_ns or seen[2] != stat.st_size \
                or seen[7] is None:  # a row from before m020: read again, for its hash and words
            return False
        if not seen[3]:
            return True
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return False
        if _digest(data) != seen[3]:
            return False
        record = self.record(vault, key)
        if record is None:
            return False
        if time.time_ns() - stat.st_mtime_ns > SETTLED_NS:
            self._keep(key, stat, record, seen[7], racy=False)
        return True

    def record(self, vault, key: str) -> PageRecord | None:
        """The full record of a page whose stat the index vouches for (loaded once a run)."""
        if key not in self.records:
            with vault.db_lock:
                row = vault.db.conn.execute("select props, links, backlinks, digest from page_index where path = ?",
                                            [key]).fetchone()
            if row is None:
                return None
            self.records[key] = self._loaded(key, row)
        return self.records[key]

    def preload(self, vault, keys: list[str]) -> None:
        """Load the records of many pages with one query (refresh asks for every page's)."""
        wanted = {key for key in keys if key in self.stats and key not in self.records}
        if not wanted:
            return
        with vault.db_lock:
            if len(wanted) > 200:
                rows = vault.db.conn.execute("select path, props, links, backlinks, digest from page_index").fetchall()
            else:
                marks = ",".join("?" * len(wanted))
                rows = vault.db.conn.execute(f"select path, props, links, backlinks, digest from page_index "
                                             f"where path in ({marks})", list(wanted)).fetchall()
        for row in rows:
            if row[0] in wanted:
                self.records[row[0]] = self._loaded(row[0], row[1:])

    def _loaded(self, key: str, row: tuple) -> PageRecord:
        props, links, backlinks, digest = row
        state, readable = self.stats[key][4], self.stats[key][5]
        return PageRecord(state, json.loads(props), tuple(json.loads(links)), tuple(json.loads(backlinks)),
                          digest, bool(readable))

    def read(self, key: str, path) -> PageRecord | None:
        """Read and parse the page, and remember it (None: there is none)."""
        return self.read_kept(key, path)[0]

    def read_kept(self, key: str, path) -> tuple[PageRecord | None, bool]:
        """read(), and whether the index remembers what it read."""
        try:
            with open(path, "rb") as handle:
                stat, data = os.fstat(handle.fileno()), handle.read()
        except (FileNotFoundError, NotADirectoryError):
            return None, False
        except OSError:
            return _UNREADABLE, False
        body = ""
        try:
            props, body = split(data.decode("utf-8"))
            record = record_of(props, body)
        except Exception:  # unreadable or broken front matter: a person's to mend, never ours to rewrite
            record = _UNREADABLE
        return record, self.remember(key, stat, record, data, body)

    def remember(self, key: str, stat: os.stat_result, record: PageRecord, data: bytes, body: str) -> bool:
        try:
            props = json.loads(json.dumps(record.props))  # the index's own copy, as it will be read back
        except (TypeError, ValueError):
            return False
        if props != record.props:
            return False
        seen, rev = self.stats.get(key), _digest(data)
        if seen is None or seen[7] != rev:  # only pages the auto-linker links are looked through for words
            self.words[key] = words_of(body) if record.kind in LINKED_KINDS else ""
        racy = time.time_ns() - stat.st_mtime_ns <= SETTLED_NS
        self._keep(key, stat, replace(record, props=props), rev, racy)
        return True

    def _keep(self, key: str, stat: os.stat_result, record: PageRecord, rev: str, racy: bool) -> None:
        light = json.dumps({k: record.props[k] for k in LIGHT if k in record.props}, ensure_ascii=False)
        self.stats[key] = (stat.st_ino, stat.st_mtime_ns, stat.st_size, rev if racy else "", record.state,
                           record.readable, record.digest, rev, light)
        self.records[key] = record
        self.dirty[key] = (key, *self.stats[key], json.dumps(record.props, ensure_ascii=False),
                           json.dumps(record.links, ensure_ascii=False),
                           json.dumps(record.backlinks, ensure_ascii=False))


_INDEXES: dict[str, _Index] = {}
_LOCK = threading.Lock()


def _index(vault) -> _Index:
    folder = str(vault.state_dir)
    with _LOCK:
        if folder not in _INDEXES:
            _INDEXES[folder] = _Index(vault)
        return _INDEXES[folder]


def forget() -> None:
    """Drop what this process holds (as a new process would start): tests."""
    with _LOCK:
        _INDEXES.clear()


def page_record(vault, path: Path) -> PageRecord | None:
    """The page at `path` as it is now (None: there is none), read only if it changed since
    it was last read."""
    index = _index(vault)
    key = index.key(path)
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if index.known(vault, key, stat, path):
        record = index.record(vault, key)
        if record is not None:
            return record
    return index.read(key, path)


def page_state(vault, path: Path) -> str:
    """The page's state ('missing' when there is none), with no record loaded if the index
    vouches for it."""
    index = _index(vault)
    key = index.key(path)
    try:
        stat = os.stat(path)
    except OSError:
        return "missing"
    if index.known(vault, key, stat, path):
        return index.stats[key][4]
    record = index.read(key, path)
    return "missing" if record is None else record.state


def page_snaps(vault, paths: Iterable[str]) -> dict[str, PageSnap]:
    """path -> what the index knows of it, for the pages there are (read again only if
    changed): no record loaded, so a look at every page of the wiki costs a stat each."""
    index = _index(vault)
    found, kept = {}, []
    for path in paths:
        key = index.key(path)
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if not index.known(vault, key, stat, path):
            record, remembered = index.read_kept(key, path)
            if record is None:
                continue
            if not remembered:  # properties JSON cannot hold: no hash to compare, read each time
                found[path] = PageSnap(record.state, record.readable, record.digest, "",
                                       {k: record.props[k] for k in LIGHT if k in record.props})
                continue
        kept.append((path, index.stats[key]))
    lights = json.loads("[" + ",".join(seen[8] for _, seen in kept) + "]")  # one parse, not one a page
    for (path, seen), light in zip(kept, lights):
        found[path] = PageSnap(seen[4], bool(seen[5]), seen[6], seen[7], light)
    return found


def mtimes(vault, paths: Iterable[str]) -> dict[str, int]:
    """path -> its mtime as the index last saw it (stat'ed if it holds none)."""
    index = _index(vault)
    found = {}
    for path in paths:
        seen = index.stats.get(index.key(path))
        if seen is not None:
            found[path] = seen[1]
            continue
        try:
            found[path] = os.stat(path).st_mtime_ns
        except OSError:
            continue
    return found


def preload(vault, paths: Iterable[str]) -> None:
    """Load the records of these pages, where the index vouches for them, with one query."""
    index = _index(vault)
    index.preload(vault, [index.key(path) for path in paths])


def holding_words(vault, groups: set[tuple[str, ...]]) -> set[str]:
    """The paths of the pages with, for one of `groups`, a word beginning with each of its
    tokens, as page_words holds them; and of those whose words this run has not saved yet."""
    index = _index(vault)
    found = set(index.words)
    if groups:
        query = " OR ".join("(" + " AND ".join(f'"{token}"*' for token in group) + ")" for group in sorted(groups))
        with vault.db_lock:
            found |= {row[0] for row in vault.db.conn.execute(
                "select path from page_words where page_words match ?", [query])}
    return {key if os.path.isabs(key) else index.prefix + key for key in found}


def wrote(vault, path: Path, text: str, parsed: tuple[dict, str]) -> None:
    """kbc has just written `text` at `path`, which parses as `parsed` (properties, body):
    remember its record, so the next run hashes the page instead of parsing it (a compile
    writes most of the wiki once, then rereads it)."""
    index = _index(vault)
    try:
        stat = os.stat(path)
    except OSError:  # gone already: read it when asked
        return
    props, body = parsed
    index.remember(index.key(path), stat, record_of(props, body), text.encode("utf-8"), body)


def read_with_body(vault, path: Path) -> tuple[PageRecord, str] | None:
    """The page's record and body as they are now (None: there is none): its front matter is
    parsed only if the file changed since it was last read."""
    index = _index(vault)
    key = index.key(path)
    try:
        with open(path, "rb") as handle:
            before, data = os.fstat(handle.fileno()), handle.read()
        after = os.stat(path)
        text = data.decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return _UNREADABLE, ""
    same = (before.st_ino, before.st_mtime_ns, before.st_size) == (after.st_ino, after.st_mtime_ns, after.st_size)
    seen = index.stats.get(key)
    # The content read is what the index vouches for: same stat, and (racy) the same hash.
    if same and seen and seen[:3] == (after.st_ino, after.st_mtime_ns, after.st_size) and \
            (not seen[3] or seen[3] == _digest(data)):
        known = index.record(vault, key)
        if known is not None:
            return replace(known, props=copied(known.props)), body_of(text)
    try:
        props, body = split(text)
    except Exception:  # broken front matter: a person's to mend
        return _UNREADABLE, ""
    record = record_of(props, body)
    if same:
        index.remember(key, after, record, data, body)
    return record, body


def save_index(vault, present: Iterable | None = None) -> None:
    """Write the rows of the pages read again this run; with `present` (every page of the
    wiki now), forget the wiki's pages that are gone."""
    folder = str(vault.state_dir)
    if folder not in _INDEXES:
        return
    index = _INDEXES[folder]
    gone = []
    if present is not None:
        here = {index.key(path) for path in present}
        wiki = index.key(vault.wiki_dir) + os.sep
        gone = [key for key in index.stats if key.startswith(wiki) and key not in here]
    rows, index.dirty = list(index.dirty.values()), {}
    words, index.words = index.words, {}
    stale = [*words, *gone]
    with vault.db_lock, vault.db.conn:
        vault.db.conn.executemany(_WRITE, rows)
        vault.db.conn.executemany("delete from page_index where path = ?", [[key] for key in gone])
        for at in range(0, len(stale), 500):
            part = stale[at:at + 500]
            vault.db.conn.execute(f"delete from page_words where path in ({','.join('?' * len(part))})", part)
        vault.db.conn.executemany("insert into page_words (path, words) values (?, ?)", words.items())
    for key in gone:
        index.stats.pop(key, None)
        index.records.pop(key, None)
    for name in _OLD_FILES:
        (vault.state_dir / name).unlink(missing_ok=True)
