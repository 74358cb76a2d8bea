"""Which members are one concept: a union of the stored `same` decisions and a person's forced
merges, minus forbidden ones. Pure code, rebuilt each run, so no decision is ever lost.

A person's overrides live in `kbc-merges.toml` at the vault root:

    same = [["CAP Theorem", "CAP Principle"]]      # always one page
    different = [["Paxos Leader", "Raft Leader"]]  # never merged, whatever the model says
"""
from __future__ import annotations

import re

import tomllib
from collections import Counter
from dataclasses import dataclass, field, fields

from kbc.compile.concepts import concept_key
from kbc.compile.rows import RENAME, SAME, Concept, Decision, Member
from kbc.errors import KbcError
from kbc.vault.autolink import is_generic_alias

MERGES_FILE = "kbc-merges.toml"


@dataclass
class Overrides:
    same: list[list[str]] = field(default_factory=list)
    different: list[list[str]] = field(default_factory=list)


def load_overrides(path) -> Overrides:
    if not path.exists():
        return Overrides()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KbcError(f"{path.name}: {exc}") from None
    groups = {}
    for key in ("same", "different"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(g, list) and len(g) >= 2 and
                                                  all(isinstance(n, str) for n in g) for g in value):
            raise KbcError(f"{path.name}: `{key}` must be a list of lists of two or more names")
        groups[key] = value
    return Overrides(**groups)


class _Union:
    def __init__(self, items):
        self.parent = {item: item for item in items}

    def find(self, item):
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a, b):
        self.parent[self.find(b)] = self.find(a)


@dataclass
class Identity:
    concepts: dict[str, Concept]  # key -> concept (pages not yet assigned for new ones)
    member_key: dict[str, str]  # member id -> concept key
    merged: dict[str, str]  # old concept key -> the key it was merged into
    renamed_from: dict[str, set[str]]  # key -> names it lost as not standing alone
    # key -> what later steps worked out from the concept (consolidate.profiles_of), kept with
    # its cluster's concept while that stays as it is, into the next run (identity_state.py)
    memo: dict[str, dict] = field(default_factory=dict)


def names_of(member: Member, renames: dict[str, str]) -> list[str]:
    return [n for n in (renames.get(member.id), member.name, *member.aliases) if n]


def build(members: list[Member], decisions: list[Decision], overrides: Overrides,
          old: dict[str, Concept], weight: dict[str, int] | None = None,
          settled: set[str] | None = None) -> Identity:
    """`weight`: claims per member; the member its source says most about defines the concept.
    `settled`: the keys that existed before this run; a cluster keeps one of those over a key
    this run minted (a merged vault's larger cluster of "paxos" was minted "paxos 2").
    The whole rebuild; kbc/compile/identity_state.py goes on from the last one instead."""
    by_id = {m.id: m for m in members}
    clusters, renames, same_names = cluster(by_id, decisions, overrides, old)
    identity, _ = assign(by_id, clusters, renames, same_names, old, weight or {},
                         set(old) if settled is None else settled)
    return identity


def cluster(by_id: dict[str, Member], decisions: list[Decision], overrides: Overrides, old: dict[str, Concept]):
    """(clusters: root -> member ids, renames, same names) of the members: the union of the
    `same` decisions and a person's forced merges, minus forbidden ones."""
    renames = {d.a: d.name for d in decisions if d.relation == RENAME and d.a in by_id and d.name}
    union, clusters, same_names = _Union(by_id), {m: {m} for m in by_id}, SameNames()
    plain = not (overrides.same or overrides.different)
    named = _names(list(by_id.values()), renames, old) if not plain else None
    forbidden = [(named(a), named(b)) for group in overrides.different
                 for i, a in enumerate(group) for b in group[i + 1:]]
    for group in overrides.same:  # the first name a person gives is the page's name
        ids = sorted(set().union(*(named(n) for n in group)))
        for other in ids[1:]:
            _join(union, clusters, forbidden, ids[0], other, force=True)
        if len(ids) > 1:
            same_names.set(frozenset(ids), group[0])
    _join_decisions(union, clusters, same_names, decisions, by_id, forbidden)
    return clusters, renames, same_names


def _names(members: list[Member], renames: dict[str, str], old: dict[str, Concept]):
    """name -> the member ids any name a person may use (kbc-merges.toml) picks."""
    keys_by_name: dict[str, set[str]] = {}
    for member in members:
        for name in names_of(member, renames):
            keys_by_name.setdefault(concept_key(name), set()).add(member.id)
        if member.concept_key in old:
            concept = old[member.concept_key]
            for name in (concept.name, concept.page):
                keys_by_name.setdefault(concept_key(name), set()).add(member.id)
    return lambda name: keys_by_name.get(concept_key(name), set())


def _join(union: _Union, clusters: dict[str, set[str]], forbidden, a: str, b: str, force: bool) -> None:
    ra, rb = union.find(a), union.find(b)
    if ra == rb:
        return
    ca, cb = clusters[ra], clusters[rb]
    if not force and any((x & ca and y & cb) or (x & cb and y & ca) for x, y in forbidden):
        return
    union.union(ra, rb)
    clusters[ra] = ca | cb
    del clusters[rb]


def _join_decisions(union, clusters, same_names, decisions, by_id, forbidden) -> None:
    for decision in decisions:
        if decision.relation == SAME and decision.a in by_id and decision.b in by_id:
            _join(union, clusters, forbidden, decision.a, decision.b, force=decision.origin == "person")
            if decision.name:
                same_names.set(frozenset((decision.a, decision.b)), decision.name)


def _names_are_their_own(concepts: dict[str, Concept]) -> None:
    """A concept's name is found as that concept only: a merged concept that keeps another
    concept's name as an alias ("Paxos Algorithm", now a page of its own) does not count
    the text naming that one as its own mention."""
    named = {concept_key(c.name): key for key, c in concepts.items()}
    for key, concept in concepts.items():
        concept.link_names = [n for n in concept.link_names if named.get(concept_key(n), key) == key]


class SameNames:
    """The names `same` decisions (and kbc-merges.toml) gave to groups of members, in the
    order given: the last a cluster holds whole names it."""

    def __init__(self):
        self.names: dict[frozenset, str] = {}
        self.position: dict[frozenset, int] = {}
        self.of: dict[str, list[frozenset]] = {}  # member -> its groups: a cluster looks at its own only

    def set(self, group: frozenset, name: str) -> None:
        if group not in self.names:
            self.position[group] = len(self.position)
            for member in group:
                self.of.setdefault(member, []).append(group)
        self.names[group] = name

    def own(self, cluster) -> dict[frozenset, str]:
        found = {g for m in cluster for g in self.of.get(m, ())}
        return {g: self.names[g] for g in sorted(found, key=self.position.__getitem__)}


@dataclass
class Made:
    """A cluster's concept as assign() made it, before the fields the database keeps for its
    page (page, hashes) and before _names_are_their_own: reused while its inputs stay."""
    key: str
    first: tuple  # (seq, id) of its oldest member: the clusters' order
    old_name: str | None  # the name the database gave `key` then
    fields: tuple  # the Concept's, in order: plain values read back at C speed (12,000 of them)
    lost: set[str]
    memo: dict = field(default_factory=dict)  # see Identity.memo

    def concept(self) -> Concept:
        return Concept(*self.fields)

    def __reduce__(self):  # stored as a tuple: read back without pickle's per-object state
        return Made, (self.key, self.first, self.old_name, self.fields, self.lost, self.memo)

    @property
    def members(self) -> list[str]:
        return self.fields[_MEMBERS]


_MEMBERS = [f.name for f in fields(Concept)].index("members")


def assign(by_id, clusters, renames, same_names: SameNames, old, weight, settled,
           made: dict | None = None, dirty=frozenset()) -> tuple[Identity, dict]:
    """Concept keys that stay the same across runs: a cluster keeps the key its members had.
    `made`: cluster -> Made of the last assign; a cluster not in `dirty` whose members all
    still hold its key, and no other member, gets the same concept. `weight`: a dict, or a
    function of the member ids it is asked for (those of the clusters made again). Returns
    the identity and the Made of each cluster."""
    holders: dict[str, set[str]] = {}  # concept key -> the members holding it
    for member in by_id.values() if made else ():
        holders.setdefault(member.concept_key, set()).add(member.id)
    order = []
    for cid, members in clusters.items():
        was = made.get(cid) if made and cid not in dirty else None
        if was is not None and not _kept(was, members, holders, old):
            was = None
        order.append((was.first if was else min((by_id[m].seq, m) for m in members), cid, was))
    order.sort(key=lambda o: o[0])
    if callable(weight):  # claims are counted for the members of the clusters made again only
        weight = weight([m for _, cid, was in order if was is None for m in clusters[cid]])
    taken: set[str] = set()
    concepts, member_key, merged, renamed_from, memo, out = {}, {}, {}, {}, {}, {}
    for first, cid, was in order:
        if was is None:
            was = _make(first, clusters[cid], by_id, renames, same_names, old, weight, settled, taken, merged)
        key = was.key
        taken.add(key)
        previous = old.get(key)
        concept = was.concept()
        concept.link_names = list(concept.link_names)
        if previous:
            concept.page, concept.input_hash, concept.prompt_version = \
                previous.page, previous.input_hash, previous.prompt_version
            concept.model, concept.written_claims = previous.model, previous.written_claims
        concepts[key] = concept
        renamed_from[key] = was.lost
        memo[key] = was.memo
        for member in concept.members:
            member_key[member] = key
        out[cid] = was
    identity = Identity(concepts, member_key, merged, renamed_from, memo)
    _names_are_their_own(identity.concepts)
    return identity, out


def _fields_of(concept: Concept) -> tuple:
    return tuple(getattr(concept, f.name) for f in fields(Concept))


def _kept(was: Made, members: set[str], holders: dict[str, set[str]], old) -> bool:
    """A cluster whose concept comes out as it did: the same members, each holding its key,
    which no other member holds, with the same name in the database."""
    key = was.key  # (a cluster whose members changed is dirty: identity_state._follow)
    return (len(members) == len(was.members) and key in old and old[key].name == was.old_name
            and holders.get(key) == members)


def _make(first, cluster, by_id, renames, same_names: SameNames, old, weight, settled, taken, merged) -> Made:
    members = sorted((by_id[m] for m in cluster), key=lambda m: (m.seq, m.id))
    had = Counter(m.concept_key for m in members if m.concept_key in old and m.concept_key not in taken)
    key = max(had, key=lambda k: (k in settled, had[k], -min(m.seq for m in members if m.concept_key == k))) \
        if had else ""
    name = _name(members, renames, same_names.own(cluster), old.get(key))
    if not key:
        key = _fresh_key(concept_key(name) or "concept", taken, old)
    for other in had:
        if other != key:
            merged[other] = key
    lost = {m.name for m in members if m.id in renames and concept_key(renames[m.id]) != concept_key(m.name)}
    names = [n for m in members for n in names_of(m, renames)]
    if key in old and concept_key(old[key].name) != concept_key(name):
        names.append(old[key].name)  # an old name keeps resolving
    aliases = sorted({n for n in names if concept_key(n) != concept_key(name)
                      and n not in lost}, key=str.casefold)
    categories = Counter(m.category for m in members)
    main = max(members, key=lambda m: (weight.get(m.id, 0), -m.seq))
    concept = Concept(
        key=key, name=name, aliases=aliases, definition=main.definition,
        category=max(categories, key=lambda c: (categories[c], c == main.category)),
        page="", members=[m.id for m in members])
    # A generic alias ("leader" of Raft Leader) is like a name renamed away: it counts only
    # next to the rest of the name.
    generic = {a for a in aliases if is_generic_alias(a, name)}
    concept.link_names = [name] + [a for a in aliases if a not in lost | generic]
    concept.qualified = [(n, qualifiers(name, n)) for n in sorted(lost | generic) if qualifiers(name, n)]
    _bare_names(concept)
    return Made(key, first, old[key].name if key in old else None, _fields_of(concept), lost)


def _name(members: list[Member], renames, same_names, previous: Concept | None) -> str:
    ids = {m.id for m in members}
    chosen = [n for group, n in same_names.items() if group <= ids]
    if chosen:
        return chosen[-1]
    for member in members:  # the oldest member's new name, if it was renamed
        if member.id in renames:
            return renames[member.id]
    return members[0].name


# A name ending in one of these says what kind of thing it is; text often names it without:
# "the state machine" for the State Machine Approach.
KIND_WORDS = {"approach", "problem", "method", "technique", "mechanism", "scheme", "strategy",
              "principle", "protocol", "algorithm"}


def _bare_names(concept: Concept) -> None:
    """Text says "Distributed Consensus", not "Distributed Consensus (problem)": a name's
    part before its parenthesis is a name too if it has two words or more, else ("Load
    (consistent hashing)") it counts only next to what the parenthesis says. So is a name
    of three words or more without a last word that names its kind."""
    for name in list(concept.link_names):
        words = name.split()
        if len(words) >= 3 and words[-1].casefold() in KIND_WORDS and "(" not in name:
            concept.link_names.append(" ".join(words[:-1]))
        bare, _, inside = name.partition(" (")
        other, closed, rest = inside.partition(")")
        if closed and rest.strip() and bare.strip() and other.strip():
            _alternative(concept, bare.split(), other.strip(), rest.strip())
            continue
        inside = inside.rstrip(")").strip()
        if not inside or not bare.strip():
            continue
        if len(bare.split()) >= 2:
            concept.link_names.append(bare.strip())
        else:
            concept.qualified.append((bare.strip(), [inside]))


def _alternative(concept: Concept, before: list[str], other: str, rest: str) -> None:
    """"Paxos Ballot (Proposal) Number": the parenthesis is another word for the one before
    it, so text says "Paxos Ballot Number" or "Paxos Proposal Number", and a generic name
    ("Ballot Number") counts next to its qualifier under either word."""
    concept.link_names += [" ".join([*before, rest]), " ".join([*before[:-1], other, rest])]
    word = re.compile(rf"\b{re.escape(before[-1])}\b", re.I)
    concept.qualified += [(word.sub(other, generic), found) for generic, found in list(concept.qualified)
                          if word.search(generic)]


def qualifiers(name: str, generic: str) -> list[str]:
    """What a rename added to a generic name: "Raft Leader" / "Leader" -> ["Raft"];
    "Load (consistent hashing property)" / "Load" -> ["consistent hashing property"];
    "Paxos Ballot (Proposal) Number" / "Ballot Number" -> ["Paxos"]."""
    if generic.casefold() not in name.casefold():
        name = re.sub(r"\s*\([^()]*\)(?=\s+\w)", "", name)  # an alternative word inside the name
    at = name.casefold().find(generic.casefold())
    rest = [name[:at], name[at + len(generic):]] if at >= 0 else [name]
    out = []
    for part in rest:
        part = " ".join(part.replace("(", " ").replace(")", " ").split()).strip(" ,;:-")
        if len(part) >= 3 and concept_key(part) != concept_key(generic):
            out.append(part)
    return out


def _fresh_key(base: str, taken: set[str], old=()) -> str:
    key, number = base, 2
    while key in taken or key in old:
        key, number = f"{base} {number}", number + 1
    return key
