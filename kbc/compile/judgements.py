"""The model's judgements of claims of other sources (claim_judging.py asks them): the store of
every answer, and what the accepted ones give a concept: evidence its page cites, and a link
to the claim's own concept."""
from __future__ import annotations

import hashlib

from kbc.compile.material import Material
from kbc.compile.rows import Claim, Concept, Evidence


def claim_id(claim: Claim) -> str:
    """Stable across runs while the source's extraction keeps the claim, and when its note is
    renamed (the concept's name key and the text, not the path)."""
    return hashlib.sha256(f"{claim.member.split('::', 1)[-1]}\n{claim.text}".encode()).hexdigest()[:16]


class ClaimJudgements:
    """The stored answers: (a member of the concept, a claim, about or not)."""

    def __init__(self, db, lock):
        self.db, self.lock = db, lock

    def rows(self) -> list[dict]:
        with self.lock:
            return list(self.db.query("select member, claim_id, about from claim_judgements order by id"))

    def asked(self) -> set[tuple[str, str]]:
        """(member, claim id) of every judgement, as plain tuples (no dict per row: 100,000s)."""
        with self.lock:
            return set(self.db.execute("select member, claim_id from claim_judgements").fetchall())

    def add(self, judged: list[tuple[str, str, bool]], stamp: str) -> None:
        if judged:
            with self.lock, self.db.conn:
                self.db["claim_judgements"].insert_all(
                    [{"member": m, "claim_id": c, "about": int(a), "decided_at": stamp} for m, c, a in judged])

    def accepted(self, concepts: dict[str, Concept], member_key: dict[str, str],
                 claims: list[Claim]) -> dict[str, list[Claim]]:
        """Concept key -> the claims judged about it that its extraction still holds, in claim order,
        none of its own."""
        with self.lock:
            rows = self.db.execute("select member, claim_id from claim_judgements where about = 1 "
                                   "order by id").fetchall()
        if not rows:  # no claim is hashed when none was accepted
            return {}
        by_id = {claim_id(c): c for c in claims if c.kind == "claim"}
        out: dict[str, list[Claim]] = {}
        for member, judged in rows:
            key, claim = member_key.get(member), by_id.get(judged)
            if key in concepts and claim and member_key.get(claim.member) != key and claim not in out.get(key, []):
                out.setdefault(key, []).append(claim)
        return out


def accepted_evidence(evidence: Material, accepted: dict[str, list[Claim]], pages: dict[str, str]) -> Material:
    """Each concept's evidence with the claims judged about it after its own."""
    for key, found in accepted.items():
        if key not in evidence:
            continue
        items = evidence[key]
        own = [e for e in items if e.kind != "mention"]
        extra = [Evidence(pages.get(c.source_path, ""), c.text, c.lines, "claim") for c in found]
        extra = [e for e in extra if e.source_page and e not in own]
        evidence.extend(key, own + extra + [e for e in items if e.kind == "mention"], extra)
    return evidence


def accepted_relations(accepted: dict[str, list[Claim]], member_key: dict[str, str],
                       relations: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """(concept, claim's concept, "related") where no decision links or parts them yet."""
    if not accepted:
        return []
    known = {frozenset((a, b)) for a, b, _ in relations}
    out = []
    for key, found in sorted(accepted.items()):
        for claim in found:
            other = member_key.get(claim.member)
            if other and other != key and frozenset((key, other)) not in known:
                known.add(frozenset((key, other)))
                out.append((key, other, "related"))
    return out
