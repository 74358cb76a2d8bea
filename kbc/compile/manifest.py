"""Compile's state in the database: sources, members, claims, concepts, decisions, runs."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import astuple, fields, replace

from kbc.compile.collector import quiet_gc
from kbc.compile.rows import RENAME, SAME, Claim, Concept, Decision, Member, SourceRow
from kbc.vault import Vault


def _list(stored: str | None) -> list:
    """A JSON list column: most rows hold none (no parse for those; 43,000 members)."""
    return json.loads(stored) if stored and stored != "[]" else []


def now() -> str:
    return dt.datetime.now().replace(microsecond=0).isoformat()


class Manifest:
    def __init__(self, vault: Vault):
        self.vault, self.db, self.lock = vault, vault.db, vault.db_lock
        self._decisions: list[Decision] | None = None
        self._relating: list[tuple] | None = None  # (a, b, relation) of the part-of, related and different ones
        self.decisions_added = 0  # by this object: what was worked out from them may be kept till it grows
        # Every member, read once and kept in step with this object's writes (assign and
        # mark_considered change the kept rows too; a source's new extraction replaces its own).
        self._members: list[Member] | None = None
        self._claims: list[Claim] | None = None  # likewise (changed only with a source's extraction)
        self._concepts: dict[str, Concept] | None = None  # likewise
        self._sources: dict[str, SourceRow] | None = None  # likewise
        # Sources extracted (or removed) since the lists were put together: path -> its rows.
        self._pending: dict[str, tuple[list[Member], list[Claim]]] = {}

    # -- sources ----------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRow]:
        """Read once, then kept in step with this object's writes. The rows are shared: read
        them, never change them."""
        if self._sources is None:
            with self.lock, quiet_gc():
                rows = self.db.execute(f"select {_SOURCE_COLUMNS} from sources").fetchall()
                self._sources = {r[0]: SourceRow(*r) for r in rows}
        return dict(self._sources)

    def source(self, path: str) -> SourceRow | None:
        with self.lock:
            rows = list(self.db.query("select * from sources where path = ?", [path]))
        return SourceRow(**rows[0]) if rows else None

    def summary_pages(self) -> list[str]:
        if self._sources is not None:
            return [row.summary_page for row in self._sources.values()]
        with self.lock:
            return [r[0] for r in self.db.execute("select summary_page from sources")]

    def summary_names(self) -> set[str]:
        """The page names the source summaries hold."""
        return {page_stem(page) for page in self.summary_pages()}

    def claimed_pages(self) -> set[str]:
        """The page names concepts and source summaries hold."""
        if self._concepts is not None:
            concepts = {c.page for c in self._concepts.values() if c.page}
        else:
            with self.lock:
                concepts = {r[0] for r in self.db.execute("select page from concepts where page != ''")}
        return concepts | self.summary_names()

    def put_source(self, row: SourceRow, members: list[Member], claims: list[Claim]) -> None:
        """A source's extraction replaces its members and claims; members named the same
        way as before keep their concept and their consolidation history."""
        with self.lock, self.db.conn:
            old = {m.id: m for m in self.members(row.path)}
            seq = self._next_seq()
            for offset, member in enumerate(members):
                if member.id in old:
                    member.concept_key, member.considered, member.seq = \
                        old[member.id].concept_key, old[member.id].considered, old[member.id].seq
                else:
                    member.seq = seq + offset
            self.db.execute("delete from claims where source_path = ?", [row.path])
            self.db.execute("delete from members where source_path = ?", [row.path])
            # Plain executemany: sqlite-utils' insert_all and upsert cost more than the rows'
            # SQLite work (their column checks and conversion), thousands of times a first compile.
            self.db.conn.executemany(_INSERT_MEMBER, [_member_row(m) for m in members])
            keys = {m.id: m.concept_key for m in members}
            self.db.conn.executemany(_INSERT_CLAIM, [(c.source_path, c.member, c.kind, c.text, c.lines,
                                                      keys.get(c.member, "")) for c in claims])
            self.db.conn.execute(_UPSERT_SOURCE, astuple(row))
        self._replaced(row.path, row, [replace(m) for m in members], [replace(c) for c in claims])

    def remove_source(self, path: str) -> None:
        with self.lock, self.db.conn:
            for table, column in (("claims", "source_path"), ("members", "source_path"), ("sources", "path")):
                self.db.execute(f"delete from {table} where {column} = ?", [path])
        self._replaced(path, None, [], [])

    def _replaced(self, path: str, row: SourceRow | None, members: list[Member], claims: list[Claim]) -> None:
        """The kept rows follow a source's new extraction (or its removal): the lists are
        put together again when next asked for, once for any number of sources."""
        if self._sources is not None:
            if row is None:
                self._sources.pop(path, None)
            else:
                self._sources[path] = replace(row)
        self._pending[path] = (members, claims)

    def _take_pending(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        if self._members is not None:
            kept = [m for m in self._members if m.source_path not in pending]
            self._members = sorted(kept + [m for ms, _ in pending.values() for m in ms], key=lambda m: (m.seq, m.id))
        if self._claims is not None:  # by source, then in the order stored (a source's new ones come last)
            kept = [c for c in self._claims if c.source_path not in pending]
            self._claims = sorted(kept + [c for _, cs in pending.values() for c in cs], key=lambda c: c.source_path)

    def rename_source(self, old: str, new: str) -> None:
        """A note moved or renamed with the same content: its members keep their concepts."""
        self._decisions = self._relating = self._members = self._claims = self._sources = None
        self._pending = {}
        with self.lock, self.db.conn:
            prefix = len(old) + 1
            self.db.execute("update members set source_path = ?, id = ? || substr(id, ?) "
                            "where source_path = ?", [new, new, prefix, old])
            self.db.execute("update claims set source_path = ?, member = ? || substr(member, ?) "
                            "where source_path = ?", [new, new, prefix, old])
            for column in ("a", "b"):
                self.db.execute(f"update decisions set {column} = ? || substr({column}, ?) "
                                f"where {column} like ? escape '\\'", [new, prefix, _like_prefix(old)])
            self.db.execute("update claim_judgements set member = ? || substr(member, ?) "
                            "where member like ? escape '\\'", [new, prefix, _like_prefix(old)])
            self.db.execute("update sources set path = ? where path = ?", [new, old])

    def _next_seq(self) -> int:
        row = next(self.db.query("select coalesce(max(seq), 0) + 1 as n from members"))
        return row["n"]

    # -- members and claims -----------------------------------------------------------------

    def members(self, source_path: str | None = None) -> list[Member]:
        if source_path is not None and source_path in self._pending:
            return list(self._pending[source_path][0])  # the lists are not put together per source
        if source_path is None:
            self._take_pending()
            if self._members is not None:
                return list(self._members)
        where, args = (" where source_path = ?", [source_path]) if source_path else ("", [])
        with self.lock, quiet_gc():
            rows = self.db.execute("select id, source_path, name, aliases, definition, category, concept_key, "
                                   f"considered, seq from members{where} order by seq, id", args).fetchall()
            # Plain tuples: a dict per row costs more than the rest of the read at 10,000 sources.
            out = [Member(i, path, name, _list(aliases), definition, category, key, bool(considered),
                          seq) for i, path, name, aliases, definition, category, key, considered, seq in rows]
        if source_path is None:
            self._members = out
            return list(out)
        return out

    def claims(self) -> list[Claim]:
        self._take_pending()
        if self._claims is None:
            with self.lock, quiet_gc():
                rows = self.db.execute("select source_path, member, kind, text, lines from claims "
                                       "order by source_path, id").fetchall()
                self._claims = [Claim(*r) for r in rows]
        return list(self._claims)

    def assign(self, mapping: dict[str, str]) -> None:
        """member id -> concept key, after identity is worked out."""
        self._take_pending()  # the kept rows changed below include sources extracted since
        with self.lock, self.db.conn:
            self.db.conn.executemany("update members set concept_key = ? where id = ?",
                                     [(key, member) for member, key in mapping.items()])
            # The claims of these members only, through claims.member's index (m016): a pass
            # over every claim cost 0.2 s at 10,000 sources.
            self.db.conn.executemany("update claims set concept_key = ? where member = ? and concept_key is not ?",
                                     [(key, member, key) for member, key in mapping.items()])
        for member in self._members or ():
            member.concept_key = mapping.get(member.id, member.concept_key)

    def mark_considered(self, ids: list[str]) -> None:
        self._take_pending()
        with self.lock, self.db.conn:
            self.db.conn.executemany("update members set considered = 1 where id = ?", [(m,) for m in ids])
        considered = set(ids)
        for member in self._members or ():
            member.considered = member.considered or member.id in considered

    # -- concepts ---------------------------------------------------------------------------

    def concepts(self) -> dict[str, Concept]:
        """Read once, then kept in step with this object's writes (the concepts table has no
        other writer). The rows are shared: read them, never change them."""
        if self._concepts is None:
            with self.lock, quiet_gc():
                rows = self.db.execute("select key, name, aliases, definition, category, page, input_hash, "
                                       "prompt_version, model, written_claims from concepts").fetchall()
                self._concepts = {r[0]: Concept(r[0], r[1], _list(r[2]), *r[3:9], r[9] or "")
                                  for r in rows}
        return dict(self._concepts)

    def put_concepts(self, concepts: list[Concept], old: dict[str, Concept]) -> None:
        """Store the concepts whose row changed (runtime fields aside)."""
        changed = [c for c in concepts if c.key not in old or _stored(old[c.key]) != _stored(c)]
        if changed:
            with self.lock, self.db.conn:
                self.db["concepts"].upsert_all([_concept_row(c) for c in changed], pk="key")
        if self._concepts is not None:
            for concept in changed:
                self._concepts[concept.key] = Concept(*_stored(concept))

    def drop_concept(self, key: str) -> None:
        with self.lock, self.db.conn:
            self.db.execute("delete from concepts where key = ?", [key])
        if self._concepts is not None:
            self._concepts.pop(key, None)

    def written(self, key: str, input_hash: str, written_claims: str, version: str, model: str) -> None:
        with self.lock, self.db.conn:
            self.db["concepts"].update(key, {"input_hash": input_hash, "written_claims": written_claims,
                                             "prompt_version": version, "model": model})
        if self._concepts is not None and key in self._concepts:
            stored = self._concepts[key]
            self._concepts[key] = Concept(*_stored(stored)[:6], input_hash, version, model, written_claims)

    # -- decisions --------------------------------------------------------------------------

    def decisions(self) -> list[Decision]:
        """Read once, then kept: a run asks for them several times (sync, relations, pairs)
        and changes them only through this object."""
        if self._decisions is None:
            with self.lock, quiet_gc():
                rows = self.db.execute("select a, b, relation, name, origin from decisions order by id").fetchall()
                self._decisions = [Decision(*r) for r in rows]
        return list(self._decisions)

    def relating(self) -> list[tuple[str, str, str]]:
        """(a, b, relation) of the decisions that relate two concepts without making them one
        (part of, related, different), in order: the graph's, a sixth of all at 10,000
        sources (plain tuples: no row object each)."""
        if self._relating is None:
            if self._decisions is not None:
                self._relating = [(d.a, d.b, d.relation) for d in self._decisions if d.relation not in (SAME, RENAME)]
            else:
                with self.lock, quiet_gc():
                    self._relating = self.db.execute("select a, b, relation from decisions where relation "
                                                     "not in (?, ?) order by id", [SAME, RENAME]).fetchall()
        return list(self._relating)

    def add_decisions(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        stamp = now()
        with self.lock, self.db.conn:
            self.db.conn.executemany("insert into decisions (a, b, relation, name, origin, decided_at) "
                                     "values (?, ?, ?, ?, ?, ?)",
                                     [(d.a, d.b, d.relation, d.name, d.origin, stamp) for d in decisions])
        if self._decisions is not None:  # the new rows come last in id order: kept, not read again
            self._decisions.extend(replace(d) for d in decisions)
        if self._relating is not None:
            self._relating.extend((d.a, d.b, d.relation) for d in decisions if d.relation not in (SAME, RENAME))
        self.decisions_added += len(decisions)

    def last_decision_id(self) -> int:
        with self.lock:
            return self.db.execute("select coalesce(max(id), 0) from decisions").fetchone()[0]

    def decisions_since(self, last: int) -> list[tuple[int, Decision]]:
        """(id, decision) of those stored after decision `last`, in order."""
        with self.lock:
            rows = self.db.execute("select id, a, b, relation, name, origin from decisions where id > ? "
                                   "order by id", [last]).fetchall()
        return [(r[0], Decision(*r[1:])) for r in rows]

    def touching(self, member_ids, relations: tuple[str, ...] | None = None) -> list[Decision]:
        """The decisions about a pair with one of these members, in order (of one relation
        of `relations` if given): what a few new concepts need of 600,000 decisions."""
        rows: dict[int, tuple] = {}
        ids = list(member_ids)
        only = f" and relation in ({','.join('?' * len(relations))})" if relations else ""
        with self.lock:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                for column in ("a", "b"):
                    for r in self.db.execute(f"select id, a, b, relation, name, origin from decisions "
                                             f"where {column} in ({marks}){only}", [*chunk, *(relations or ())]):
                        rows[r[0]] = r
        return [Decision(*rows[n][1:]) for n in sorted(rows)]

    def same_pairs(self, member_ids) -> list[tuple[str, str]]:
        return [(d.a, d.b) for d in self.touching(member_ids, (SAME,))]

    # -- what changed for the identity (kbc/compile/identity_state.py) ----------------------

    def identity_log(self, since: int) -> tuple[int, set[str], bool]:
        """(the last row, the members whose rows or claims changed after row `since`,
        whether a decision was changed or deleted)."""
        with self.lock:
            rows = self.db.execute("select id, member, op from identity_log where id > ?", [since]).fetchall()
        changed = {member for _, member, op in rows if op != "decisions"}
        return max((r[0] for r in rows), default=since), changed, any(op == "decisions" for _, _, op in rows)

    def identity_token(self) -> str:
        with self.lock:
            row = self.db.execute("select token from identity_basis where id = 1").fetchone()
        return row[0] if row else ""

    def set_identity_token(self, token: str, log_id: int) -> None:
        """The token of the identity file just written, which has taken in the log to `log_id`."""
        with self.lock, self.db.conn:
            self.db.execute("insert or replace into identity_basis (id, token) values (1, ?)", [token])
            self.db.execute("delete from identity_log where id <= ?", [log_id])

    def weights(self, member_ids) -> dict[str, int]:
        """member -> its claims, counted by the database."""
        ids = list(member_ids)
        query = "select member, count(*) from claims{} group by member"
        with self.lock:
            if len(ids) > 20 * _CHUNK:
                return dict(self.db.execute(query.format("")).fetchall())
            out = {}
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                out.update(self.db.execute(query.format(f" where member in ({','.join('?' * len(chunk))})"),
                                           chunk).fetchall())
        return out

    # -- runs: the catalogue an extraction stage started with -------------------------------

    def open_run_catalogue(self) -> list[str] | None:
        """The catalogue of a run whose extraction stage did not finish (killed, stopped)."""
        with self.lock:
            rows = list(self.db.query("select catalogue from compile_runs where finished = 0 "
                                      "order by id desc limit 1"))
        return json.loads(rows[0]["catalogue"]) if rows else None

    def start_run(self, catalogue: list[str]) -> None:
        with self.lock, self.db.conn:
            self.db.execute("delete from compile_runs where finished = 0")
            self.db["compile_runs"].insert({"catalogue": json.dumps(catalogue), "finished": 0})

    def finish_runs(self) -> None:
        with self.lock, self.db.conn:
            self.db.execute("delete from compile_runs")


_CHUNK = 500  # ids per `in (...)`: well under SQLite's limit of bound values

_SOURCE_COLUMNS = ", ".join(f.name for f in fields(SourceRow))  # SourceRow(*row) reads them in this order


_CONCEPT_COLUMNS = ("key", "name", "aliases", "definition", "category", "page", "input_hash", "prompt_version",
                    "model", "written_claims")


def _stored(concept: Concept) -> tuple:
    """What the concepts table holds of a concept, in its columns' order."""
    return (concept.key, concept.name, list(concept.aliases), concept.definition, concept.category, concept.page,
            concept.input_hash, concept.prompt_version, concept.model, concept.written_claims or "")


def page_stem(path: str) -> str:
    """Path(path).stem of a vault-relative page path, without making a Path (10,000 a run)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _concept_row(concept: Concept) -> dict:
    # Field by field, not asdict (a deep copy of members and link names too, for every concept).
    row = {k: getattr(concept, k) for k in _CONCEPT_COLUMNS}
    return {**row, "aliases": json.dumps(concept.aliases)}


_INSERT_MEMBER = ("insert into members (id, source_path, name, aliases, definition, category, concept_key, "
                  "considered, seq) values (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_CLAIM = "insert into claims (source_path, member, kind, text, lines, concept_key) values (?, ?, ?, ?, ?, ?)"
_UPSERT_SOURCE = (f"insert into sources ({_SOURCE_COLUMNS}) values ({', '.join('?' * len(fields(SourceRow)))}) "
                  "on conflict (path) do update set " +
                  ", ".join(f"{f.name} = excluded.{f.name}" for f in fields(SourceRow)[1:]))


def _member_row(member: Member) -> tuple:
    return (member.id, member.source_path, member.name, json.dumps(member.aliases), member.definition,
            member.category, member.concept_key, int(member.considered), member.seq)


def _like_prefix(path: str) -> str:
    return path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "::%"
