"""`kbc doctor`: is the vault's database sound, and rebuilding it when it is not.

The wiki and raw/ are the truth; .kbc/kbc.db holds what can be remade from them (the page
registry, the search index) and what cannot (the response cache, the token ledger, compile's
stored extractions). A rebuild keeps the damaged file aside, starts a fresh database, copies
every row still readable from the old one, and re-registers the pages from their front matter.
"""
from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from kbc.vault import Vault
from kbc.vault.files import walk_files
from kbc.vault.frontmatter import FrontMatterError, split

DB_NAME = "kbc.db"
# Remade from the files (by the search stage; by compile: the page index, the words of pages,
# the link graph refresh keeps, the notes as scanned); never copied from a damaged database.
REMADE = {"chunks", "indexed_files", "_migrations", "page_index", "page_words", "wiki_links", "wiki_resolver",
          "source_scan"}
# Whose loss costs tokens or history, so worth a row-by-row salvage.
PRECIOUS = ("responses", "requests")


def damaged_line(db_path: Path, reason: str) -> str:
    return (f"{db_path}: the database is damaged ({reason}); run `kbc doctor --rebuild` to rebuild it "
            "from wiki/ and raw/ (your notes and pages are not affected)")


def check_database(db_path: Path) -> str:
    """'' if the database opens and passes SQLite's quick check, else what is wrong."""
    if not db_path.exists():
        return ""
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [row[0] for row in rows if row[0] != "ok"]
    return "; ".join(problems[:3])


@dataclass
class RebuildReport:
    kept_aside: str = ""
    salvaged: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)  # tables nothing could be read from
    pages: int = 0

    def lines(self) -> list[str]:
        out = []
        if self.kept_aside:
            out.append(f"the damaged database is kept as {self.kept_aside}")
        for table, count in sorted(self.salvaged.items()):
            out.append(f"salvaged {count:,} rows of {table}")
        out.append(f"re-registered {self.pages:,} pages from wiki/")
        if "responses" in self.lost:
            out.append("not recoverable: the response cache (the next compile asks the model again "
                       "for what it had answered)")
        if "requests" in self.lost:
            out.append("not recoverable: the token ledger (`kbc stats` starts again from zero)")
        other = [t for t in self.lost if t not in PRECIOUS and t != "pages"]
        if other:
            out.append("not recoverable: " + ", ".join(other) + " (remade by the next compile)")
        return out

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def rebuild(vault: Vault) -> RebuildReport:
    """A fresh database from what survives. The caller holds the vault lock and then
    rebuilds the search index (search is a stage; the vault knows none)."""
    report = RebuildReport()
    db_path = vault.state_dir / DB_NAME
    aside = None
    if db_path.exists():
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = vault.state_dir / f"damaged-{stamp}"
        aside.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            part = db_path.with_name(DB_NAME + suffix)
            if part.exists():
                part.rename(aside / part.name)
        report.kept_aside = str(aside.relative_to(vault.root))
    vault.__dict__.pop("db", None)  # the cached connection points at the old file
    db = vault.db
    if aside is not None:
        _salvage(aside / DB_NAME, db, report)
    else:
        report.lost += list(PRECIOUS)
    report.pages = _register_pages(vault)
    return report


def _salvage(old_path: Path, db, report: RebuildReport) -> None:
    tables = [name for name in db.table_names() if name not in REMADE and not name.startswith(("chunks", "page_words"))]
    try:
        old = sqlite3.connect(f"file:{old_path}?mode=ro", uri=True)
        old.row_factory = sqlite3.Row
    except sqlite3.DatabaseError:
        report.lost += tables
        return
    try:
        for table in tables:
            rows = _readable_rows(old, table)
            if not rows:
                report.lost.append(table)
                continue
            columns = set(db[table].columns_dict)
            clean = [{k: row[k] for k in row.keys() if k in columns} for row in rows]
            with db.conn:
                db[table].insert_all(clean, ignore=True)
            report.salvaged[table] = len(clean)
    finally:
        old.close()


def _readable_rows(old: sqlite3.Connection, table: str) -> list[sqlite3.Row]:
    """Every row SQLite can still read: all at once, else in rowid steps past bad pages."""
    try:
        return old.execute(f'select * from "{table}"').fetchall()
    except sqlite3.DatabaseError:
        pass
    rows, last, misses = [], -1, 0
    while misses < 50:
        try:
            batch = old.execute(f'select rowid as _rowid_, * from "{table}" where rowid > ? '
                                "order by rowid limit 100", [last]).fetchall()
        except sqlite3.DatabaseError:
            last += 100  # skip past the damaged stretch
            misses += 1
            continue
        if not batch:
            break
        rows += batch
        last = batch[-1]["_rowid_"]
    return rows


def _register_pages(vault: Vault) -> int:
    """The page registry from the pages themselves: kind, prompt version and model."""
    rows = []
    for path in walk_files(vault.wiki_dir, within=vault.root, suffix=".md") if vault.wiki_dir.is_dir() else []:
        try:
            props, _ = split(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, FrontMatterError):
            continue
        if "kbc_hash" not in props:
            continue
        rows.append({"path": vault.rel(path), "kind": str(props.get("kind") or "page"),
                     "prompt_version": str(props.get("kbc_prompt") or ""),
                     "model": str(props.get("kbc_model") or ""),
                     "written_at": str(props.get("updated") or "")})
    with vault.db_lock, vault.db.conn:
        vault.db["pages"].upsert_all(rows, pk="path")
    return len(rows)
