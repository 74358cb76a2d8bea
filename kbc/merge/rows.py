"""The other vault's database rows, table by table where the schemas match: its extractions,
decisions and cached answers come over so that nothing it paid for is asked again.

Generic on purpose (the compiler's columns change): a row is judged by the values it holds.
- A row naming one of the other vault's raw notes (a value equal to its path, or starting with
  'path::') follows that note: skipped when the note is already here (this vault's own state
  for it stands), its path rewritten when the note comes over renamed.
- A row naming a wiki page that does not come over is skipped; one naming a page or holding a
  note's hash that changes on the way (a renamed note's summary) has the value here.
- Otherwise: a row whose key this vault has already is skipped (ours stands); rows of tables
  keyed by a plain row id are added unless an identical row is here (so a rerun adds nothing).
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

# What the other vault paid for: its extractions (sources, members, claims), consolidation
# (decisions, claim judgements, concepts), pages written and cached answers. Nothing else comes over: its ledger
# (what it spent is not spent here), sessions, runs, lint state, search index and what its
# whole-wiki work was last built from (mentions searched in its sources, pages as linked),
# which holds for that vault's sources only. A table a migration adds stays out until it is
# listed here: at worst this vault recomputes it, never takes another vault's state as its own.
IMPORT_TABLES = {"sources", "members", "claims", "decisions", "claim_judgements", "concepts", "pages", "responses"}
# Marks of work done against the rest of the other vault: reset, so this vault's compile does
# it again against everything here (concepts meeting across the two vaults get consolidated).
RESET_ON_IMPORT = {("members", "considered"): 0}
# Orders of arrival: the other vault's rows arrive after this vault's.
SHIFT_ON_IMPORT = {("members", "seq")}


@dataclass
class TableImport:
    table: str
    added: int = 0
    already: int = 0  # the same key or row is here
    skipped: int = 0  # follows a note or page that does not come over
    kept_keys: list[str] = field(default_factory=list)  # keys both vaults have (ours kept)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "kept_keys"} | {"both": len(self.kept_keys)}


def open_readonly(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _tables(conn) -> dict[str, list[str]]:
    rows = conn.execute("select name, sql from sqlite_master where type = 'table'").fetchall()
    virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
    out = {}
    for name, _ in rows:
        if name.startswith("sqlite_") or name in virtual or any(name.startswith(v + "_") for v in virtual):
            continue
        out[name] = [c[1] for c in conn.execute(f'pragma table_info("{name}")')]
    return out


def _primary_key(conn, table: str) -> tuple[list[str], bool]:
    """The key columns, and whether the key is SQLite's row id (an integer primary key)."""
    info = [c for c in conn.execute(f'pragma table_info("{table}")').fetchall() if c[5]]
    key = [c[1] for c in sorted(info, key=lambda c: c[5])]
    return key, not key or (len(info) == 1 and info[0][2].upper() == "INTEGER")


class RowImporter:
    def __init__(self, ours: sqlite3.Connection, theirs: sqlite3.Connection, paths: dict[str, str | None],
                 withheld_pages: set[str], values: dict[str, str] | None = None):
        """paths: the other vault's raw paths -> the path here (None: the note is already here);
        values: other values that change on the way -> their value here."""
        self.ours, self.theirs = ours, theirs
        self.paths, self.withheld_pages, self.values = paths, withheld_pages, values or {}
        self.withheld_values: set[str] = set()  # values of rows left out: their pages stay out too
        self.added_values: set[str] = set()  # values of rows brought in (to see what they touch)

    def _refers(self, value) -> str | None:
        if not isinstance(value, str) or not value.startswith("raw/"):
            return None
        path = value.split("::", 1)[0]
        return path if path in self.paths else None

    def _translate(self, row: dict) -> dict | None:
        """The row with its raw paths rewritten, or None if it stays out."""
        out = {}
        for column, value in row.items():
            path = self._refers(value)
            if path is not None:
                if self.paths[path] is None:
                    return None
                value = self.paths[path] + value[len(path):]
            elif isinstance(value, str) and value in self.values:
                value = self.values[value]
            elif isinstance(value, str) and value in self.withheld_pages:
                return None
            out[column] = value
        return out

    def _withhold(self, table: str, values) -> None:
        if table != "responses":  # the cache names no page
            self.withheld_values |= {v for v in values if isinstance(v, str) and len(v) < 300}

    def plan(self, dry_run: bool) -> list[TableImport]:
        ours_tables, theirs_tables = _tables(self.ours), _tables(self.theirs)
        results = []
        for table in sorted(set(ours_tables) & set(theirs_tables) & IMPORT_TABLES):
            columns = [c for c in theirs_tables[table] if c in ours_tables[table]]
            key, rowid_key = _primary_key(self.ours, table)
            results.append(self._table(table, columns, key, rowid_key, dry_run))
        return results

    def _table(self, table: str, columns: list[str], key: list[str], rowid_key: bool,
               dry_run: bool) -> TableImport:
        report = TableImport(table)
        quoted = ", ".join(f'"{c}"' for c in columns)
        shift = {c: self.ours.execute(f'select coalesce(max("{c}"), 0) from "{table}"').fetchone()[0]
                 for (tab, c) in SHIFT_ON_IMPORT if tab == table and c in columns}
        content = [c for c in columns if c not in key] if rowid_key else columns
        existing_rows = set()
        if rowid_key:
            content_sql = ", ".join(f'"{c}"' for c in content)
            existing_rows = {tuple(r) for r in self.ours.execute(f'select {content_sql} from "{table}"')}
        for raw in self.theirs.execute(f'select {quoted} from "{table}"'):
            row = self._translate(dict(raw))
            if row is None:
                report.skipped += 1
                self._withhold(table, dict(raw).values())
                continue
            for (tab, column), value in RESET_ON_IMPORT.items():
                if tab == table and column in row:
                    row[column] = value
            for column, offset in shift.items():
                if isinstance(row[column], int):
                    row[column] += offset
            if rowid_key:
                values = tuple(row[c] for c in content)
                if values in existing_rows:
                    report.already += 1
                    continue
                existing_rows.add(values)
                names = content
            else:
                where = " and ".join(f'"{c}" = ?' for c in key)
                if key and self.ours.execute(f'select 1 from "{table}" where {where}',
                                             [row[c] for c in key]).fetchone():
                    report.already += 1
                    report.kept_keys.append("|".join(str(row[c]) for c in key))
                    self._withhold(table, [v for c, v in dict(raw).items() if c not in key])
                    continue
                names = columns
            report.added += 1
            if table != "responses":
                self.added_values |= {v for v in row.values() if isinstance(v, str) and len(v) < 300}
            if not dry_run:
                self.ours.execute(f'insert into "{table}" ({", ".join(chr(34) + c + chr(34) for c in names)}) '
                                  f'values ({", ".join("?" for _ in names)})', [row[c] for c in names])
        return report
