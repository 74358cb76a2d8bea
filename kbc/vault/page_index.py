"""The wiki's page index: each page's state, front matter, links and backlinks, remembered by
the file's inode, mtime and size, within a run and between runs (.kbc/page_index.json, saved
when the wiki is refreshed). Whole-wiki work (the indexes, aliases, the link graph, backlinks,
free page names) reads it instead of every page: parsing 22,000 pages' front matter and links
was most of a run's refresh at 10,000 sources, for pages that had not changed.

A file changed since stats differently and is read again; one changed in the last seconds is
never remembered (an edit within one clock tick keeps the mtime, and may keep the size).
Properties are kept as JSON: a page whose properties JSON cannot hold exactly is read each time.
A writer never writes from the index: it reads the page itself, right before writing."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

from kbc.vault.files import SETTLED_NS, atomic_write
from kbc.vault.frontmatter import body_of, copied, split
from kbc.vault.links import WIKILINK
from kbc.vault.page_text import BACKLINKS_END, BACKLINKS_START, own_body, state_of

INDEX_FILE = "page_index.json"
_BACKLINKS = re.compile(re.escape(BACKLINKS_START) + r"(.*?)" + re.escape(BACKLINKS_END), re.S)


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
    listed = _BACKLINKS.search(body)
    backlinks = tuple(m["target"].strip() for m in WIKILINK.finditer(listed[1])) if listed else ()
    return PageRecord(state_of(props, body), props, links_of(body), backlinks, body_digest(body))


def links_of(body: str) -> tuple[str, ...]:
    return tuple(m[0] for m in WIKILINK.finditer(own_body(body)))


_UNREADABLE = PageRecord("edited", {}, (), (), "", readable=False)

# vault state folder -> path -> [inode, mtime, size, state, props, links, backlinks, digest, readable];
# and the paths asked about this run (save keeps only those: a page gone is forgotten)
_MEMO: dict[str, dict[str, list]] = {}
_ASKED: dict[str, set[str]] = {}


def _memo(vault) -> dict[str, list]:
    folder = str(vault.state_dir)
    if folder not in _MEMO:
        try:
            data = json.loads((vault.state_dir / INDEX_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        _MEMO[folder] = data if isinstance(data, dict) else {}
        _ASKED[folder] = set()
    return _MEMO[folder]


def _known(vault, key: str, stat: os.stat_result) -> PageRecord | None:
    seen = _memo(vault).get(key)
    if not isinstance(seen, list) or len(seen) != 9 or seen[:3] != [stat.st_ino, stat.st_mtime_ns, stat.st_size]:
        return None
    state, props, links, backlinks, digest, readable = seen[3:]
    return PageRecord(state, props, tuple(links), tuple(backlinks), digest, readable)


def _remember(vault, key: str, stat: os.stat_result, record: PageRecord) -> None:
    if time.time_ns() - stat.st_mtime_ns <= SETTLED_NS:
        return
    try:
        props = json.loads(json.dumps(record.props))  # the index's own copy, as it will be read back
    except (TypeError, ValueError):
        return
    if props == record.props:
        _memo(vault)[key] = [stat.st_ino, stat.st_mtime_ns, stat.st_size, record.state, props,
                             list(record.links), list(record.backlinks), record.digest, record.readable]


def page_record(vault, path: Path) -> PageRecord | None:
    """The page at `path` as it is now (None: there is none), read only if it changed since
    it was last read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    key = str(path)
    _memo(vault)
    _ASKED[str(vault.state_dir)].add(key)
    known = _known(vault, key, stat)
    if known is not None:
        return known
    try:
        record = record_of(*split(Path(path).read_text(encoding="utf-8")))
    except Exception:  # unreadable or broken front matter: a person's to mend, never ours to rewrite
        record = _UNREADABLE
    _remember(vault, key, stat, record)
    return record


def read_with_body(vault, path: Path) -> tuple[PageRecord, str] | None:
    """The page's record and body as they are now (None: there is none): its front matter is
    parsed only if the file changed since it was last read."""
    try:
        before = os.stat(path)
        text = Path(path).read_text(encoding="utf-8")
        after = os.stat(path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return _UNREADABLE, ""
    key = str(path)
    _memo(vault)
    _ASKED[str(vault.state_dir)].add(key)
    same = [before.st_ino, before.st_mtime_ns, before.st_size] == [after.st_ino, after.st_mtime_ns, after.st_size]
    known = _known(vault, key, after) if same else None
    if known is not None:
        return replace(known, props=copied(known.props)), body_of(text)
    try:
        props, body = split(text)
    except Exception:  # broken front matter: a person's to mend
        return _UNREADABLE, ""
    record = record_of(props, body)
    if same:
        _remember(vault, key, after, record)
    return record, body


def save_index(vault) -> None:
    """The records of the pages asked about this run (those of pages gone are dropped)."""
    folder = str(vault.state_dir)
    if folder not in _MEMO:
        return
    asked = _ASKED[folder]
    kept = {path: seen for path, seen in _MEMO[folder].items() if path in asked}
    vault.state_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(vault.state_dir / INDEX_FILE, json.dumps(kept, ensure_ascii=False))
    (vault.state_dir / "page_states.json").unlink(missing_ok=True)  # this index's predecessor
    _ASKED[folder] = set()
