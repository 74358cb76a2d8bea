"""The source sentences behind the chosen pages: the notes the relevant pages cite, read
sentence by sentence (a sentence may run over wrapped lines), ranked by BM25 against the
question, by the pages citing their lines and by how much of them those pages restate, and by
the claims resting on their lines (kbc.search.claims)."""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from kbc.search.pageinfo import PageCache
from kbc.vault.bibliography import REFERENCES_HEADING
from kbc.vault.text import SOFT_HYPHEN, is_caption, is_debris, left_open

PAGE_PRIOR = 0.5  # a sentence cited by the best page starts with this much of a full match
SUPPORT = 1.0  # ... plus this much when the citing page restates all of it
NEAR = 0.8  # an uncited sentence next to a cited one (a claim's context) gets this share of its score
NEAR_LINES = 1  # ... when within this many lines of it (a wrapped note's next line)
LEXICAL = 0.5  # the question's words count half as much as the pages' votes: facts are worded otherwise
CLAIM = 1.0  # a line's best matching claim adds this share of a full match
PAGE_VOTE = 0.5  # on a line claims rest on, a citing page's vote counts this much beside theirs
CLAIM_MATCH = 0.5  # a claim votes with this share of its match to the question plus its page's relevance,
CLAIM_PRIOR = 0.3  # ... times this plus the share of the claim's words the sentence holds
SOURCE = 0.5  # a sentence keeps this share of its score, the rest by its source page's relevance
MIN_SCORE = 0.4  # below this a sentence is not evidence worth its tokens
STOP = 0.35  # ... nor under this share of the best one's score, unless pages and claims vouch for
VOUCH = 0.5  # ... this share of that
MIN_WORDS = 4
REPEATED = 3  # a sentence found this many times in one note (digits aside) is boilerplate
K1, B = 1.2, 0.75  # BM25's usual constants
LINE_COST = 2  # a sentence's share of its excerpt line's 'lines 12-13: ' (sentences of one line share it)
BACK_CHAIN = 3  # a sentence pointing back brings at most this many sentences in all
# Openings that point back to the sentence before (a pronoun, a connective).
_BACK = re.compile(r"(?:this|that|these|those|it|its|they|their|such|thus|hence|so|therefore|however|moreover|"
                   r"furthermore|also|but|instead|similarly|otherwise|then|to do so|to do this|as a result|"
                   r"in other words|in this case|in either case|in addition|that is|for example|for instance)\b", re.I)
_DIGITS = re.compile(r"\d+")
_OPENING_QUOTE = re.compile(r"(?:^|(?<=[\s(\[]))\"(?=\S)")
# A sentence ends at its stop, or at the quotation mark closing after it ('... spring." Other').
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"\u201d]))\s+(?=[A-Z0-9\"'(\[\u201c])")


@dataclass
class Sentence:
    source: str  # link key of the source page whose note holds it
    line: int  # first line
    end: int  # last line (a sentence wrapped over lines)
    position: int  # order within its paragraph
    text: str
    score: float = 0.0
    vote: float = 0.0  # what the pages and claims citing its lines give it
    paragraph: int = 0  # first line of its paragraph


def split_sentences(line: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(line.strip()) if s.strip()]


def note_sentences(source_key: str, lines: list[str]) -> list[Sentence]:
    """A note's sentences, each with the lines it spans: a paragraph's lines are read as one text."""
    out: list[Sentence] = []
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        text, starts = "", []
        for number, line in paragraph:
            if text.endswith(SOFT_HYPHEN + " "):
                text = text[:-2]  # the PDF's own mark of a word broken at the line's end (ingest/pdf.py)
            elif text.endswith("- ") and text[-3:-2].isalpha() and line.lstrip()[:1].islower():
                text = text[:-1]  # a word hyphenated at the end of a line or page: "be-" + "fore"
            starts.append((len(text), number))
            text += line.strip() + " "
        cursor = 0
        for position, sentence in enumerate(split_sentences(text)):
            begin = text.index(sentence, cursor)
            cursor = begin + len(sentence)
            first = max(n for at, n in starts if at <= begin)
            last = max(n for at, n in starts if at < cursor)
            if len(sentence.split()) >= MIN_WORDS:
                out.append(Sentence(source_key, first, last, position, sentence, paragraph=paragraph[0][0]))
        paragraph.clear()

    # A line printed on every page (a running head, a page number) is no part of the text it interrupts.
    counts = Counter(_DIGITS.sub("#", line.strip().casefold()) for line in lines if line.strip())
    furniture = {key for key, count in counts.items() if count >= REPEATED}
    broken = False  # a blank line, a page marker, an image or a running head since the paragraph's last line
    code = False  # inside a fenced block: its lines are no prose that a page break splits
    for number, line in enumerate(lines, start=1):
        if number > len(lines) / 2 and REFERENCES_HEADING.match(line):
            break  # a paper's bibliography: titles that match every question, and no evidence
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            code = not code
            flush()
        elif stripped and not stripped.startswith(("#", "<!--", "![")) and (
                code or not (is_debris(stripped) or _DIGITS.sub("#", stripped.casefold()) in furniture)):
            if broken and not code and _continues(paragraph, stripped) and len(stripped.split()) < MIN_WORDS:
                continue  # a figure's label ("jeopardy") between the halves of a broken sentence
            if broken and (code or not _continues(paragraph, stripped)):
                flush()
            paragraph.append((number, line))
            broken = False
        elif stripped.startswith("#") and paragraph:
            flush()
        else:
            broken = bool(paragraph)
    if paragraph:
        flush()
    # A paper's running head or footer ("End-to-End Arguments in System Design 3"), a log line
    # printed over and over: the same words on every page say nothing about any of them.
    keys = [_DIGITS.sub("#", sentence.text.casefold()) for sentence in out]
    seen = Counter(keys)
    return [s for s, key in zip(out, keys) if seen[key] < REPEATED]


def _continues(paragraph: list[tuple[int, str]], line: str) -> bool:
    """Whether `line` goes on with the sentence the paragraph left open: a PDF's page or column
    break (a page marker, a blank line) falls mid-sentence, "... how it" then "works, and ..."."""
    return bool(paragraph) and line[:1].islower() and left_open(paragraph[-1][1]) \
        and not is_caption(paragraph[0][1])


def candidate_sentences(cache: PageCache, cited_by: list[tuple[float, dict, set[str]]], terms: dict[str, float],
                        tokens, words, claims=None, sources=None) -> list[Sentence]:
    """`cited_by`: (relative score of the citing page, its {source key: line ranges}, the words
    of its text). `terms`: the question's stems and their weights; `tokens(text)`: its stems;
    `words(text)`: its content words; `claims(notes)`: kbc.search.claims.line_claims for those
    notes; `sources`: source page key -> its relevance to the question (share of the best page).
    Scored: BM25 share of the best match (plus the best matching claim's), plus the best citing
    page's vote (its score, more when it restates the sentence) and the best claim's vote (its
    match and its page's relevance, more the more of it the sentence holds: of a line's
    sentences, the one the claim restates); an uncited sentence next to a cited one gets part of
    that vote (a claim's line often needs its neighbour); all of it weighed by how relevant the
    sentence's source is, against the most relevant one's."""
    citers: dict[tuple[str, int], list[tuple[float, set[str]]]] = {}
    for weight, cited, page_words in cited_by:
        for source_key, ranges in cited.items():
            for low, high in ranges:
                for number in range(low, high + 1):
                    citers.setdefault((source_key, number), []).append((min(weight, 1.0), page_words))
    sentences: list[Sentence] = []
    for source_key in sorted({key for key, _ in citers}):
        source = cache.get(source_key)
        note = cache.note_lines(source.note) if source and source.note else None
        if note:
            sentences.extend(note_sentences(source_key, note[1]))
    if not sentences:
        return []
    stems = [tokens(s.text) for s in sentences]
    found = [words(s.text) for s in sentences]
    lexical = bm25(stems, terms)
    rarity = _rarity([w for f in found for w in f], len(sentences))
    votes = []
    for sentence, present in zip(sentences, found):
        pages = [p for n in range(sentence.line, sentence.end + 1) for p in citers.get((sentence.source, n), [])]
        total = math.fsum(rarity[w] for w in present) or 1.0
        votes.append(max((weight * (PAGE_PRIOR + SUPPORT * math.fsum(rarity[w] for w in present & page) / total)
                          for weight, page in pages), default=0.0))
    if claims is not None:
        found_claims = claims({key: cache.get(key).note for key in sorted({s.source for s in sentences})})
        for index, sentence in enumerate(sentences):
            on_lines = [c for n in range(sentence.line, sentence.end + 1)
                        for c in found_claims.get((sentence.source, n), [])]
            # Lines whose claims match the question (in the wiki's words) count like matching text.
            lexical[index] += CLAIM * max((c.match for c in on_lines), default=0.0)
            if on_lines:  # claims say which of a line's sentences the pages meant (lines without keep the page vote)
                present = set(stems[index])
                votes[index] = PAGE_VOTE * votes[index] + max(
                    (CLAIM_MATCH * c.match + c.page) * (CLAIM_PRIOR + _share(c.words, present, rarity))
                    for c in on_lines)
    near = _near(sentences, votes)
    relevance = {key: min((sources or {}).get(key, 0.0), 1.0) for key in {s.source for s in sentences}}
    best_source = max(relevance.values(), default=0.0)
    for index, sentence in enumerate(sentences):
        # A neighbour that shares no word with the question is another claim's context, not this one's.
        sentence.score = LEXICAL * lexical[index] + (votes[index] or (NEAR * near[index] if lexical[index] else 0.0))
        if best_source:  # a note the question is about outweighs one matching a few of its words
            sentence.score *= SOURCE + (1 - SOURCE) * relevance[sentence.source] / best_source
        sentence.vote = votes[index]
    return sentences


def bm25(documents: list[list[str]], terms: dict[str, float]) -> list[float]:
    """Each document's BM25 against the weighted terms, as a share of the best document's."""
    count = len(documents)
    average = sum(map(len, documents)) / count or 1.0
    df = {t: sum(1 for d in documents if t in d) for t in terms}
    scores = []
    for document in documents:
        tf: dict[str, int] = {}
        for word in document:
            if word in terms:
                tf[word] = tf.get(word, 0) + 1
        scale = K1 * (1 - B + B * len(document) / average)
        scores.append(sum(terms[t] * math.log(1 + (count - df[t] + 0.5) / (df[t] + 0.5)) * n * (K1 + 1) / (n + scale)
                          for t, n in tf.items()))
    best = max(scores) or 1.0
    return [s / best for s in scores]


def _share(claim: frozenset[str], present: set[str], rarity: dict[str, float]) -> float:
    """The rarity-weighted share of a claim's content words that a sentence holds."""
    total = math.fsum(rarity.get(w, 0.0) for w in claim)
    return math.fsum(rarity.get(w, 0.0) for w in claim & present) / total if total else 0.0


def _near(sentences: list[Sentence], votes: list[float]) -> list[float]:
    """For each sentence, the best vote of a cited sentence within NEAR_LINES of it in its note."""
    by_line: dict[tuple[str, int], float] = {}
    for sentence, vote in zip(sentences, votes):
        for number in range(sentence.line, sentence.end + 1):
            key = (sentence.source, number)
            by_line[key] = max(by_line.get(key, 0.0), vote)
    out = []
    for sentence in sentences:
        around = range(sentence.line - NEAR_LINES, sentence.end + NEAR_LINES + 1)
        out.append(max((by_line.get((sentence.source, n), 0.0) for n in around), default=0.0))
    return out


def _rarity(words: list[str], documents: int) -> dict[str, float]:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return {w: math.log(1 + documents / n) for w, n in counts.items()}


def pick(sentences: list[Sentence], budget: int, count_tokens, already: str, opening=None) -> list[Sentence]:
    """The best sentences that fit, none already given (in a page's text) or repeated, until
    they score too far under the best one. A sentence that opens by pointing back ("This",
    "Thus", "To do so") comes with the one before it: alone it says nothing a reader can use;
    a quotation comes with the sentence naming its speaker, and a quoted passage the sentence
    splitter cut comes whole.
    `opening(source key)`: what a source's first sentence costs beyond itself (its block's header)."""
    given = _plain(already)
    chosen, seen, spent, opened = [], set(), 0, set()
    ordered = sorted(sentences, key=lambda s: (-s.score, s.source, s.line, s.position))
    by_place = {(s.source, s.paragraph, s.position): s for s in sentences}

    def neighbour(member: Sentence, step: int) -> Sentence | None:
        """The sentence `step` places on in `member`'s paragraph, unless it is given already."""
        other = by_place.get((member.source, member.paragraph, member.position + step))
        return None if other is None or _plain(other.text) in seen or _plain(other.text) in given else other
    floor = STOP * ordered[0].score if ordered else 0.0
    for sentence in ordered:
        if sentence.score < MIN_SCORE:
            break
        if sentence.score < floor and sentence.vote < floor * VOUCH:
            continue
        plain = _plain(sentence.text)
        if plain in seen or plain in given:
            continue
        group = [sentence]
        while len(group) < BACK_CHAIN and (prior := neighbour(group[0], -1)) and _leans_on(prior.text, group[0].text):
            group.insert(0, prior)
        while len(group) < BACK_CHAIN and _open_quote(group[-1].text) and (after := neighbour(group[-1], 1)):
            group.append(after)
        cost = sum(count_tokens(s.text) + LINE_COST for s in group)
        if opening is not None and sentence.source not in opened:
            cost += opening(sentence.source)
        if spent + cost > budget:
            continue
        opened.add(sentence.source)
        for member in group:
            seen.add(_plain(member.text))
            chosen.append(member)
        spent += cost
    return sorted(chosen, key=lambda s: (s.source, s.line, s.position))


def _leans_on(prior: str, text: str) -> bool:
    """Does `text` need the sentence before it to be understood: it points back ("This",
    "Thus"), goes on with a quotation the one before opened, or is a quotation standing alone
    after one that holds a quotation (its speaker named there: '"..." says Early. "..."')?"""
    return bool(_BACK.match(text)) or _open_quote(prior) or (_quotation(text) and _quote_marks(prior) > 0)


def _quote_marks(text: str) -> int:
    return text.count('"') + text.count("\u201c") + text.count("\u201d")


def _open_quote(text: str) -> bool:
    """Does the sentence end inside a quotation (the sentence splitter cut a quoted passage)?
    A straight quotation mark opens where a word begins after it, and otherwise closes."""
    opening = len(_OPENING_QUOTE.findall(text)) + text.count("\u201c")
    return opening > _quote_marks(text) - opening


def _quotation(text: str) -> bool:
    """Is the sentence one quotation and nothing else (no speaker of its own)?"""
    text = text.strip()
    return len(text) > 2 and text[0] in '"\u201c' and text[-1] in '"\u201d' and _quote_marks(text) == 2


def grouped(sentences: list[Sentence]) -> dict[str, list[tuple[str, str]]]:
    """source key -> [(its lines "3" or "3-4", the chosen sentences there joined, '…' where some
    were left out)]: sentences sharing a line are one excerpt."""
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    for sentence in sentences:
        lines = out.setdefault(sentence.source, [])
        if lines and lines[-1][3] >= sentence.line:
            label, text, first, last = lines[-1]
            lines[-1] = ("", text + " … " + sentence.text, first, max(last, sentence.end))
        else:
            lines.append(("", sentence.text, sentence.line, sentence.end))
    return {key: [(f"{a}" if a == b else f"{a}-{b}", text) for _, text, a, b in lines] for key, lines in out.items()}


def _plain(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))
