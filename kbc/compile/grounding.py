"""Write-time grounding: is a generated paragraph supported by the material it was written from?

Checked in code for every model, before a paragraph lands: a small model loops or drifts to
another concept's words, a large one adds names and facts the sources never gave. The check
is lexical (stems, names, links), so it is cheap and needs no second model; its thresholds are
set on the real-model fixtures by benchmarks/grounding.py (false rejects there must stay low).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Collection
from importlib import metadata

import snowballstemmer

# Words that carry no claim: function words, and the framing a writer adds around claims.
STOPWORDS = frozenset("""
a about above according across after again against all almost along also although always am
among an and another any are aren't around as at be because been before being below between
both but by can cannot could did do does doing done down during each either else enough even
ever every few for from further had has have having he her here hers him his how however i if
in instead into is isn't it its itself just least less like likely many may might more most
much must my neither no nor not now of off often on once one only onto or other others otherwise
our out over own per perhaps quite rather same several shall she should since so some such than
that the their theirs them then there therefore these they this those though through thus to
together too toward towards under unless until up upon us usually very via was we were what
whatever when whenever where whereas whether which while who whom whose why will with within
without would yet you your

addition additionally again already finally furthermore hence importantly indeed likewise
meanwhile moreover nevertheless nonetheless notably another article articles author authors based basically
called case cases certain clearly combined common commonly concept concepts consequently
describe described describes description detail details discussed discusses essentially
example examples explain explained explains fact first following form forms general generally
given gives good important in-depth instance key kind kinds known main mainly make makes making
mean meaning means mentioned namely note noted notes overall paper papers particular
particularly point points practice precisely provide provided provides put really regard
regarding respect result results role roles said say says second section see sense show shown
shows similar similarly simply source sources specific specifically states term terms
text therefore thing things third three two type types use used uses using various way ways
whole word words work works write writes written
""".split())

WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,]\d+)*")
LINK = re.compile(r"\[\[\s*([^\]|#\s][^\]|#]*)(?:#[^\]|]*)?(?:\|[^\]]*)?\]\]")
ACRONYM = re.compile(r"\b[A-Z]{2,6}\b")
CITATION = re.compile(r"\[\d+(?:\s*[,;–-]\s*\d+)*\]")
SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[\"'“‘(]*[A-Z0-9\[])")
ENDS_WELL = tuple(".!?)\"'”’]:;*`")

NUMBER_WORDS = dict(zip("0 1 2 3 4 5 6 7 8 9 10 11 12".split(), "zero one two three four five six seven "
                        "eight nine ten eleven twelve".split()))
NUMBER_WORDS |= {word: digits for digits, word in NUMBER_WORDS.items()}

# Thresholds, set on benchmarks/grounding.py: good prose paraphrases, so some of its words are
# the writer's own; drifted or invented text has most of its words from elsewhere.
MAX_UNSUPPORTED_PARAGRAPH = 0.4  # share of content words not found in the evidence
MAX_UNSUPPORTED_SENTENCE = 0.6  # one sentence wholly off the material is enough to reject
MIN_JUDGED_WORDS = 5  # sentences with fewer content words are judged only with their paragraph
LOOP_SPAN = 5  # a span of this many words repeated right after itself is a loop


def ungrounded(text: str, evidence: list[str], names: set[str], pages: NameVocabulary | None = None) -> str:
    """Why `text` is not supported by `evidence` (claims or source lines sent) and the concept
    and page `names` of the request, and the vault's `pages` (built once a run); "" when it is."""
    body = " ".join(text.split())
    if not WORD.search(body):
        return "no words"
    loop = _loop(body)
    if loop:
        return loop
    if not body.endswith(ENDS_WELL):
        return "ends mid-sentence"
    known, listed = {_key(name) for name in names}, (pages or _NO_NAMES).keys
    for target in LINK.findall(body):
        if _key(target) not in known and _key(target) not in listed:
            return f"links [[{target.strip()}]], which is not in the material"
    vocabulary = _Vocabulary(evidence, names, pages)
    prose = CITATION.sub(" ", LINK.sub(lambda m: m.group(0)[2:-2].split("|")[-1], body))
    prose = vocabulary.abbreviate(prose)
    for name in _proper_names(prose):
        if not vocabulary.has(name):
            return f"names {name!r}, which the material does not mention"
    words = [w for sentence in _sentences(prose) for w in _content_words(sentence)]
    missing = [w for w in words if not vocabulary.has(w)]
    if words and len(missing) / len(words) > MAX_UNSUPPORTED_PARAGRAPH:
        return f"{len(missing)} of {len(words)} content words not in the material ({_few(missing)})"
    for sentence in _sentences(prose):
        words = _content_words(sentence)
        missing = [w for w in words if not vocabulary.has(w)]
        if len(words) >= MIN_JUDGED_WORDS and len(missing) / len(words) > MAX_UNSUPPORTED_SENTENCE:
            return f"a sentence not in the material ({_few(missing)}): {sentence[:80]!r}"
    return ""


@dataclass(frozen=True)
class NameVocabulary:
    """The words of many names (every page of the vault): each paragraph's _Vocabulary looks
    them up here instead of folding them all again. Each field is looked up only (`in`): it is
    name_counts' count of that feature kind, so kbc/compile/page_vocabulary.py can keep the
    counts between runs and update them from the names added and removed."""
    keys: Collection[str]
    words: Collection[str]
    stems: Collection[str]
    prefixes: Collection[str]
    acronyms: Collection[str]
    initials: Collection[str]

    @classmethod
    def of(cls, names) -> NameVocabulary:
        return cls.counted(name_counts(dict.fromkeys(names)))

    @classmethod
    def counted(cls, counts: dict[str, dict[str, int]]) -> NameVocabulary:
        """From name_counts' features, by kind (none counted 0 times: name_counts drops them)."""
        return cls(*(counts.get(kind, {}) for kind in FEATURE_KINDS))


# A name's features by kind: its key, its words, their stems and stem prefixes, its acronyms,
# its initials (NameVocabulary's fields, in order).
FEATURE_KINDS = "kwspai"


def name_features(name: str) -> tuple[frozenset[str], ...]:
    words, stems, acronyms = _text_vocabulary(name)
    return (frozenset([_key(name)]), words, stems, frozenset(stem[:6] for stem in stems if len(stem) >= 6),
            acronyms, _text_initials(name))


def name_counts(names, counts: dict[str, dict[str, int]] | None = None, sign: int = 1) -> dict[str, dict[str, int]]:
    """`counts` (by kind, feature -> how many names have it) with `names` added (sign -1:
    removed; a feature no name has any more is dropped); a fresh count when `counts` is None."""
    counts = counts if counts is not None else {}
    for name in names:
        for kind, features in zip(FEATURE_KINDS, name_features(name)):
            counted = counts.setdefault(kind, {})
            for feature in features:
                n = counted.get(feature, 0) + sign
                if n > 0:
                    counted[feature] = n
                else:
                    counted.pop(feature, None)
    return counts


def _texts_vocabulary(texts: list[str]) -> tuple[set[str], set[str], set[str], set[str]]:
    """The words, stems, stem prefixes and acronyms of the texts, each text's cached."""
    parts = [_per_text(_text_vocabulary, text) for text in texts]
    words = set().union(*(words for words, _, _ in parts))
    stems = set().union(*(stems for _, stems, _ in parts))
    prefixes = {stem[:6] for stem in stems if len(stem) >= 6}
    return words, stems, prefixes, set().union(*(acronyms for _, _, acronyms in parts))


def _texts_initials(texts: list[str]) -> set[str]:
    return set().union(*(_per_text(_text_initials, text) for text in texts))


_NO_NAMES = NameVocabulary.of([])


class _Vocabulary:
    """The words of the evidence and names, as lowercase forms, stems and stem prefixes; the
    vault's page names (`pages`) are a layer looked up beside them, never copied."""

    def __init__(self, evidence: list[str], names: set[str], pages: NameVocabulary | None = None):
        self._texts = [*evidence, *names]
        self.pages = pages or _NO_NAMES
        # Per text, cached: a concept's names and claims recur across its paragraphs.
        self.words, self.stems, self.prefixes, self.acronyms = _texts_vocabulary(self._texts)

    @cached_property
    def initials(self) -> set[str]:
        """The initials of every run of 2 to 5 words: built only when prose has an acronym."""
        return _texts_initials(self._texts)

    def abbreviate(self, prose: str) -> str:
        """Prose with the words of an acronym the material (or a page name) uses replaced by the
        acronym: an acronym and its words are one name whichever of them the material uses.
        Runs of three words or more: two initials fit too many pairs ("ML")."""
        known = (self.acronyms, self.pages.acronyms)
        words = list(re.finditer(r"[^\W\d_]+", prose))
        out, end, i = [], 0, 0
        while i < len(words):
            for length in range(min(6, len(words) - i), 2, -1):
                run = words[i:i + length]
                acronym = "".join(w[0][0] for w in run).upper()
                if any(acronym in acronyms for acronyms in known) and all(
                        re.fullmatch(r"[\s-]+", prose[a.end():b.start()]) for a, b in zip(run, run[1:])):
                    out += [prose[end:run[0].start()], acronym]
                    end, i = run[-1].end(), i + length - 1
                    break
            i += 1
        return "".join(out) + prose[end:]

    def has(self, word: str) -> bool:
        pages = self.pages
        if word.isupper() and ACRONYM.fullmatch(word) and (word.removesuffix("S") in self.initials
                                                           or word.removesuffix("S") in pages.initials):
            return True
        word = _fold(word)
        for words in (self.words, pages.words):
            if word in words or NUMBER_WORDS.get(word) in words or word.replace(",", "") in words:
                return True
        stem = _stem(word)
        return stem in self.stems or stem in pages.stems or (
            len(stem) >= 6 and (stem[:6] in self.prefixes or stem[:6] in pages.prefixes))


def repetition(text: str) -> str:
    """The loop a text repeats itself in ("" when none), for text that is not a paragraph."""
    return _loop(" ".join(text.split()))


def _loop(body: str) -> str:
    """A repetition loop: a span repeated right after itself, or a text of few distinct phrases.

    A long span said again in the next sentence is a restatement (a definition, then a claim
    saying the same), not a loop; a loop restarts it inside the sentence, or goes on and on.
    """
    sentences = _sentences(body)
    tokens, sentence_of = [], []
    for number, sentence in enumerate(sentences):
        words = [w.casefold() for w in WORD.findall(sentence)]
        tokens += words
        sentence_of += [number] * len(words)
    n = len(tokens)
    for period in range(1, min(40, n // 2) + 1):
        run = 0
        for i in range(n - period):
            run = run + 1 if tokens[i] == tokens[i + period] else 0
            if period < LOOP_SPAN:
                looping = run >= 2 * period  # a short span three times over
            else:  # a long span again at once, within one sentence
                start = i + 1 - run
                looping = (run >= LOOP_SPAN and period - run <= 3
                           and sentence_of[start] == sentence_of[start + period])
            if looping:
                return f"repeats {' '.join(tokens[i + 1 - run:i + 1][:period])!r} in a loop"
    seen: set[str] = set()
    for sentence in sentences:
        key = " ".join(w.casefold() for w in WORD.findall(sentence))
        if len(key.split()) >= 3 and key in seen:
            return f"repeats the sentence {sentence[:60]!r}"
        seen.add(key)
    trigrams = list(zip(tokens, tokens[1:], tokens[2:]))
    if len(trigrams) >= 30 and len(set(trigrams)) / len(trigrams) < 0.6:
        return "repeats a few phrases over and over"
    return ""


def _sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s.strip()]


def _content_words(sentence: str) -> list[str]:
    words = WORD.findall(sentence)
    return [w for w in words if _fold(w) not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def content_stems(text: str) -> list[str]:
    """The stems of a text's content words: what "says the same" compares."""
    return [_stem(_fold(w)) for w in _content_words(text)]


def _proper_names(text: str) -> list[str]:
    """Capitalised words not opening a sentence, acronyms and numbers: what a writer invents."""
    found = []
    for sentence in _sentences(text):
        words = WORD.findall(sentence)
        for index, word in enumerate(words):
            if word[0].isdigit():
                found.append(word)
            elif word[0].isupper() and _fold(word) not in STOPWORDS and (index > 0 or word.isupper() and len(word) > 1):
                found.append(word)
    return found


def _few(words: list[str]) -> str:
    return ", ".join(dict.fromkeys(w.casefold() for w in words[:5]))


def _key(name: str) -> str:
    return " ".join(name.casefold().split())


def _fold(word: str) -> str:
    word = word.casefold().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word


def _per_text(cached, text: str):
    """A cached per-text function's result; a source's whole body is kept only while it is
    the one being checked (every claim of an extraction is checked against it)."""
    return cached(text) if len(text) <= 400 else _recent(cached.__wrapped__, text)


@lru_cache(maxsize=4)
def _recent(function, text: str):
    return function(text)


@lru_cache(maxsize=65536)
def _text_vocabulary(text: str) -> tuple[frozenset, frozenset, frozenset]:
    """A text's words (lowercase forms), their stems and its acronyms."""
    words = _date_words(text)
    for word in WORD.findall(text):
        words.update(_word_forms(word))
    return frozenset(words), frozenset(_stem(word) for word in words), frozenset(ACRONYM.findall(text))


MONTHS = ("january february march april may june july august september october november "
          "december").split()
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_SLASH_DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})/(\d{4})\b")
_MONTH_CUT = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b")


def _date_words(text: str) -> set[str]:
    """The month names, years and days of the dates a text writes in digits ("2019-11-19",
    "11/19/2019", month or day first) or with a month cut short ("Nov. 19"): a writer spells
    out what a web page abbreviates ("November 2019")."""
    dates = _ISO_DATE.findall(text) + [(year, month, day) for a, b, year in _SLASH_DATE.findall(text)
                                       for month, day in ((a, b), (b, a))]
    words = {month for cut in _MONTH_CUT.findall(text) for month in MONTHS if month.startswith(cut.lower())}
    for year, month, day in dates:
        if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
            words |= {MONTHS[int(month) - 1], year, str(int(day))}
    return words


@lru_cache(maxsize=262144)  # texts share most of their words: each word is folded once
def _word_forms(word: str) -> tuple[str, ...]:
    forms = [_fold(word), *(_fold(part) for part in re.split(r"['’]", word))]
    if word[0].isdigit():  # "[-1,1]" holds 1; "9760" is "9,760"
        forms += [*word.split(","), word.replace(",", "")]
    return tuple(forms)


@lru_cache(maxsize=65536)
def _text_initials(text: str) -> frozenset:
    words = re.findall(r"[^\W\d_]+", text)
    return frozenset("".join(w[0] for w in words[i:i + length]).upper()
                     for length in range(2, 6) for i in range(len(words) - length + 1))


def _stem(word: str) -> str:
    stem = _STEMS.get(word)
    if stem is None:
        stem = _STEMS[word] = _STEMMER.stemWord(word)
    return stem


_STEMMER = snowballstemmer.stemmer("english")
STEMMER_VERSION = f"snowballstemmer {metadata.version('snowballstemmer')} english"
# word -> its stem, for the process: the pure-Python stemmer costs more than the rest of a
# vocabulary. kbc/compile/writer.py seeds it from the vault's own store and saves it back.
_STEMS: dict[str, str] = {}


def known_stems() -> dict[str, str]:
    return _STEMS


def add_stems(stems: dict[str, str]) -> None:
    """Stems `STEMMER_VERSION` gave before (another run's)."""
    for word, stem in stems.items():
        _STEMS.setdefault(word, stem)
