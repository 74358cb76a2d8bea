"""Link the first mention of every concept in a page: closed world (only pages that exist),
case- and plural-tolerant, never inside code, headings, link lists, existing links, quotations
or a source's title, and never to the page itself."""
from __future__ import annotations

import bisect
import functools
import re
from collections import Counter

from kbc.vault.links import WIKILINK, link_key
from kbc.vault.page_words import fold, fold_tokens, probe_tokens
from kbc.vault.term_trie import term_ending, trie_pattern

# Sections that are lists of links already, or code-managed: nothing is added there.
_NO_LINK_SECTIONS = ("sources", "related", "backlinks", "concepts")
_PROTECTED = re.compile(
    r"`[^`\n]*`"  # inline code
    r"|!?\[\[[^\]\n]*\]\]"  # wikilinks and embeds
    r"|!?\[[^\]\n]*\]\([^)\n]*\)"  # Markdown links and images
    r"|https?://\S+"  # bare URLs
    r"|<!--.*?-->|<[^>\n]+>"  # HTML comments and tags
    r'|"[^"\n]+"|“[^”\n]+”')  # quotations: a quoted title or saying is the source's words


_WORD = re.compile(r"\w+")
_START = 4  # letters of a term's first word that a text's word must begin with


@functools.lru_cache(maxsize=None)
def _probe(spelling: str, first_is_bounded: bool) -> tuple[str, ...] | None:
    return probe_tokens(spelling, first_is_bounded)


def _may_occur(tokens: tuple[str, ...] | None, words: list[str]) -> bool:
    """Can a term whose probe tokens are `tokens` be found in texts with these tokens (sorted)?
    Each of its tokens must begin one of theirs."""
    if tokens is None:
        return True
    for token in tokens:
        at = bisect.bisect_left(words, token)
        if at == len(words) or not words[at].startswith(token):
            return False
    return True


def _start(term: str) -> str:
    """The first letters of a term's first word, lowercased, as focus() looks for them."""
    first = _WORD.search(term.lower())
    return first[0][:_START] if first else ""


def _singular(word: str) -> str:
    word = word.casefold()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("s", "x", "ch", "sh")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


@functools.lru_cache(maxsize=65536)  # the linker keys every concept's name twice, and each match again
def term_key(term: str) -> str:
    words = " ".join(term.split()).casefold().split(" ")
    return " ".join(words[:-1] + [_singular(words[-1])])


def term_pattern(term: str) -> str:
    """A term as the linker finds it: any spacing, a plural, acronyms in capitals only."""
    stem, ending = term_ending(term)
    body = re.escape(stem).replace(r"\ ", r"\s+") + ending
    return body if _is_acronym(term) else f"(?i:{body})"


def is_generic_alias(alias: str, name: str) -> bool:
    """A lowercase one-word alias that is a word of a longer name ("leader" of Raft Leader,
    "majority" of Majority Quorum) names every such thing, not this one; "Stadia" of Google
    Stadia, capitalised, is a name."""
    words = term_key(name).split()
    return alias.islower() and " " not in alias.strip() and len(words) >= 2 and term_key(alias) in words


def _is_acronym(term: str) -> bool:
    return len(term) <= 5 and term.upper() == term and any(c.isalpha() for c in term)


class MentionLinker:
    """Built once from page name -> aliases (of concept pages). A page's name links to it;
    an alias links only if it is no page's name and no other page's alias (else ambiguous)."""

    def __init__(self, pages: dict[str, list[str]], titles: list[str] = ()):
        """`titles`: the sources' titles; a concept named inside one is not linked there."""
        long = sorted({" ".join(t.split()) for t in titles if len(t.split()) >= 2}, key=len, reverse=True)
        self.title_list = long
        by_key: dict[str, set[str]] = {}
        spelled: dict[str, str] = {}
        # A one-word alias that is the last word of two pages' names ("leader": Raft Leader,
        # Paxos Leader) means either: text about the other one says it too.
        heads = Counter(words[-1] for words in (term_key(page).split() for page in pages) if len(words) >= 2)
        for rank in ("name", "alias"):
            taken = set(by_key) | ({h for h, n in heads.items() if n >= 2} if rank == "alias" else set())
            for page, aliases in pages.items():
                for term in ([page] if rank == "name" else aliases):
                    term = " ".join(term.split())
                    key = term_key(term)
                    if len(term) < 3 or not any(c.isalpha() for c in term) or (rank == "alias" and key in taken):
                        continue
                    if rank == "alias" and is_generic_alias(term, page):
                        continue
                    by_key.setdefault(key, set()).add(page)
                    spelled.setdefault(key, term)
        self.pages = {key: next(iter(names)) for key, names in by_key.items() if len(names) == 1}
        self.spelled = {key: spelled[key] for key in self.pages}
        self._compiled: tuple[re.Pattern | None, re.Pattern | None] | None = None  # when a page needs linking

    def focus(self, texts: list[str]) -> None:
        """Compile only the terms and titles that can occur in `texts`, the pages about to be
        linked: a term's first word must begin one of their words. The links come out the
        same (a term that matches nowhere in a text changes no match in it), at a cost
        proportional to what is linked: the trie of every term and title of a 10,000-source
        wiki took seconds to compile, for a run that links a handful of pages."""
        starts, found = set(), set()
        for page in texts:
            # Only the lines link() may link: a Backlinks section of thousands of names ("Source"'s,
            # 700 KB at 10,000 sources) named every term, and the trie of all cost 3 s to compile.
            lines = page.split("\n")
            text = "\n".join(lines[i] for i in _prose_lines(lines))
            for word in set(_WORD.findall(fold(text))):  # "ſtate" is found by State
                starts.update(word[:k] for k in range(1, min(_START, len(word)) + 1))
            found |= fold_tokens(text)  # every word of a term (a title's after its first) begins one (page_words)
        begun = sorted(found)
        self._compiled = self._compile(
            [t for t in self.spelled.values()
             if _start(term_ending(t)[0]) in starts and _may_occur(_probe(term_ending(t)[0], True), begun)],
            [t for t in self.title_list if _start(t) in starts and _may_occur(_probe(t, False), begun)])

    def _compile(self, terms: list[str], titles: list[str]) -> tuple[re.Pattern | None, re.Pattern | None]:
        # A trie: linear in the text, however many terms (kbc/vault/term_trie.py)
        pattern = re.compile(r"(?<![\w\-\[|])" + trie_pattern(terms, _is_acronym) + r"(?![\w\-\]])") \
            if terms else None
        return pattern, re.compile(trie_pattern(titles, lambda _: False, plurals=False)) if titles else None

    @property
    def pattern(self) -> re.Pattern | None:
        if self._compiled is None:
            self._compiled = self._compile(list(self.spelled.values()), self.title_list)
        return self._compiled[0]

    @property
    def titles(self) -> re.Pattern | None:
        if self._compiled is None:
            self._compiled = self._compile(list(self.spelled.values()), self.title_list)
        return self._compiled[1]

    def terms(self) -> dict:
        """What it links (term key -> [page, spelling]) and the titles it leaves alone."""
        return {"pages": {key: [page, self.spelled[key]] for key, page in self.pages.items()},
                "titles": self.title_list}

    def page_for(self, text: str) -> str | None:
        return self.pages.get(term_key(text))

    def link(self, body: str, own_page: str) -> str:
        """The body with the first mention of each other page linked. Links in lists that
        code builds (Sources, Related, Concepts) do not count as the prose's mention."""
        if self.pattern is None:
            return body
        lines = body.split("\n")
        prose = _prose_lines(lines)
        for i in prose:
            lines[i] = self._unlink_own(lines[i], own_page)
        linked = {link_key(m["target"]) for i in prose for m in WIKILINK.finditer(lines[i])} | {link_key(own_page)}
        for i in prose:
            lines[i] = self._link_line(lines[i], linked)
        return "\n".join(lines)

    def _unlink_own(self, line: str, own_page: str) -> str:
        """A page's link to itself (by its name or an alias) is plain text."""
        def plain(match: re.Match) -> str:
            target = match["target"]
            if match["embed"] or match["anchor"] or link_key(self.page_for(target) or target) != link_key(own_page):
                return match.group(0)
            return match["shown"] or target

        return WIKILINK.sub(plain, line)

    def _link_line(self, line: str, linked: set[str]) -> str:
        spans: list[list[tuple[int, int]]] = []  # protected parts and titles, found at the first candidate

        def replace(match: re.Match) -> str:
            page = self.page_for(match.group(0))
            if page is None or link_key(page) in linked:
                return match.group(0)
            if not spans:
                spans.append([m.span() for m in _PROTECTED.finditer(line)])
                spans.append([m.span() for m in self.titles.finditer(line)] if self.titles else [])
            start, end = match.span()
            if any(a <= start < b for a, b in spans[0]) or any(
                    a <= start and end <= b and b - a > end - start for a, b in spans[1]):
                return match.group(0)
            linked.add(link_key(page))
            text = match.group(0)
            return f"[[{page}]]" if text == page else f"[[{page}|{text}]]"

        return self.pattern.sub(replace, line)


def _prose_lines(lines: list[str]) -> list[int]:
    """Indexes of the lines a link may be added to: not code, headings, tables, quotes or
    the sections that are lists of links."""
    out, fenced, section_open = [], False, True
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        if stripped.startswith("#"):
            title = stripped.lstrip("#").strip().casefold()
            section_open = not (stripped.startswith("## ") and title in _NO_LINK_SECTIONS)
            continue
        if section_open and not line.startswith("    ") and not stripped.startswith(("|", ">", "<!--")):
            out.append(index)
    return out
