"""The identity carried on between runs: a +1 source changes a few clusters of 10,000, so the
clusters, the stored decisions' names and each cluster's concept are kept (.kbc/identity.pickle)
and brought up to date from what changed since: the members and claims the database's
identity_log names (triggers, kbc/vault/db.py m016) and the decisions added after the last one
read. The result is the identity a whole rebuild (identity.build) gives; tests/test_identity_state.py
compares the two. With a person's overrides (kbc-merges.toml) the clusters depend on the order of
every decision and on the concepts' names: then it is the whole rebuild, each time.

The file is trusted only with the token the database holds (identity_basis): a database copied
back, or a file left by another run, is never mixed with the other's."""
from __future__ import annotations

import hashlib
import io
import pickle
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kbc.compile.identity import Identity, Made, Overrides, SameNames, _Union, assign, cluster
from kbc.compile.collector import quiet_gc
from kbc.compile.rows import RENAME, SAME, Concept, Member
from kbc.vault.files import atomic_write

STATE_FILE = "identity.pickle"
# The code whose objects the file holds (consolidate's profiles ride along, Identity.memo).
_CODE = [Path(__file__).with_name(name) for name in ("identity_state.py", "identity.py", "rows.py", "consolidate.py")]


@dataclass
class State:
    token: str
    code: str  # the code that made it: a file from other code is not read
    log_id: int  # identity_log rows taken in
    decision_id: int  # decisions taken in
    cluster_of: dict[str, int]  # member -> cluster
    clusters: dict[int, set[str]]
    renames: dict[str, str]  # every rename decision's member -> name (the last one counts)
    same_names: SameNames  # every named `same` decision's pair, in the order decided
    made: dict[int, Made] = field(default_factory=dict)
    next_cluster: int = 0

    def new_cluster(self, members: set[str]) -> int:
        cid, self.next_cluster = self.next_cluster, self.next_cluster + 1
        self.clusters[cid] = members
        for member in members:
            self.cluster_of[member] = cid
        return cid


class Tracker:
    """One per run: the identity of the members as they are now, each time it is asked."""

    def __init__(self, vault, manifest):
        self.path = vault.state_dir / STATE_FILE
        self.manifest = manifest
        self.state: State | None = None
        self._code: str | None = None
        self._unsaved = False

    def identity(self, members: list[Member], overrides: Overrides, old: dict[str, Concept],
                 settled: set[str]) -> Identity:
        by_id = {m.id: m for m in members}
        if overrides.same or overrides.different:
            self.state = None
            decisions = self.manifest.decisions()
            clusters, renames, same_names = cluster(by_id, decisions, overrides, old)
            return assign(by_id, clusters, renames, same_names, old, self.manifest.weights, settled)[0]
        state = self.state or self._load()
        log_id, changed, rewritten = self.manifest.identity_log(state.log_id if state else 0)
        if state is None or rewritten:
            state, dirty = self._rebuilt(by_id, log_id), set()
        else:
            dirty = self._follow(state, by_id, changed)
            state.log_id = log_id
        identity, state.made = assign(by_id, state.clusters, state.renames, state.same_names, old,
                                      self.manifest.weights, settled, state.made, dirty)
        self.state = state
        self._unsaved = self._unsaved or bool(dirty or changed) or not self.path.exists()
        return identity

    def save(self) -> None:
        """Stores the identity last worked out, if it changed (once a run: 12,000 concepts)."""
        if self.state is None or not self._unsaved:
            return
        state = self.state
        state.token = uuid.uuid4().hex
        with quiet_gc():
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        # The file first, then the token that vouches for it: a run stopped in between
        # leaves a file no token vouches for, rebuilt next time.
        atomic_write(self.path, data)
        self.manifest.set_identity_token(state.token, state.log_id)
        self._unsaved = False

    # -- bringing the clusters up to date ----------------------------------------------------

    def _rebuilt(self, by_id: dict[str, Member], log_id: int) -> State:
        decisions = self.manifest.decisions()
        clusters, _, _ = cluster(by_id, decisions, Overrides(), {})
        # Names of members that are gone are kept too: a note put back brings its members back.
        renames = {d.a: d.name for d in decisions if d.relation == RENAME and d.name}
        same_names = SameNames()
        for d in decisions:
            if d.relation == SAME and d.name:
                same_names.set(frozenset((d.a, d.b)), d.name)
        state = State("", self._code_hash(), log_id, self.manifest.last_decision_id(), {}, {}, renames, same_names)
        for members in clusters.values():
            state.new_cluster(set(members))
        return state

    def _follow(self, state: State, by_id: dict[str, Member], changed: set[str]) -> set[int]:
        """Takes in the members changed since and the decisions added since; returns the
        clusters whose concept is to be made again."""
        dirty: set[int] = set()
        gone = {m for m in changed if m not in by_id and m in state.cluster_of}
        split = {state.cluster_of.pop(m) for m in gone}
        for cid in split:  # what held them together may be gone with them
            left = state.clusters.pop(cid) - gone
            state.made.pop(cid, None)
            union = _Union(left)
            for a, b in self.manifest.same_pairs(left):
                if a in left and b in left:
                    union.union(a, b)
            parts: dict[str, set[str]] = {}
            for member in left:
                parts.setdefault(union.find(member), set()).add(member)
            dirty |= {state.new_cluster(part) for part in parts.values()}
        come = [m for m in changed if m in by_id and m not in state.cluster_of]
        dirty |= {state.new_cluster({m}) for m in come}
        dirty |= {state.cluster_of[m] for m in changed if m in by_id}
        # A note put back: its members' decisions were taken in before they went.
        for a, b in self.manifest.same_pairs(come):
            self._join(state, by_id, a, b, dirty)
        for number, d in self.manifest.decisions_since(state.decision_id):
            state.decision_id = max(state.decision_id, number)
            if d.relation == RENAME and d.name:
                state.renames[d.a] = d.name
            elif d.relation == SAME:
                if d.name:
                    state.same_names.set(frozenset((d.a, d.b)), d.name)
                self._join(state, by_id, d.a, d.b, dirty)
            else:
                continue
            dirty |= {state.cluster_of[m] for m in (d.a, d.b) if m in state.cluster_of}
        return dirty

    @staticmethod
    def _join(state: State, by_id, a: str, b: str, dirty: set[int]) -> None:
        if a not in by_id or b not in by_id:
            return
        ca, cb = state.cluster_of[a], state.cluster_of[b]
        if ca == cb:
            return
        if len(state.clusters[ca]) < len(state.clusters[cb]):
            ca, cb = cb, ca
        moved = state.clusters.pop(cb)
        state.made.pop(cb, None)
        dirty.discard(cb)
        for member in moved:
            state.cluster_of[member] = ca
        state.clusters[ca] |= moved
        dirty.add(ca)

    # -- the file ----------------------------------------------------------------------------

    def _code_hash(self) -> str:
        if self._code is None:
            self._code = hashlib.sha256(b"".join(p.read_bytes() for p in _CODE)).hexdigest()
        return self._code

    def _load(self) -> State | None:
        try:
            with quiet_gc():
                state = _Reader(io.BytesIO(self.path.read_bytes())).load()
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
            return None
        if not isinstance(state, State) or state.code != self._code_hash() \
                or state.token != self.manifest.identity_token():
            return None
        return state


class _Reader(pickle.Unpickler):
    """Makes no object but the identity's own: a file put in .kbc/ by someone else runs no code."""
    ALLOWED = {("kbc.compile.identity_state", "State"), ("kbc.compile.identity", "Made"),
               ("kbc.compile.identity", "SameNames"), ("kbc.compile.consolidate", "_profile")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of an identity file")
        return super().find_class(module, name)
