"""What an article is written from: the concept's claims, and the lines of other sources that
name it although their extraction did not list it (only those lines, never a whole source)."""
from __future__ import annotations

import re

from kbc.compile.rows import Concept, Evidence
from kbc.compile.sources import Source
from kbc.vault.bibliography import bibliography, is_reference
from kbc.vault.text import clip

MENTION_SOURCES = 6  # other sources an article may draw on through mentions
MENTION_LINES = 3  # lines per source
MENTION_CHARS = 320  # per line, cut around the mention
CONTEXT_CHARS = 160  # the line before, when the mention's own line is short


def name_pattern(names: list[str], in_compounds: bool = False) -> re.Pattern | None:
    """Word-bounded, case- and plural-tolerant; acronyms match in capitals only.
    `in_compounds`: also inside a hyphenated word ("Paxos" in "Multi-Paxos")."""
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


class Naming:
    """How text names one concept: by its names and aliases, or by a generic name renamed
    away ("Leader") when its qualifier ("Raft") occurs in the same text."""

    def __init__(self, concept: Concept):
        self.names = name_pattern(concept.link_names)
        self.qualified = [(name_pattern([generic]), name_pattern(qualifiers, in_compounds=True))
                          for generic, qualifiers in concept.qualified]
        # Every way of naming it has a word a source must hold for a regex search to be worth it,
        # and a name matches only where each of its other words occurs as it is.
        ways = [*concept.link_names, *(g for g, _ in concept.qualified)]
        self.words = {_fold(w) for n in ways for w in re.findall(r"\w+", n)[-1:]}
        self.inner = [{_fold(w) for w in re.findall(r"\w+", n)[:-1]} for n in ways]
        self._joined: dict[tuple[str, ...], re.Pattern] = {}

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


class SourceIndex:
    """The run's sources by folded word, and their lines as text, built once per run: a
    concept is looked for only in the sources that hold one of its words."""

    def __init__(self, sources: list[Source]):
        self.sources = sources
        self._by_word: dict[str, list[int]] = {}
        for position, source in enumerate(sources):
            for word in source_words(source):
                self._by_word.setdefault(word, []).append(position)
        self._lines: dict[str, list[str]] = {}

    def holding(self, words: set[str]) -> list[Source]:
        """The sources holding any of `words`, in their order."""
        return [self.sources[p] for p in sorted({p for w in words for p in self._by_word.get(w, ())})]

    def lines(self, source: Source) -> list[str]:
        if source.path not in self._lines:
            self._lines[source.path] = source_lines(source)
        return self._lines[source.path]


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
    naming = Naming(concept)
    found: list[tuple[int, str, list[Evidence]]] = []
    for source in index.holding(naming.words) if index else sources:
        if source.path in own_sources or source.path not in source_pages \
                or not naming.may_occur(source_words(source)):
            continue
        pattern = naming.finder(source.body)
        if pattern is None or not pattern.search(source.body):
            continue
        lines = index.lines(source) if index else source_lines(source)
        hits, evidence, strong = 0, [], False
        for number, line in enumerate(lines, start=1):
            if line.lstrip().startswith("#") or is_reference(line):
                continue
            matches = list(pattern.finditer(line))
            if not matches or not naming.named_in(lines, number - 1):
                continue
            hits += len(matches)
            strong = strong or naming.qualifier_in(line) or any(
                len(m.group(0).split()) > 1 or "-" in m.group(0) or not m.group(0).islower() for m in matches)
            if len(evidence) < MENTION_LINES:
                text = _window(line, matches[0].start())
                before = next((i for i in range(number - 2, -1, -1) if lines[i].strip()), -1)
                previous = lines[before].strip() if before >= 0 else ""
                if len(text) < 120 and previous and not previous.startswith("#") and not pattern.search(previous):
                    text = clip(previous, CONTEXT_CHARS) + " " + text
                evidence.append(Evidence(source_pages[source.path], text, str(number), "mention"))
        if evidence and (hits >= 2 or strong):
            found.append((hits, source.path, evidence))
    found.sort(key=lambda f: (-f[0], f[1]))
    return [e for _, _, evidence in found[:MENTION_SOURCES] for e in evidence]
