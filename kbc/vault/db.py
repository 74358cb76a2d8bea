"""The vault's one SQLite database (.kbc/kbc.db), its schema kept by numbered migrations."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Callable

# sqlite_utils imports numpy and pandas when they are installed, only to map their column
# types; kbc stores neither, and numpy alone is a third of `kbc search`'s start-up.
_blocked = [name for name in ("numpy", "pandas") if name not in sys.modules]
sys.modules.update(dict.fromkeys(_blocked))
try:
    import sqlite_utils
finally:
    for _name in _blocked:
        del sys.modules[_name]

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn):
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_ledger_and_cache(db: sqlite_utils.Database) -> None:
    db["requests"].create({
        "id": int, "run_id": str, "time": str, "stage": str, "backend": str, "model": str,
        "prompt_tokens": int, "cached_tokens": int, "completion_tokens": int,
        "latency_ms": float, "finish_reason": str, "request_hash": str,
        "prefix_hash": str, "prefix_tokens": int, "cost": float, "from_cache": int, "error": str,
    }, pk="id")
    db["requests"].create_index(["stage"])
    db["requests"].create_index(["time"])
    db["responses"].create({
        "request_hash": str, "model": str, "text": str, "finish_reason": str,
        "prompt_tokens": int, "completion_tokens": int, "created": str,
    }, pk="request_hash")


@migration
def m002_compile_manifest(db: sqlite_utils.Database) -> None:
    db["sources"].create({
        "path": str, "sha256": str, "title": str, "summary_page": str, "extraction": str,
        "prompt_version": str, "model": str, "compiled_at": str,
    }, pk="path")
    db["concepts"].create({
        "key": str, "name": str, "aliases": str, "definition": str, "category": str,
        "page": str, "input_hash": str, "prompt_version": str, "model": str,
    }, pk="key")
    db["claims"].create({
        "id": int, "source_path": str, "concept_key": str, "kind": str, "text": str, "lines": str,
    }, pk="id")
    db["claims"].create_index(["source_path"])
    db["claims"].create_index(["concept_key"])
    db["pages"].create({
        "path": str, "kind": str, "body_hash": str, "prompt_version": str, "model": str,
        "written_at": str,
    }, pk="path")


@migration
def m003_search_index(db: sqlite_utils.Database) -> None:
    db.execute(
        "CREATE VIRTUAL TABLE chunks USING fts5("
        "title, aliases, heading, body, path UNINDEXED, scope UNINDEXED, "
        "tokenize='porter unicode61')"
    )
    db["indexed_files"].create({"path": str, "scope": str, "mtime_ns": int, "size": int},
                               pk="path")


@migration
def m004_concept_written_claims(db: sqlite_utils.Database) -> None:
    # The claims an article was last written from: an update sends only what changed.
    db["concepts"].add_column("written_claims", str)


@migration
def m005_ask_sessions(db: sqlite_utils.Database) -> None:
    # The last question's exact messages, so a follow-up reuses them as a cached prefix.
    db["ask_sessions"].create({"id": int, "created": str, "messages": str, "pages": str}, pk="id")


@migration
def m006_search_rank(db: sqlite_utils.Database) -> None:
    # bm25 weights for the columns title, aliases, heading, body: titles and aliases count most.
    db.execute("insert into chunks(chunks, rank) values('rank', 'bm25(10.0, 8.0, 3.0, 1.0)')")


@migration
def m007_lint_checks(db: sqlite_utils.Database) -> None:
    # Per concept: the hash of what deep lint last sent, and what it found.
    db["lint_checks"].create({"key": str, "input_hash": str, "findings": str}, pk="key")


@migration
def m008_page_hash_lives_in_the_page(db: sqlite_utils.Database) -> None:
    # The body hash is read from the page's own front matter (kbc_hash); the copy here was unused.
    db["pages"].transform(drop={"body_hash"})


@migration
def m009_concept_identity(db: sqlite_utils.Database) -> None:
    # A member is one concept as one source's extraction names it; concepts are the clusters
    # that consolidation's stored decisions make of members. A run's known-concepts catalogue
    # is stored so that a resumed run builds the same extraction prompts.
    db["members"].create({
        "id": str, "source_path": str, "name": str, "aliases": str, "definition": str,
        "category": str, "concept_key": str, "considered": int, "seq": int,
    }, pk="id")
    db["members"].create_index(["source_path"])
    db["decisions"].create({
        "id": int, "a": str, "b": str, "relation": str, "name": str, "origin": str, "decided_at": str,
    }, pk="id")
    db["decisions"].create_index(["a"])
    db["compile_runs"].create({"id": int, "catalogue": str, "finished": int}, pk="id")
    db["claims"].add_column("member", str)
    db.execute("update claims set member = source_path || '::' || concept_key")
    db.execute(
        "insert into members (id, source_path, name, aliases, definition, category, concept_key, "
        "considered, seq) select distinct k.source_path || '::' || k.concept_key, k.source_path, c.name, "
        "'[]', c.definition, c.category, c.key, 0, 0 from claims k join concepts c on c.key = k.concept_key")


@migration
def m010_ask_session_ids(db: sqlite_utils.Database) -> None:
    # Conversations by id and where they began (cli, web, mcp): a follow-up never mixes them.
    db["ask_sessions"].add_column("session", str)
    db["ask_sessions"].add_column("origin", str)
    db.execute("update ask_sessions set session = 'legacy', origin = 'cli'")
    db["ask_sessions"].create_index(["session"])


@migration
def m011_incremental_state(db: sqlite_utils.Database) -> None:
    # What a run's whole-wiki work was built from, so the next run redoes only what changed:
    # each concept's mentions in other sources (with the sources they were searched in), and
    # each page's body as the auto-linker left it (with the terms it linked).
    db["concept_mentions"].create({"concept_key": str, "basis": str, "evidence": str}, pk="concept_key")
    db["mention_sources"].create({"path": str, "sha256": str, "page": str}, pk="path")
    db["linked_pages"].create({"page": str, "body_hash": str}, pk="page")
    db["link_terms"].create({"id": int, "terms": str}, pk="id")



@migration
def m012_graph_mentions(db: sqlite_utils.Database) -> None:
    # Which concepts each concept's material names, with what it was found from (the
    # material's hash, the concept's names' hash): searched again only where they changed.
    db["graph_mentions"].create({"concept_key": str, "naming_hash": str, "text_hash": str, "found": str},
                                pk="concept_key")


@migration
def m013_claim_judgements(db: sqlite_utils.Database) -> None:
    # Consolidation's answers on whether another source's claim is about a concept (by one of
    # its members): an accepted claim is evidence of that concept; no claim is asked twice.
    db["claim_judgements"].create({"id": int, "member": str, "claim_id": str, "about": int, "decided_at": str},
                                  pk="id")
    db["claim_judgements"].create_index(["member"])


@migration
def m014_run_stamp(db: sqlite_utils.Database) -> None:
    # The stamp of the last complete compile (kbc/compile/run_stamp.py), and a counter that
    # triggers on the tables a compile reads bump on every write: a rerun with nothing
    # changed returns at once.
    db["run_stamp"].create({"id": int, "stamp": str}, pk="id")
    db["db_generation"].create({"id": int, "n": int}, pk="id")
    db["db_generation"].insert({"id": 1, "n": 0})


@migration
def m015_search_words(db: sqlite_utils.Database) -> None:
    # The search index's words as written, counted (kbc/search/vocabulary.py), kept in step
    # with the chunks; a scope is counted in full once (search_words_counted) from its chunks.
    db.execute("create table search_words (scope text, word text, n integer, primary key (scope, word))")
    db.execute("create table search_words_counted (scope text primary key)")


@migration
def m016_identity_log(db: sqlite_utils.Database) -> None:
    # What changed since consolidation last worked out the identity (kbc/compile/identity_state.py):
    # members and claims added or removed, decisions rewritten. The identity goes on from its
    # stored clusters with those, instead of being rebuilt from every decision each run.
    db.execute("create table identity_log (id integer primary key autoincrement, member text, op text)")
    for table, column in (("members", "id"), ("claims", "member")):
        for op, row in (("insert", "new"), ("delete", "old")):
            db.execute(f"create trigger identity_{table}_{op} after {op} on {table} begin insert into "
                       f"identity_log (member, op) values ({row}.{column}, '{table}'); end")
    watched = {"members": "id, source_path, name, aliases, definition, category, seq", "claims": "member"}
    for table, columns in watched.items():
        column = "id" if table == "members" else "member"
        db.execute(f"create trigger identity_{table}_update after update of {columns} on {table} begin "
                   f"insert into identity_log (member, op) values (old.{column}, '{table}'); "
                   f"insert into identity_log (member, op) values (new.{column}, '{table}'); end")
    for op in ("update", "delete"):  # rare (a renamed note, a hand edit): the identity is rebuilt
        db.execute(f"create trigger identity_decisions_{op} after {op} on decisions begin insert into "
                   "identity_log (member, op) values ('', 'decisions'); end")
    db.execute("create table identity_basis (id integer primary key, token text)")
    db.execute("create index decisions_b on decisions (b)")
    db.execute("create index claims_member on claims (member)")


@migration
def m017_graph_nodes(db: sqlite_utils.Database) -> None:
    # The concept graph between runs (kbc/compile/graph_store.py): each concept's inputs, its
    # edges and Related list before orphans are linked; each source page's concepts and lines.
    db.execute("create table graph_nodes (key text primary key, node text, edges text, top text)")
    db.execute("create table graph_pages (page text primary key, keys text)")


@migration
def m018_page_index(db: sqlite_utils.Database) -> None:
    # The page index (kbc/vault/page_index.py), was .kbc/page_index.json (34 MB at 10,000
    # sources, loaded and rewritten whole each run): a run writes only the rows it read again.
    # And each note of raw/ as scan_sources parsed it, by its content's hash (compile/sources.py).
    db.execute("create table page_index (path text primary key, ino integer, mtime_ns integer, size integer, "
               "hash text, state text, readable integer, props text, links text, backlinks text, digest text)")
    db.execute("create table source_scan (path text primary key, sha256 text, title text, kind text, byline text)")


@migration
def m019_search_digest(db: sqlite_utils.Database) -> None:
    # The digest of what a page's search chunks are made from (kbc/search/__init__.py): a page
    # rewritten with the same (its backlinks changed) keeps its chunks.
    db["indexed_files"].add_column("digest", str)


@migration
def m020_wiki_links(db: sqlite_utils.Database) -> None:
    # What refresh_wiki derived, kept so a run redoes only what changed (kbc/vault/wiki_links.py):
    # each page's content hash and the properties the whole-wiki passes read (page_index.rev,
    # light), its words for finding the pages a new term may link (page_words), and per page
    # key the pages it links to and those linking to it, as of the content refresh last saw.
    db.execute("alter table page_index add column rev text")
    db.execute("alter table page_index add column light text")
    db.execute("create virtual table page_words using fts5(path unindexed, words)")
    db.execute("create table wiki_links (key text primary key, seen text, out text, inb text, loose integer)")
    db.execute("create table wiki_resolver (id integer primary key, names text, aliases text)")


def open_db(path: Path) -> sqlite_utils.Database:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    db = sqlite_utils.Database(conn)
    migrate(db)
    return db


@migration
def m021_ask_questions(db: sqlite_utils.Database) -> None:
    # A session's questions so far (JSON list): a follow-up ("and how does that compare?") is
    # looked up with the question it follows (kbc/ask).
    db["ask_sessions"].add_column("questions", str)


@migration
def m022_material_digests(db: sqlite_utils.Database) -> None:
    # A concept's material is compared by its digest (kbc/compile/material.py), and parsed only
    # where that changed: graph_mentions' text_hash is the digest now (its rows are all worked
    # out again), each node of the graph keeps its inputs with the material by digest (basis),
    # and each material's words are kept, so the materials a new concept's name may occur in are
    # looked up by its words instead of searched one by one.
    db.execute("alter table graph_nodes add column basis text")
    db.execute("create table material_words (word text, concept_key text, primary key (word, concept_key)) "
               "without rowid")
    db.execute("create index material_words_key on material_words (concept_key)")
    db.execute("delete from graph_mentions")


@migration
def m023_search_code(db: sqlite_utils.Database) -> None:
    # The chunking code each scope's search index was made by (kbc/search/chunks.py): an index
    # of other code is made again.
    db.execute("create table search_code (scope text primary key, code text)")


def migrate(db: sqlite_utils.Database) -> None:
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"number": int, "name": str}, pk="number")
    # By name: migrations appended in another order by work done side by side (a vault that
    # ran m020 before m019 was written) each run once, in the order they were met.
    rows = list(db["_migrations"].rows)
    done, number = {row["name"] for row in rows}, max((row["number"] for row in rows), default=0)
    for step in MIGRATIONS:
        if step.__name__ in done:
            continue
        number += 1
        with db.conn:
            step(db)
            db["_migrations"].insert({"number": number, "name": step.__name__})
