"""A concept whose material does not fit one write request is written in parts, one per group
of its sources, and the parts' articles are merged (in rounds, when they do not fit one request
either): every request fits the model's context window, and no claim is cut or left out."""
from __future__ import annotations

from dataclasses import dataclass, replace

from kbc.compile.articles import WRITE_TEMPLATE, Job, articles_schema, check_articles, clean_paragraph
from kbc.compile.rows import Evidence
from kbc.errors import KbcError
from kbc.llm import Request
from kbc.llm.prompts import pack, text_of

MERGE_TEMPLATE = "prompts/merge_article.j2"
SAFETY = 0.9  # token counts for an endpoint are estimates: a tenth of the room stays free
_EMPTY = {"name": "", "aliases": [], "related": [], "keep": "", "parts": []}


def write_room(templates, count_tokens, window: int, max_output: int) -> int:
    """Tokens the concepts of one write or merge request may take in the window."""
    overhead = max(
        count_tokens(text_of(templates.prompt(WRITE_TEMPLATE, concepts=[], sources=[]).messages())),
        count_tokens(text_of(templates.prompt(MERGE_TEMPLATE, concept=_EMPTY, sources=[]).messages())))
    room = int((window - max_output - overhead - 64) * SAFETY)
    if room < 300:
        raise KbcError(f"context window of {window} tokens is too small to write articles "
                       f"(set [llm] context_window, or a smaller max_output_tokens)")
    return room


def _base(job: Job, count_tokens) -> int:
    """What a part repeats of its concept: name, aliases, related pages."""
    c = job.concept
    return sum(count_tokens(t) + 3 for t in [c.name, *c.aliases, *job.related]) + 20


def split_job(job: Job, room: int, count_tokens) -> list[Job]:
    """The job's evidence in groups of whole sources, each small enough for one request; a
    source with more than fits alone is itself split between its lines."""
    by_source: dict[str, list[Evidence]] = {}
    for evidence in job.evidence:
        by_source.setdefault(evidence.source_page, []).append(evidence)
    base = _base(job, count_tokens)
    parts: list[list[Evidence]] = []
    current: list[Evidence] = []
    size = base
    for source, items in by_source.items():
        named = count_tokens(source) + 4
        weights = [count_tokens(e.text) + 6 for e in items]
        if current and size + named + sum(weights) > room >= base + named + sum(weights):
            parts.append(current)
            current, size = [], base
        first = True
        for evidence, weight in zip(items, weights):
            if current and size + weight + (named if first else 0) > room:
                parts.append(current)
                current, size, first = [], base, True
            current.append(evidence)
            size += weight + (named if first else 0)
            first = False
    if current:
        parts.append(current)
    return [replace(job, evidence=evidence, state="part") for evidence in parts]


@dataclass
class Piece:
    """A part's (or a merge's) article: paragraphs with the source pages each cites."""
    paragraphs: list[tuple[str, list[str]]]

    def tokens(self, count_tokens) -> int:
        return sum(count_tokens(text) + 4 * len(cited) + 3 for text, cited in self.paragraphs)

    def sources(self) -> list[str]:
        return list(dict.fromkeys(page for _, cited in self.paragraphs for page in cited))


def piece_of(article: dict, numbered: list[str]) -> Piece:
    """An answer's article with its request-local source numbers turned into page names."""
    paragraphs = []
    for paragraph in article["paragraphs"]:
        cited = list(dict.fromkeys(numbered[n - 1] for n in paragraph["sources"] if 1 <= n <= len(numbered)))
        cited = cited or numbered[:1]
        # multi_source False: "the author" is named once, when the final article is made
        paragraphs.append((clean_paragraph(paragraph["text"], numbered, False, cited), cited))
    return Piece(paragraphs)


def as_article(job: Job, piece: Piece) -> tuple[dict, list[str]]:
    numbered = piece.sources()
    return ({"name": job.concept.name,
             "paragraphs": [{"text": text, "sources": [numbered.index(p) + 1 for p in cited]}
                            for text, cited in piece.paragraphs]}, numbered)


def merge_groups(pieces: list[Piece], count_tokens, room: int, base: int) -> list[list[Piece]]:
    """Pieces grouped into merge requests that fit; always fewer groups than pieces."""
    groups = pack(pieces, lambda p: p.tokens(count_tokens), len(pieces), max(room - base, 1))
    if len(groups) == len(pieces):  # no two fit together (a tiny window): merge pairs anyway
        groups = [pieces[i:i + 2] for i in range(0, len(pieces), 2)]
    return groups


def merge_request(job: Job, pieces: list[Piece], keep: str, templates, max_output: int) -> tuple[Request, list[str]]:
    numbered = list(dict.fromkeys(page for piece in pieces for page in piece.sources()))
    parts = [[{"text": text, "numbers": [numbered.index(p) + 1 for p in cited]} for text, cited in piece.paragraphs]
             for piece in pieces]
    concept = {"name": job.concept.name, "aliases": job.concept.aliases, "related": job.related,
               "keep": keep, "parts": parts}
    prompt = templates.prompt(MERGE_TEMPLATE, concept=concept, sources=numbered)
    return Request("write", prompt, articles_schema(1), max_output,
                   label=f"merge {len(pieces)} parts of {job.concept.name}", check=check_articles), numbered


def merge_base(job: Job, keep: str, count_tokens) -> int:
    return _base(job, count_tokens) + count_tokens(keep)
