"""The wiki's link graph as refresh_wiki last left it (tables wiki_links and wiki_resolver, m020),
so a run works out again only the links of the pages that changed or whose links may now
point elsewhere, and updates the backlinks of the pages those reach: at 10,000 sources
recomputing 400,000 links each run was most of a refresh that changed a few pages.

Per page key: the content hash (page_index rev) of the page as refresh last saw it, its name
then, the keys of the pages it linked to (`to`), whether one of its links was resolved by
anything but a page's name or alias (`loose`: a fuzzy match, or no page), and the names of
the pages linking to it (`inb`, for any key a link reaches, raw notes too). And the names and
aliases links were resolved by: a link can resolve differently only where those changed."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from kbc.vault.links import link_key


@dataclass
class Linked:
    """One page key's row."""
    seen: str | None = None  # None: no page refresh saw has this key (it is only linked to)
    name: str = ""
    to: list[str] = field(default_factory=list)
    inb: set[str] = field(default_factory=set)
    loose: bool = False


class WikiLinks:
    def __init__(self, vault):
        self.vault = vault
        with vault.db_lock:
            rows = vault.db.conn.execute("select key, seen, loose from wiki_links where seen is not null").fetchall()
            saved = vault.db.conn.execute("select names, aliases from wiki_resolver where id = 1").fetchone()
        self.seen = {key: seen for key, seen, _ in rows}  # page key -> rev refresh last saw
        self.loose = {key for key, _, loose in rows if loose}
        self.names, self.aliases = (json.loads(saved[0]), json.loads(saved[1])) if saved else ({}, {})
        self.rows: dict[str, Linked] = {}
        self.touched: set[str] = set()

    def moved(self, pages: dict[str, str], aliases: dict[str, str]) -> set[str]:
        """The link keys that resolve by name or alias to another page than at the last refresh
        (`pages`, `aliases`: the resolver's key -> name maps now)."""
        keys = {k for k, _ in (self.names.items() ^ pages.items())} | {k for k, _ in (self.aliases.items() ^ aliases.items())}

        def exact(names: dict, also: dict, key: str):
            return names[key] if key in names else also.get(key)
        return {k for k in keys if exact(self.names, self.aliases, k) != exact(pages, aliases, k)}

    def reaching(self, moved: set[str]) -> set[str]:
        """The keys of the pages whose links may have resolved by one of `moved` (those linking
        to the page it resolved to then, and that page itself)."""
        before = {link_key(self.names[k] if k in self.names else self.aliases[k])
                  for k in moved if k in self.names or k in self.aliases}
        self.load(before)
        return before | {link_key(name) for key in before for name in self.rows[key].inb}

    def load(self, keys) -> None:
        wanted = [key for key in keys if key not in self.rows]
        if len(wanted) > 2000:  # most of the wiki (a first refresh): one query
            with self.vault.db_lock:
                parts = [self.vault.db.conn.execute("select key, seen, out, inb, loose from wiki_links").fetchall()]
        else:
            parts = []
            for at in range(0, len(wanted), 500):
                part = wanted[at:at + 500]
                with self.vault.db_lock:
                    parts.append(self.vault.db.conn.execute(
                        f"select key, seen, out, inb, loose from wiki_links where key in ({','.join('?' * len(part))})",
                        part).fetchall())
        for key, seen, out, inb, loose in (row for found in parts for row in found):
            if key in self.rows:
                continue
            linked = json.loads(out) if out else {}
            self.rows[key] = Linked(seen, linked.get("name", ""), linked.get("to", []), set(json.loads(inb or "[]")),
                                    bool(loose))
        for key in wanted:
            self.rows.setdefault(key, Linked())

    def relink(self, key: str, name: str, to: list[str], loose: bool) -> None:
        """The page at `key` (named `name`) links to `to` now: the pages it reaches are updated."""
        self.load([key])
        row = self.rows[key]
        before = set(row.to) if row.seen is not None else set()
        self.load(before | set(to))
        if row.seen is not None and row.name != name:  # renamed (in case only): linked again under its new name
            self._unlink(row.name, before)
            before = set()
        self._unlink(name, before - set(to))
        for target in set(to) - before:
            self.rows[target].inb.add(name)
            self.touched.add(target)
        row.name, row.to, row.loose = name, sorted(set(to)), loose
        self.touched.add(key)

    def drop(self, key: str) -> None:
        """The page at `key` is gone (or cannot be read): what it linked to no longer counts."""
        self.load([key])
        row = self.rows[key]
        if row.seen is not None:
            self.load(row.to)
            self._unlink(row.name, set(row.to))
        row.seen, row.name, row.to, row.loose = None, "", [], False
        self.touched.add(key)

    def _unlink(self, name: str, targets: set[str]) -> None:
        for target in targets:
            self.rows[target].inb.discard(name)
            self.touched.add(target)

    def inbound(self, key: str) -> set[str]:
        self.load([key])
        return self.rows[key].inb

    def saw(self, key: str, rev: str) -> None:
        self.load([key])
        self.rows[key].seen = rev
        self.touched.add(key)

    def save(self, pages: dict[str, str], aliases: dict[str, str]) -> None:
        keep, gone = [], []
        for key in self.touched:
            row = self.rows[key]
            if row.seen is None and not row.inb:
                gone.append([key])
            else:
                out = json.dumps({"name": row.name, "to": row.to}, ensure_ascii=False) if row.seen is not None else None
                inb = json.dumps(sorted(row.inb, key=str.casefold), ensure_ascii=False)  # as kbc serve lists them
                keep.append((key, row.seen, out, inb, int(row.loose)))
        with self.vault.db_lock, self.vault.db.conn:
            self.vault.db.conn.executemany("insert or replace into wiki_links (key, seen, out, inb, loose) "
                                           "values (?, ?, ?, ?, ?)", keep)
            self.vault.db.conn.executemany("delete from wiki_links where key = ?", gone)
            self.vault.db.conn.execute("insert or replace into wiki_resolver (id, names, aliases) values (1, ?, ?)",
                                       [json.dumps(pages, ensure_ascii=False), json.dumps(aliases, ensure_ascii=False)])
        self.touched = set()


def saved_inbound(vault) -> dict[str, list[str]]:
    """Page key -> the pages linking to it, sorted case-insensitively (as saved), as refresh last
    left them."""
    with vault.db_lock:
        rows = vault.db.conn.execute("select key, inb from wiki_links where inb != '[]'").fetchall()
    lists = json.loads("[" + ",".join(inb for _, inb in rows) + "]")  # one parse, not one a row
    return {key: names for (key, _), names in zip(rows, lists)}
