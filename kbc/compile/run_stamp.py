"""Is the vault exactly as the last complete compile left it? Then a rerun has nothing to do.

Like make and git, by stat: a complete run (no error, no stop, not interrupted) records a stamp
of everything its outcome depends on, and the next plain run that finds the stamp matching
returns that run's figures without reading a source or a page:

- every file under raw/ and wiki/ (hidden names skipped, as every reader of them does), and
  kbc-merges.toml: path, inode, mtime, ctime and size in one scandir walk. A file changed
  within SETTLED_NS of the stamp is kept by its content's hash instead (an edit in the same
  clock tick keeps the mtime, and may keep the size), and re-hashed by every check;
- the settings as loaded (kbc.toml, the environment and flags), the model, the prompt
  templates (the package's and the vault's own), kbc's code and the installed packages;
- the database: a counter that triggers bump on every write to a table compile reads (so
  `kbc merge`, `kbc batch import`, or a hand edit, count), no concept left to ask about, no
  batch waiting.

A run clears the stamp before it changes anything, so an interrupted run never leaves one. A
file changed during the run by someone else than kbc (a note saved while compile ran, a page
edited) is not vouched for: no stamp is recorded, and the next run does the work.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import kbc
from kbc.compile.identity import MERGES_FILE
from kbc.llm.prompts import package_template_dir
from kbc.vault import ATTACHMENTS, Vault
from kbc.vault.files import SETTLED_NS, sha256_bytes, sha256_text
from kbc.vault.pages import page_state, registered_paths

VERSION = 1
# Settings that change no page: where and how fast a run asks (the model's name is what pages
# record of it), what it may spend, `kbc ask`'s and `kbc stats`' settings.
_NOT_INPUTS = {"base_url", "api_key", "concurrency", "budget", "ask_context_tokens", "prices"}
# Tables no compile reads: the ledger, the response cache (a run with nothing to do asks
# nothing), search, ask and lint state, the stamp's own, and what is remembered of the files
# the stamp covers (the page index, the notes as scan_sources parsed them, the links refresh saw),
# and the words of graph_mentions' materials (written with its rows; a counting trigger would
# run once per word).
_NOT_READ = {"requests", "responses", "chunks", "indexed_files", "search_words", "search_words_counted",
             "ask_sessions", "lint_checks", "run_stamp", "db_generation", "page_index", "source_scan",
             "wiki_links", "wiki_resolver", "material_words", "search_code"}

Stat = tuple  # (inode, mtime_ns, ctime_ns, size); () for a broken link


@dataclass
class Stamp:
    inputs: str  # code, packages, templates, settings, model
    files: str  # the stats of the files not changed recently
    racy: dict[str, str]  # path -> content hash, for files changed within SETTLED_NS of the stamp
    generation: int
    tables: list[str]
    unchanged: int  # the report's figures a no-change run gives
    stale: list[str] = field(default_factory=list)
    version: int = VERSION


def walk(vault: Vault) -> dict[str, Stat] | None:
    """Path relative to the vault -> stat, for raw/, wiki/ and kbc-merges.toml; None if a
    linked folder is in raw/ or wiki/ (what it holds is no file of this walk) or a folder
    cannot be listed."""
    found: dict[str, Stat] = {}
    try:
        found[MERGES_FILE] = _stat(os.stat(vault.root / MERGES_FILE))
    except FileNotFoundError:
        pass
    pending = [(str(vault.raw_dir), "raw"), (str(vault.wiki_dir), "wiki")]
    while pending:
        folder, rel = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        except OSError:
            return None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, f"{rel}/{entry.name}"))
                continue
            try:
                if entry.is_symlink() and entry.is_dir():
                    return None
                found[f"{rel}/{entry.name}"] = _stat(entry.stat())
            except OSError:  # a broken link, a file gone or unreadable: compile reports it, and runs again
                found[f"{rel}/{entry.name}"] = ()
    return found


def _stat(stat: os.stat_result) -> Stat:
    return (stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)


def _recent(stat: Stat, moment_ns: int) -> bool:
    return not stat or max(stat[1], stat[2]) > moment_ns - SETTLED_NS


def _content(vault: Vault, rel: str) -> str:
    try:
        return sha256_bytes((vault.root / rel).read_bytes())
    except OSError:
        return ""


def _files_digest(files: dict[str, Stat], racy) -> str:
    kept = sorted(rel for rel in files if rel not in racy)  # names only: sorting (name, stat) pairs took 3x as long
    return sha256_text("\0".join(kept) + repr([files[rel] for rel in kept]))


class RunStamp:
    """One run's view of the stamp: replay() at the start, start() before any work, record()
    after a complete run's last write."""

    def __init__(self, vault: Vault, model: str):
        self.vault, self.model = vault, model
        self._before: dict[str, Stat] | None = None
        self._registered: set[str] = set()
        self._merges = ""  # kbc-merges.toml's content hash as the run began
        self._started_ns = 0

    def replay(self) -> Stamp | None:
        """The stamp, if the vault is exactly as it left it."""
        stamp = self._load()
        if stamp is None or stamp.version != VERSION or stamp.inputs != self._inputs():
            return None
        if self._db_state() != (stamp.generation, stamp.tables) or self._work_left():
            return None
        files = self._before = walk(self.vault)
        if files is None or not set(stamp.racy) <= set(files):
            return None
        if _files_digest(files, stamp.racy) != stamp.files:
            return None
        return stamp if all(_content(self.vault, rel) == digest for rel, digest in stamp.racy.items()) else None

    def start(self) -> None:
        """Before the run changes anything: the stamp goes, and what the files were is noted."""
        with self.vault.db_lock, self.vault.db.conn:
            self.vault.db.execute("delete from run_stamp")
        self._started_ns = time.time_ns()
        if self._before is None:
            self._before = walk(self.vault)
        self._registered = registered_paths(self.vault)
        self._merges = _content(self.vault, MERGES_FILE)

    def record(self, sources: list, stale: list[str]) -> bool:
        """After a complete run's last write: the stamp, unless a file changed during the run
        by someone else than kbc or the next run has work left. `sources`: what it read."""
        files = walk(self.vault)
        if files is None or self._before is None or self._work_left() or not self._only_kbc_changed(files, sources):
            return False
        self._ensure_triggers()
        now = time.time_ns()
        racy = {rel: _content(self.vault, rel) for rel, stat in files.items() if _recent(stat, now)}
        generation, tables = self._db_state()
        stamp = Stamp(self._inputs(), _files_digest(files, racy), racy, generation, tables, len(sources), stale)
        with self.vault.db_lock, self.vault.db.conn:
            self.vault.db.execute("insert or replace into run_stamp (id, stamp) values (1, ?)",
                                  [json.dumps(asdict(stamp))])
        return True

    # -- what changed during the run --------------------------------------------------------

    def _only_kbc_changed(self, files: dict[str, Stat], sources: list) -> bool:
        """Sources as compile read them, pages as kbc wrote or removed them, kbc-merges.toml as
        the run began."""
        before, read = self._before, {s.path: s.sha256 for s in sources}
        notes = {rel for rel in files if _is_source(rel)}
        if notes != set(read):  # a note added, removed or renamed after compile listed them
            return False
        for rel, stat in files.items():
            if before.get(rel) == stat and not _recent(stat, self._started_ns):
                continue
            if rel in read:
                try:
                    if sha256_text((self.vault.root / rel).read_text(encoding="utf-8")) != read[rel]:
                        return False
                except (OSError, UnicodeDecodeError):
                    return False
            elif rel == MERGES_FILE:
                if _content(self.vault, rel) != self._merges:
                    return False
            elif not (rel.startswith("wiki/") and rel.endswith(".md")
                      and page_state(self.vault, self.vault.root / rel) == "ours"):
                return False
        gone = set(before) - set(files)
        # kbc removes only pages it registered, and unregisters them as it does.
        registered = registered_paths(self.vault)
        return all(rel in self._registered and rel not in registered for rel in gone)

    # -- inputs -----------------------------------------------------------------------------

    def _inputs(self) -> str:
        settings = {k: v for k, v in asdict(self.vault.settings).items() if k not in _NOT_INPUTS}
        parts = [sys.version, self.model, json.dumps(settings, sort_keys=True, default=str),
                 _code_digest(), _templates_digest(self.vault)]
        return sha256_text("\0".join(parts))

    # -- the database -----------------------------------------------------------------------

    def _load(self) -> Stamp | None:
        with self.vault.db_lock:
            rows = list(self.vault.db.query("select stamp from run_stamp where id = 1"))
        try:
            return Stamp(**json.loads(rows[0]["stamp"])) if rows else None
        except (TypeError, ValueError):  # a stamp of another layout
            return None

    def _tables(self) -> list[str]:
        rows = list(self.vault.db.query("select name, sql from sqlite_master where type = 'table'"))
        virtual = [r["name"] for r in rows if (r["sql"] or "").upper().startswith("CREATE VIRTUAL")]
        return sorted(r["name"] for r in rows if r["name"] not in _NOT_READ and not r["name"].startswith("sqlite_")
                      and r["name"] not in virtual and not any(r["name"].startswith(v + "_") for v in virtual))

    def _db_state(self) -> tuple[int, list[str]]:
        """(the write counter, the tables compile reads): a table made since the stamp, or one
        that lost its triggers, is marked, so the state differs from any stamp's."""
        with self.vault.db_lock:
            db = self.vault.db
            triggers = {r["name"] for r in db.query("select name from sqlite_master where type = 'trigger'")}
            tables = [t if all(_trigger(t, op) in triggers for op in _OPS) else f"{t} (not counted)"
                      for t in self._tables()]
            generation = next(iter(db.query("select n from db_generation where id = 1")), {"n": 0})["n"]
        return generation, tables

    def _ensure_triggers(self) -> None:
        with self.vault.db_lock, self.vault.db.conn:
            db = self.vault.db
            db.execute("insert or ignore into db_generation (id, n) values (1, 0)")
            triggers = {r["name"] for r in db.query("select name from sqlite_master where type = 'trigger'")}
            for table in self._tables():
                for op in _OPS:
                    if _trigger(table, op) not in triggers:
                        db.execute(f'create trigger "{_trigger(table, op)}" after {op} on "{table}" '
                                   "begin update db_generation set n = n + 1 where id = 1; end")

    def _work_left(self) -> bool:
        """Concepts not yet asked about (a consolidation request failed), or a batch not yet
        collected: the next run sends requests. (An interrupted run's catalogue is no work for
        a run with nothing to extract; one stored after the stamp changes the counter.)"""
        db = self.vault.db
        with self.vault.db_lock:
            if list(db.query("select 1 from members where considered = 0 limit 1")):
                return True
            return "batches" in db.table_names() and bool(list(db.query(
                "select 1 from batches where status not in ('collected', 'cancelled') limit 1")))


_OPS = ("insert", "update", "delete")


def _trigger(table: str, op: str) -> str:
    return f"kbc_generation_{table}_{op}"


def _is_source(rel: str) -> bool:
    """A note scan_sources reads: Markdown under raw/, outside attachments."""
    return rel.startswith("raw/") and rel.endswith(".md") and not rel.startswith(f"raw/{ATTACHMENTS}/")


_CODE: list[str] = []


def _hash_files(digest, folder: Path, pattern: str) -> None:
    for path in sorted(folder.rglob(pattern)) if folder.is_dir() else []:
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


def _code_digest() -> str:
    """kbc's own source and the installed packages' names and versions (their metadata
    folders): an upgrade of either never reuses a stamp."""
    if not _CODE:
        digest = hashlib.sha256()
        _hash_files(digest, Path(kbc.__file__).parent, "*.py")
        for folder in sys.path:
            try:
                digest.update("\0".join(sorted(n for n in os.listdir(folder or ".")
                                               if n.endswith((".dist-info", ".egg-info")))).encode())
            except OSError:
                continue
        _CODE.append(digest.hexdigest())
    return _CODE[0]


def _templates_digest(vault: Vault) -> str:
    """Every template, the vault's own first: a superset of the versions compile's prompts carry."""
    digest = hashlib.sha256()
    for folder in (vault.root / "templates", package_template_dir()):
        _hash_files(digest, folder, "*")
        digest.update(b"\1")
    return digest.hexdigest()
