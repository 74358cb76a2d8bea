"""The consolidation compiling the union would have done, replayed after the rows come over.

Consolidation asks each new concept about its best few candidates. Each vault asked that
among its own concepts; compiling the union would have asked it among all of them, before
any merge, and some of those pairs meet across the two vaults. So the merged members are
laid out as that first run saw them (one concept per member, in path order, no decision
yet), the union's candidate pairs are found the same way, and only those neither vault
decided are asked. The compile that follows then finds nothing new to consolidate.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from kbc.compile.concepts import concept_key
from kbc.compile.claim_judging import ClaimQuestions
from kbc.compile.consolidate import Neighbourhood, batches, candidate_pairs, decided_pairs, decisions_from
from kbc.compile.identity import MERGES_FILE, Identity, Overrides, build, load_overrides
from kbc.compile.manifest import Manifest
from kbc.compile.rows import Member
from kbc.compile.sources import scan_sources
from kbc.errors import KbcError
from kbc.llm import LLM, BackendError, BudgetExceeded, EndpointUnavailable, ItemFailed, Request, Templates
from kbc.vault import Vault


@dataclass
class Replay:
    pairs: int = 0  # the union's candidate pairs
    asked: int = 0  # of those, decided by neither vault: asked now
    stopped: str = ""  # why some were not asked (the compile after asks them its own way)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Plan:
    identity: Identity
    members: dict[str, Member]
    titles: dict[str, str]
    pairs: list[tuple[str, str]]  # all the union's pairs
    todo: list[tuple[str, str]]  # those no decision covers
    near: Neighbourhood  # what the union's blocking found, for its claim questions


def _person_pairs(identity: Identity, overrides: Overrides) -> set[frozenset]:
    """Pairs a person named together in kbc-merges.toml: the union would not ask them either."""
    by_name: dict[str, set[str]] = {}
    for key, concept in identity.concepts.items():
        for name in [concept.name, *concept.aliases]:
            by_name.setdefault(concept_key(name), set()).add(key)
    out = set()
    for group in overrides.same + overrides.different:
        keys = [by_name.get(concept_key(n), set()) for n in group]
        out |= {frozenset((x, y)) for i, a in enumerate(keys) for b in keys[i + 1:] for x in a for y in b if x != y}
    return out


def _plan(vault: Vault) -> _Plan:
    manifest = Manifest(vault)
    ordered = sorted(manifest.members(), key=lambda m: (m.source_path, m.seq, m.id))  # as one run extracts
    fresh = [replace(m, seq=n, considered=False, concept_key="") for n, m in enumerate(ordered, start=1)]
    weight = Counter(claim.member for claim in manifest.claims())
    identity = build(fresh, [], Overrides(), {}, dict(weight), set())
    members = {m.id: m for m in fresh}
    titles = {path: row.title for path, row in manifest.sources().items()}
    try:
        person = _person_pairs(identity, load_overrides(vault.root / MERGES_FILE))
    except KbcError:
        person = set()
    near = Neighbourhood()
    pairs = candidate_pairs(identity.concepts, members, person, titles, near)
    # A pair is settled when its members' concepts are one already, or were decided about
    # (through any of their members): the graph reads decisions concept by concept.
    decisions = manifest.decisions()
    now = build(manifest.members(), decisions, Overrides(), manifest.concepts(), dict(weight)).member_key
    settled = decided_pairs(decisions, now)
    rep = {key: concept.members[0] for key, concept in identity.concepts.items()}
    todo = [p for p in pairs if now[rep[p[0]]] != now[rep[p[1]]]
            and frozenset((now[rep[p[0]]], now[rep[p[1]]])) not in settled]
    return _Plan(identity, members, titles, pairs, todo, near)


def _requests(vault: Vault, plan: _Plan, claims: ClaimQuestions, templates: Templates, max_output: int):
    """The pairs neither vault decided, and the claim questions the union would have asked
    that neither vault judged (kbc/compile/claim_judging.py)."""
    todo = batches(plan.todo, [], plan.identity.concepts, plan.members, plan.titles, templates, max_output) \
        if plan.todo else []
    union = batches(plan.pairs, list(plan.identity.concepts), plan.identity.concepts, plan.members, plan.titles,
                    templates, max_output)
    return claims.replay(union, todo, plan.near, plan.identity, plan.titles, scan_sources(vault)[0])


def replay_requests(vault: Vault, templates: Templates, max_output: int) -> list[Request]:
    """What replay_consolidation would send (for a dry run's estimate)."""
    claims = ClaimQuestions(vault, None, templates, Manifest(vault), max_output)
    return [b.request for b in _requests(vault, _plan(vault), claims, templates, max_output)]


def replay_consolidation(vault: Vault, llm: LLM, templates: Templates, max_output: int) -> Replay:
    plan = _plan(vault)
    report = Replay(len(plan.pairs), len(plan.todo))
    claims = ClaimQuestions(vault, llm, templates, Manifest(vault), max_output)
    todo = _requests(vault, plan, claims, templates, max_output)
    try:
        results = llm.complete_all([b.request for b in todo]) if todo else []
    except (BudgetExceeded, EndpointUnavailable) as exc:
        report.stopped = str(exc)
        return report
    manifest = Manifest(vault)
    for batch, result in zip(todo, results):
        if isinstance(result, BackendError):  # never answered: the compile after asks its own way
            report.stopped = str(result)
            continue
        if isinstance(result, ItemFailed):  # answered, unusable: like compile, not paid again
            continue
        manifest.add_decisions(decisions_from(batch, result.data, plan.identity.concepts))
        claims.answered(batch, result.data, plan.identity.concepts)
    if not report.stopped:
        manifest.mark_considered([m.id for m in manifest.members() if not m.considered])
    return report
