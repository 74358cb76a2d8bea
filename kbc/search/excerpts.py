"""The source sentences behind the chosen pages: the lines each page cites, read sentence by
sentence, ranked by the question's words and by how much the citing page matters."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kbc.search.pageinfo import PageCache

PAGE_PRIOR = 0.5  # a sentence cited by the best page starts with this much of a full match
SUPPORT = 1.0  # ... plus this much when the citing page restates all of it
UNCITED = 0.5  # a line no chosen page cites: its match counts this much
MIN_SCORE = 0.3  # below this a sentence is not evidence worth its tokens
MIN_WORDS = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass
class Sentence:
    source: str  # link key of the source page whose note holds it
    line: int
    position: int  # order within the line
    text: str
    score: float


def split_sentences(line: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(line.strip()) if s.strip()]


def candidate_sentences(cache: PageCache, cited_by: list[tuple[float, dict, set[str]]], match,
                        words) -> list[Sentence]:
    """`cited_by`: (relative score of the citing page, its {source key: line ranges}, the words
    of its text). `match(text)`: the weighted share of the question's words in text (0..1);
    `words(text)`: its content words. A cited sentence gains by the page citing it and by how
    much of it that page restates: the evidence for what the relevant pages say."""
    citers: dict[tuple[str, int], list[tuple[float, set[str]]]] = {}
    for weight, cited, page_words in cited_by:
        for source_key, ranges in cited.items():
            for low, high in ranges:
                for number in range(low, high + 1):
                    citers.setdefault((source_key, number), []).append((min(weight, 1.0), page_words))
    raw = []
    for source_key in sorted({key for key, _ in citers}):
        source = cache.get(source_key)
        note = cache.note_lines(source.note) if source and source.note else None
        for number, line in enumerate(note[1] if note else [], start=1):
            for position, sentence in enumerate(split_sentences(line)):
                if len(sentence.split()) >= MIN_WORDS:
                    raw.append((source_key, number, position, sentence, words(sentence)))
    rarity = _rarity([w for *_, found in raw for w in found], len(raw))
    out = []
    for source_key, number, position, sentence, found in raw:
        score = match(sentence)
        pages = citers.get((source_key, number))
        if pages is None:  # a line no relevant page cites counts only by what it says
            score *= UNCITED
        else:
            total = sum(rarity[w] for w in found) or 1.0
            score += max(weight * (PAGE_PRIOR + SUPPORT * sum(rarity[w] for w in found & page) / total)
                         for weight, page in pages)
        out.append(Sentence(source_key, number, position, sentence, score))
    return out


def _rarity(words: list[str], documents: int) -> dict[str, float]:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return {w: math.log(1 + documents / n) for w, n in counts.items()}


def pick(sentences: list[Sentence], budget: int, count_tokens, already: str) -> list[Sentence]:
    """The best sentences that fit, none already given (in a page's text) or repeated."""
    given = _plain(already)
    chosen, seen, spent = [], set(), 0
    for sentence in sorted(sentences, key=lambda s: (-s.score, s.source, s.line, s.position)):
        if sentence.score < MIN_SCORE:
            break
        plain = _plain(sentence.text)
        cost = count_tokens(sentence.text) + 2
        if plain in seen or plain in given or spent + cost > budget:
            continue
        seen.add(plain)
        chosen.append(sentence)
        spent += cost
    return sorted(chosen, key=lambda s: (s.source, s.line, s.position))


def grouped(sentences: list[Sentence]) -> dict[str, list[tuple[int, str]]]:
    """source key -> [(line, its chosen sentences joined, '…' where some were left out)]."""
    out: dict[str, list[tuple[int, str]]] = {}
    for sentence in sentences:
        lines = out.setdefault(sentence.source, [])
        if lines and lines[-1][0] == sentence.line:
            lines[-1] = (sentence.line, lines[-1][1] + " … " + sentence.text)
        else:
            lines.append((sentence.line, sentence.text))
    return out


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))

