"""What an article is written from: the concept's claims, and the lines of other sources that
name it although their extraction did not list it (only those lines, never a whole source)."""
from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property, lru_cache

from kbc.compile.rows import Concept, Evidence
from kbc.compile.sources import Source
from kbc.vault.bibliography import bibliography, is_reference
from kbc.vault.text import clip, sentence_begun_before

MENTION_SOURCES = 6  # other sources an article may draw on through mentions
MENTION_LINES = 3  # lines per source
MENTION_CHARS = 320  # per line, cut around the mention
CONTEXT_CHARS = 160  # the line before, when the mention's own line is short


def name_pattern(names: list[str], in_compounds: bool = False) -> re.Pattern | None:
    """Word-bounded, case- and plural-tolerant; acronyms match in capitals only.
    `in_compounds`: also inside a hyphenated word ("Paxos" in "Multi-Paxos")."""
    return _name_pattern(tuple(names), in_compounds)


@lru_cache(maxsize=1 << 14)
def _name_pattern(names: tuple[str, ...], in_compounds: bool) -> re.Pattern | None:
    # Compiled once per process for the same names: a regex per concept is not free.
    parts = []
    for name in sorted({" ".join(n.split()) for n in names if len(n.strip()) >= 3}, key=len, reverse=True):
        body = re.escape(name).replace(r"\ ", r"[\s-]+")
        if name.isupper() and len(name) <= 5:
            parts.append(body + "s?")
        else:
            parts.append(f"(?i:{body}(?:s|es)?)")
    edge = r"\w" if in_compounds else r"\w-"
    return re.compile(rf"(?<![{edge}])(?:" + "|".join(parts) + rf")(?![{edge}])") if parts else None


def _fold(word: str) -> str:
    word = word.casefold()
    for suffix in ("ies", "es", "s"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[:-len(suffix)]
    return word


_WORDS: dict[str, set[str]] = {}  # source hash -> its words, folded: which sources to search at all


def text_words(text: str) -> set[str]:
    return {_fold(w) for w in re.findall(r"\w+", text)}


def source_words(source: Source) -> set[str]:
    if source.sha256 not in _WORDS:
        if len(_WORDS) > 5000:
            _WORDS.clear()
        _WORDS[source.sha256] = text_words(source.body)
    return _WORDS[source.sha256]


def naming_key(concept: Concept) -> str:
    """The concept's names and qualified names as one string (lists, whatever sequences they are
    held in: a repr is cheaper than JSON and equal for equal names)."""
    return repr((list(concept.link_names), [(g, list(q)) for g, q in concept.qualified]))


def naming_words(concept: Concept) -> set[str]:
    """Naming(concept).words, without the rest of a Naming (the graph indexes every concept by them)."""
    return {_fold(w) for n in (*concept.link_names, *(g for g, _ in concept.qualified))
            for w in re.findall(r"\w+", n)[-1:]}


class Naming:
    """How text names one concept: by its names and aliases, or by a generic name renamed
    away ("Leader") when its qualifier ("Raft") occurs in the same text."""

    def __init__(self, concept: Concept):
        self._link_names, self._qualified = list(concept.link_names), list(concept.qualified)
        # Every way of naming it has a word a source must hold for a regex search to be worth it,
        # and a name matches only where each of its other words occurs as it is.
        ways = [*concept.link_names, *(g for g, _ in concept.qualified)]
        self.words = naming_words(concept)
        self.inner = [{_fold(w) for w in re.findall(r"\w+", n)[:-1]} for n in ways]
        self._joined: dict[tuple[str, ...], re.Pattern] = {}

    # The patterns are compiled when first used: most concepts' words rule most texts out.
    @cached_property
    def names(self) -> re.Pattern | None:
        return name_pattern(self._link_names)

    @cached_property
    def qualified(self) -> list[tuple[re.Pattern, re.Pattern]]:
        return [(name_pattern([generic]), name_pattern(qualifiers, in_compounds=True))
                for generic, qualifiers in self._qualified]

    def may_occur(self, words: set[str]) -> bool:
        return bool(self.words & words) and any(inner <= words for inner in self.inner)

    def qualifier_in(self, line: str) -> bool:
        return any(qualifier.search(line) and generic.search(line) for generic, qualifier in self.qualified)

    def named_in(self, lines: list[str], at: int) -> bool:
        """Whether line `at` names the concept: by a name, or by a generic name with its
        qualifier in that line or the one before or after (a "master" far from "MapReduce"
        in a text that names MapReduce once is another master)."""
        if self.names and self.names.search(lines[at]):
            return True
        near = " ".join(lines[max(0, at - 1):at + 2])
        return any(generic.search(lines[at]) and qualifier.search(near) for generic, qualifier in self.qualified)

    def finder(self, context: str):
        """A pattern for lines of `context` (a source, an article's material), or None."""
        parts = [self.names] if self.names else []
        parts += [generic for generic, qualifier in self.qualified if qualifier.search(context)]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        key = tuple(p.pattern for p in parts)
        if key not in self._joined:  # compiled once per run, not once per text
            self._joined[key] = re.compile("|".join(f"(?:{p})" for p in key))
        return self._joined[key]


_MARKUP = [
    (re.compile(r"!\[\[[^\]]*\]\]|!\[[^\]]*\]\([^)]*\)"), ""),  # images and embeds
    (re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]"), r"\1"),  # [[Page|shown]] -> shown
    (re.compile(r"\[([^\]]*)\]\([^)]*\)"), r"\1"),  # [text](url) -> text
    (re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+"), ""),  # list markers
    (re.compile(r"[*_`]{1,3}"), ""),  # emphasis and code marks
]


def plain(line: str) -> str:
    """A source line as text: a quoted line must not bring links or images into a page."""
    for pattern, replacement in _MARKUP:
        line = pattern.sub(replacement, line)
    return " ".join(line.split())


def _window(line: str, start: int) -> str:
    if len(line) <= MENTION_CHARS:
        return line.strip()
    left = max(0, start - MENTION_CHARS // 3)
    left = line.rfind(" ", 0, left) + 1 if left else 0
    return ("…" if left else "") + clip(line[left:], MENTION_CHARS)


WORD_INDEX_AFTER = 64  # concepts searched by substring tests before the sources are indexed by word


class SourceIndex:
    """The run's sources, case-folded, and their lines as text, kept for the run: a concept is
    looked for only in the sources that hold one of its words."""

    def __init__(self, sources: list[Source]):
        self.sources = sources
        self._folded: list[str] | None = None
        self._by_word: dict[str, list[int]] | None = None
        self._asked = 0
        self._lines: dict[str, list[str]] = {}
        self._folded_lines: dict[str, tuple[str, list[int]]] = {}

    def holding(self, words: set[str]) -> list[Source]:
        """The sources holding any of `words`, in their order. A folded word is part of its
        text case-folded: for the first concepts of a run a substring test rules most sources
        out before any is split into words (a run adding a source searches a few concepts);
        past WORD_INDEX_AFTER, every source is split once into an index by word."""
        self._asked += 1
        if self._by_word is None and self._asked > WORD_INDEX_AFTER:
            self._by_word = {}
            for position, source in enumerate(self.sources):
                for word in source_words(source):
                    self._by_word.setdefault(word, []).append(position)
        if self._by_word is not None:
            return [self.sources[p] for p in sorted({p for w in words for p in self._by_word.get(w, ())})]
        if self._folded is None:
            self._folded = [source.body.casefold() for source in self.sources]
        return [source for source, text in zip(self.sources, self._folded)
                if any(word in text for word in words) and not source_words(source).isdisjoint(words)]

    def lines(self, source: Source) -> list[str]:
        if source.path not in self._lines:
            self._lines[source.path] = source_lines(source)
        return self._lines[source.path]

    def lines_holding(self, source: Source, words: set[str]) -> list[int]:
        """The numbers (from 1) of the source's lines that hold one of the folded `words` as
        part of the line case-folded: only those can name a concept with those words."""
        if source.path not in self._folded_lines:
            folded = [line.casefold() for line in self.lines(source)]
            starts = [0]
            for line in folded:
                starts.append(starts[-1] + len(line) + 1)
            self._folded_lines[source.path] = ("\n".join(folded), starts)
        text, starts = self._folded_lines[source.path]
        found = set()
        for word in words:
            at = text.find(word)
            while at >= 0:
                number = bisect_right(starts, at)
                found.add(number)
                at = text.find(word, starts[number])
        return sorted(found)


def source_lines(source: Source) -> list[str]:
    """A source's lines as text, its reference list blanked (numbering kept): an entry names a
    work, it says nothing of it, and its wrapped lines would be quoted without their entry."""
    lines = source.body.split("\n")
    references = bibliography(lines)
    return ["" if number in references else line if line.lstrip().startswith("#") else plain(line)
            for number, line in enumerate(lines)]


def mentions(concept: Concept, sources: list[Source], source_pages: dict[str, str],
             own_sources: set[str], index: SourceIndex | None = None) -> list[Evidence]:
    """Lines of other sources naming the concept. A lower-case one-word name must occur
    twice in a source (one passing use of a common word is no discussion); a proper name,
    an acronym or a longer name once. `index`: the run's SourceIndex of `sources`."""
    return [e for found in mentioned(concept, sources, source_pages, own_sources, index) for e in found.evidence]


@dataclass
class Mentioned:
    """One source's lines naming a concept, and how often it names it: sources rank by that."""
    hits: int
    path: str
    evidence: list[Evidence]


def mentioned(concept: Concept, sources: list[Source], source_pages: dict[str, str],
              own_sources: set[str], index: SourceIndex | None = None,
              kept: list[Mentioned] | None = None) -> list[Mentioned]:
    """The sources `mentions` quotes, best first. `kept`: what an earlier search of the other
    sources found (none of them changed since): `sources` are then the new ones only."""
    naming = Naming(concept)
    found = [(m.hits, m.path, m.evidence) for m in kept or []]
    for source in index.holding(naming.words) if index else sources:
        if source.path not in own_sources and source.path in source_pages:
            where = _named_lines(naming, source, index)
            if where is not None:
                found.append((where[0], source.path, where[1:]))
    found.sort(key=lambda f: (-f[0], f[1]))
    # Quoted lines are cut only for the sources kept: a common name is found in hundreds.
    return [Mentioned(hits, path, where if isinstance(where, list) else _quoted(source_pages, *where))
            for hits, path, where in found[:MENTION_SOURCES]]


def _named_lines(naming: Naming, source: Source, index: SourceIndex | None):
    """(hits, source, its lines, the pattern, (line number, match start) of the first lines
    naming the concept) if the source names it enough, else None."""
    if not naming.may_occur(source_words(source)):
        return None
    pattern = naming.finder(source.body)
    if pattern is None or not pattern.search(source.body):
        return None
    lines = index.lines(source) if index else source_lines(source)
    hits, at, strong = 0, [], False
    for number in index.lines_holding(source, naming.words) if index else range(1, len(lines) + 1):
        line = lines[number - 1]
        matches = list(pattern.finditer(line))  # first: most lines do not match
        if not matches or line.lstrip().startswith("#") or is_reference(line) \
                or not naming.named_in(lines, number - 1):
            continue
        hits += len(matches)
        strong = strong or naming.qualifier_in(line) or any(
            len(m.group(0).split()) > 1 or "-" in m.group(0) or not m.group(0).islower() for m in matches)
        if len(at) < MENTION_LINES:
            at.append((number, matches[0].start()))
    return (hits, source, lines, pattern, at) if at and (hits >= 2 or strong) else None


def _quoted(source_pages: dict[str, str], source: Source, lines: list[str], pattern: re.Pattern,
            at: list[tuple[int, int]]) -> list[Evidence]:
    out = []
    for number, start in at:
        text = _window(lines[number - 1], start)
        # A line a page break cut from its sentence's start ("has become Google's primary name
        # service" of Chubby) would be read as said of the concept it names: the start comes first.
        begun = "" if text.startswith("…") else sentence_begun_before(lines, number - 1, CONTEXT_CHARS)
        before = next((i for i in range(number - 2, -1, -1) if lines[i].strip()), -1)
        previous = lines[before].strip() if before >= 0 else ""
        if begun:
            text = begun + ("" if begun.endswith("-") else " ") + text  # "be-" + "fore": one word
        elif len(text) < 120 and previous and not previous.startswith("#") and not pattern.search(previous):
            text = clip(previous, CONTEXT_CHARS) + " " + text
        out.append(Evidence(source_pages[source.path], text, str(number), "mention"))
    return out
