"""Claims as the bridge from the question to exact source lines: compile stores each claim an
extraction made with the note lines it rests on, worded as the wiki words it. A claim that
matches the question lends its lines that match, whatever words the source itself uses."""
from __future__ import annotations

from pathlib import Path

from kbc.search.excerpts import bm25
from kbc.vault import Vault
from kbc.vault.links import link_key


def claim_lines(vault: Vault, notes: dict[str, str], terms: dict[str, float], tokens) -> dict[tuple[str, int], float]:
    """(source page key, line) -> the best BM25 share (0..1) of a claim resting on that line, its
    concept's name counted as part of it. `notes`: link key of a raw note's stem -> the key of
    the source page summarising it; only their claims are read."""
    with vault.db_lock:
        rows = vault.db.execute(
            "select k.source_path, k.lines, k.text, coalesce(c.name, '') from claims k "
            "left join concepts c on c.key = k.concept_key where k.lines != '' "
            "order by k.source_path, k.id").fetchall()
    claims = []
    for path, lines, text, name in rows:
        source = notes.get(link_key(Path(path).stem))
        numbers = _numbers(lines)
        if source and numbers:
            claims.append((source, numbers, tokens(f"{name} {text}")))
    if not claims:
        return {}
    scores = bm25([words for *_, words in claims], terms)
    out: dict[tuple[str, int], float] = {}
    for (source, numbers, _), score in zip(claims, scores):
        for number in numbers:
            if score > out.get((source, number), 0.0):
                out[(source, number)] = score
    return out


def _numbers(lines: str) -> list[int]:
    out = []
    for part in str(lines or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.strip().isdigit():
            out.extend(range(int(low), int(high) + 1 if high.strip().isdigit() else int(low) + 1))
    return out
