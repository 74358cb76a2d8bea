"""Code decides whether a generated answer is supported: by the page sentences it cites, and
those sentences by the claims the sources made. Word overlap, numbers, names; no model."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from kbc.vault.links import CITATION, WIKILINK
from kbc.vault.pages import own_body

ANSWER_COVERAGE = 0.6  # share of an answer's content words its evidence sentences must hold
CLAIM_COVERAGE = 0.5  # share of a cited sentence's content words the page's claims must hold

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_CITATION = re.compile(CITATION.pattern + r"\s*$")  # closing its paragraph
_STOP = frozenset("""a an and are as at be been but by can could did do does for from had has have how
if in into is it its it's may might more most much must no not of on one or other our so such than
that the their them then there these they this those through to too two up very was we were what
when where which while who whom why will with would you your also each any both many same some only
about after before between over under own well just like""".split())


@dataclass
class Sentence:
    number: int  # numbered across one request, as the model sees it
    concept: str  # the page it comes from
    text: str
    sources: list[str] = field(default_factory=list)  # pages its paragraph cites


def stem(word: str) -> str:
    """A crude English stem: enough for 'replicas' to meet 'replica' and 'elected' 'elect'."""
    for suffix in ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "es", "ed", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word


def content_words(text: str) -> set[str]:
    return {stem(w) for w in _WORD.findall(text.casefold()) if w not in _STOP and (len(w) > 2 or w.isdigit())}


def coverage(part: str, whole: str) -> float:
    words = content_words(part)
    return len(words & content_words(whole)) / len(words) if words else 0.0


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def plain(text: str) -> str:
    """Wikilinks shown as their text, emphasis marks dropped, spaces collapsed."""
    text = WIKILINK.sub(lambda m: "" if m["embed"] else (m["shown"] or m["target"]), text)
    return " ".join(re.sub(r"(\*\*|__|\*|`)", "", text).split())


def page_sentences(name: str, body: str, page_sources: list[str]) -> list[tuple[str, list[str]]]:
    """(sentence, cited pages) for the article part of a concept page: each paragraph's
    closing citation '([[A (source)]], [[B (source)]])' applies to its sentences; the italic
    definition line cites the page's sources."""
    text = own_body(body).split("\n## Sources", 1)[0]
    out = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if not paragraph or paragraph.startswith(("#", "|", "```", "<!--")):
            continue
        cited = page_sources
        match = _CITATION.search(paragraph)
        if match:
            cited = re.findall(r"\[\[([^\]|#]+)", match.group(1))
            paragraph = paragraph[: match.start()]
        for sentence in _SENTENCE_END.split(plain(paragraph.strip("*"))):
            if len(sentence.split()) >= 4:
                out.append((sentence.strip(), list(cited)))
    return out


def check_pair(question: str, answer: str, evidence: list[Sentence], names: dict[str, list[str]],
               claims: dict[str, list[str]] | None) -> tuple[str, str]:
    """("", "") when the pair is supported, else (kind of rejection, reason).

    names: concept page -> its name and aliases; claims: concept page -> its claims' texts
    (None when the database holds no claims, e.g. a vault cloned without .kbc/)."""
    if len(question.split()) < 2 or len(answer.split()) < 4:
        return "vague", "question or answer too short to teach anything"
    if not evidence:
        return "unsupported", "cites no sentence of the pages given"
    grounds = " ".join(s.text for s in evidence)
    share = coverage(answer, grounds)
    if share < ANSWER_COVERAGE:
        return "unsupported", f"only {share:.0%} of the answer's words are in the sentences it cites"
    extra = numbers(answer) - numbers(grounds)
    if extra:
        return "unsupported", f"number {sorted(extra)[0]} is not in the sentences it cites"
    for sentence in evidence:
        backing = (claims or {}).get(sentence.concept)
        if claims is not None and backing is not None and coverage(sentence.text, " ".join(backing)) < CLAIM_COVERAGE:
            return "unsupported", f"sentence {sentence.number} of {sentence.concept!r} is not backed by its claims"
    concepts = dict.fromkeys(s.concept for s in evidence)
    if not any(coverage(name, question) >= 0.5 for page in concepts for name in names.get(page, [page])):
        return "vague", "the question does not name the concept it is about"
    return "", ""
