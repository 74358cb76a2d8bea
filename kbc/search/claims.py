"""Claims as the bridge from the question to exact source lines: compile stores each claim an
extraction made with the note lines it rests on, worded as the wiki words it. A claim lends its
lines two things: how well it matches the question (in the wiki's words, whatever words the
source uses) and how relevant its concept's page is; within a line holding many sentences, the
sentence the claim restates gets the most of it (kbc.search.excerpts)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kbc.search.excerpts import bm25
from kbc.vault import Vault
from kbc.vault.links import link_key


@dataclass
class LineClaim:
    match: float  # BM25 share (0..1) of the claim, its concept's name counted, against the question
    page: float  # relevance of its concept's page, as a share of the best page (0..1)
    words: frozenset[str]  # the claim's own stems, to find the sentence it restates


def line_claims(vault: Vault, notes: dict[str, str], terms: dict[str, float], tokens,
                pages: dict[str, float]) -> dict[tuple[str, int], list[LineClaim]]:
    """(source page key, line) -> the claims resting on that line. `notes`: link key of a raw
    note's stem -> the key of the source page summarising it (only their claims are read);
    `pages`: page link key -> its relevance to the question."""
    with vault.db_lock:
        rows = vault.db.execute(
            "select k.source_path, k.lines, k.text, coalesce(c.name, ''), coalesce(c.page, '') from claims k "
            "left join concepts c on c.key = k.concept_key where k.lines != '' "
            "order by k.source_path, k.id").fetchall()
    found, seen = [], set()
    for path, lines, text, name, page in rows:
        source = notes.get(link_key(Path(path).stem))
        numbers = _numbers(lines)
        # A claim naming a second concept of its source is filed under both (compile's naming
        # claims, stored after the extraction's own): it votes once, as its own concept's.
        if source and numbers and (path, lines, text) not in seen:
            seen.add((path, lines, text))
            weight = min(pages.get(link_key(page or name), 0.0), 1.0)
            found.append((source, numbers, tokens(f"{name} {text}"), weight, frozenset(tokens(text))))
    if not found:
        return {}
    scores = bm25([words for _, _, words, _, _ in found], terms)
    out: dict[tuple[str, int], list[LineClaim]] = {}
    for (source, numbers, _, weight, own), score in zip(found, scores):
        for number in numbers:
            out.setdefault((source, number), []).append(LineClaim(score, weight, own))
    return out


def _numbers(lines: str) -> list[int]:
    out = []
    for part in str(lines or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.strip().isdigit():
            out.extend(range(int(low), int(high) + 1 if high.strip().isdigit() else int(low) + 1))
    return out
