"""How good the lines of other sources are that kbc adds to an article's evidence (for wiki_quality).

The fixture writer cites every source its evidence carries, so any line of a source "covers"
that source; what counts is whether the line is about the concept. Each mention line a write
request carried (recorded by the fixture model) is judged against the gold:
- on a discussing source: gold says that source discusses the concept (its extraction lists a
  concept of the page, or gold_mentions lists the source for it);
- near a gold line: it also lies within WINDOW lines of where gold says the source discusses
  it (a gold_mentions entry's lines, or the claim lines of the source's own fixture concept),
  found by their quotes in the vault's copy of the source (numbering may differ from the gold's).
Scored by the evidence list's heading, so each way of finding lines is judged on its own.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks.wiki_graph import Wiki, link_key
from kbc.compile.evidence import plain
from kbc.vault.frontmatter import split
from tests.fixture_data import Fixture, Gold, NumberedText, norm

WINDOW = 3  # lines either side of a gold line that still count as the same passage
PROBE = 60  # characters of a mention line looked up in its source


@dataclass
class Spot:
    """Where a source discusses a concept, in the gold's numbering, and the quote that pins it."""
    lines: list[tuple[int, int]]
    quote: str


def ranges(lines: str) -> list[tuple[int, int]]:
    out = []
    for part in re.split(r"[,;]", lines or ""):
        numbers = [int(n) for n in re.findall(r"\d+", part)]
        if numbers:
            out.append((numbers[0], numbers[-1]))
    return out


def note_texts(root: Path, wiki: Wiki) -> dict[str, NumberedText]:
    """Fixture stem -> the vault's copy of that source as numbered plain lines."""
    by_note = {}
    for path in (root / "raw").rglob("*.md"):
        if "attachments" not in path.parts:
            body = split(path.read_text(encoding="utf-8"))[1]
            by_note[link_key(path.stem)] = "\n".join(f"{i}| {plain(line)}" for i, line in
                                                     enumerate(body.split("\n"), 1))
    texts = {}
    for stem, key in wiki.summary_of.items():
        source = re.findall(r"\[\[([^\]|#]+)", str(wiki.pages[key].props.get("source") or ""))
        if source and link_key(source[0]) in by_note:
            texts[stem] = NumberedText.parse(by_note[link_key(source[0])])
    return texts


def located(spot: Spot, text: NumberedText) -> list[tuple[int, int]]:
    """A spot's line ranges in the vault's numbering: shifted by where its quote sits."""
    found = text.find(spot.quote) if spot.quote else None
    if not found:
        return spot.lines
    shift = min((found[0] - start for start, _ in spot.lines), key=abs, default=0)
    return [found] + [(a + shift, b + shift) for a, b in spot.lines]


def position(line: str, text: NumberedText) -> int | None:
    """The vault line a mention line was cut from (its longest piece, probed at both ends)."""
    piece = max(line.split("…"), key=len).strip()
    for probe in (piece, piece[:PROBE], piece[-PROBE:], piece[len(piece) // 2:][:PROBE]):
        if len(norm(probe)) >= 12:
            found = text.find(probe)
            if found:
                return found[1] if probe == piece[-PROBE:] else found[0]
    return None


def score_mentions(seen, wiki: Wiki, gold: Gold, fixtures: dict[str, Fixture], root: Path, page,
                   source_tokens: int) -> dict:
    """`seen`: the fixture model's SeenEvidence; `page`: fixture id -> page key."""
    ids_on: dict[str, set[str]] = defaultdict(set)
    for fixture in fixtures.values():
        for concept in fixture.concepts:
            concept_id = fixture.concept_id(concept)
            key = page(concept_id)
            if key:
                ids_on[key].add(concept_id)
    claims = {f.concept_id(c): (f.stem, c["claims"]) for f in fixtures.values() for c in f.concepts}
    mentions = {m["concept"]: m["also_discussed_in"] for m in gold.mentions}
    stem_of = {key: stem for stem, key in wiki.summary_of.items()}
    texts = note_texts(root, wiki)

    def spots(key: str) -> dict[str, list[Spot]]:
        out: dict[str, list[Spot]] = defaultdict(list)
        for concept_id in ids_on.get(key, ()):
            for member in gold.group_of(concept_id):
                stem, member_claims = claims.get(member, ("", []))
                for claim in member_claims:
                    out[stem].append(Spot(ranges(claim["lines"]), claim.get("quote", "")))
            for entry in mentions.get(gold.representative(concept_id), []):
                out[entry["source"]].append(Spot(ranges(entry["lines"]), entry["quote"]))
        return out

    kinds: dict[str, dict] = {}
    off_topic = []
    for evidence in seen:
        if not evidence.mention:
            continue
        key, stem = wiki.names.get(link_key(evidence.concept)), stem_of.get(wiki.names.get(link_key(evidence.source)))
        entry = kinds.setdefault(evidence.heading, {"lines": 0, "tokens": 0, "discussing_source": 0,
                                                    "near_gold_line": 0, "unjudged": 0})
        entry["lines"] += 1
        entry["tokens"] += (len(evidence.text) + 3) // 4 + 4
        where = spots(key) if key else {}
        if stem is None or key is None:
            entry["unjudged"] += 1
            continue
        tag = "named" if "name it" in evidence.heading else "words"
        if stem not in where:
            off_topic.append(f"[{tag}] {evidence.concept} <- {stem}: {evidence.text[:400]}")
            continue
        entry["discussing_source"] += 1
        at = position(evidence.text, texts[stem]) if stem in texts else None
        near = at is not None and any(a - WINDOW <= at <= b + WINDOW
                                      for spot in where[stem] for a, b in located(spot, texts[stem]))
        entry["near_gold_line"] += near
        if not near:
            off_topic.append(f"[{tag}] {evidence.concept} <- {stem} (not near a gold line): {evidence.text[:400]}")
    for entry in kinds.values():
        entry["source_precision"] = round(entry["discussing_source"] / entry["lines"], 3) if entry["lines"] else 0.0
        entry["line_precision"] = round(entry["near_gold_line"] / entry["lines"], 3) if entry["lines"] else 0.0
        entry["tokens_per_source_token"] = round(entry["tokens"] / source_tokens, 4) if source_tokens else 0.0
    return {"mention_lines": kinds, "mention_off_topic": off_topic}
