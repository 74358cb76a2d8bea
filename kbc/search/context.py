"""Context packs: what a careful researcher reads to answer a question, within a token budget.

The pages that best match (a small share of the budget: their opening and best paragraphs, with
their links and citations), the concepts they link that the question names, and most of the
budget for the source sentences behind them: the lines those pages and their claims rest on,
ranked by BM25 and the pages' votes (kbc.search.excerpts, kbc.search.claims). Knowledge pages only:
saved answers and outputs are listed as "see also", never given as evidence. The same wiki and
question give the same bytes (stable order), so prompts built from a pack stay cached.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from kbc.search import Searcher, packformat
from kbc.search.claims import line_claims
from kbc.search.excerpts import Sentence, candidate_sentences, grouped, pick
from kbc.search.generality import topicality
from kbc.search.pageinfo import DERIVED_KINDS, PageCache, PageInfo, whole_blocks
from kbc.vault import Vault
from kbc.vault.links import link_key

PAGE_TOKENS = 1500  # no single page takes more than this; longer pages give their best paragraphs
PAGES_SHARING = 3  # no page takes more than this fraction of the pages' share ...
MIN_PAGE_ROOM = 300  # ... unless that is under this many tokens
SMALL_PAGE_SHARE = 0.2  # ... and at most this share of a small budget (an agent's 1K pack is mostly source lines)
MAX_PAGES = 8  # a careful reader opens a handful of pages, not a tenth of the wiki
RELEVANCE_FLOOR = 0.3  # a page scoring under this share of the best one is not worth reading
MIN_MATCH = 0.05  # share of the best page's score below which a hit is noise
NAMED_BONUS = 0.5  # the question names the page (its title or an alias)
LINK_BONUS = 0.3  # a page the best pages link to gains this share of its own score
PAGE_SHARE = 0.05  # of the budget for pages (at least MIN_PAGE_ROOM); the rest for cited source sentences
BLOCK_OVERHEAD = 40  # about what a page's header lines (name, kind, links, citations) cost
SEE_ALSO = 3
FOLLOWS = 0.5  # a follow-up's words weigh the most; the question it follows says what "that" is
NAMED_ONLY = 3  # pages with no room for their text named in one line, at most
# An agent's pack spends its first tokens on source lines alone (page text holds fewer facts per
# token) and names the pages, which an agent can open itself; a model reading a pack cannot.
LINES_FIRST = 1500
FIT_TRIES = 4  # picks of the source sentences, each in the room the last one left or overran
FIT_SLACK = 15  # tokens under the budget that are not worth another pick

_WORD = re.compile(r"\w+", re.UNICODE)
_SECTION = re.compile(r"^##\s+(.+)$", re.M)
LINK_SECTIONS = frozenset({"related", "sources", "backlinks"})
_POSSESSIVE = re.compile(r"(\w)['’]s\b")
STOPWORDS = frozenset("""a an and are as at be been but by can could did do does doing for from had has have
how i if in into is it its me my no not of on or our should so such than that the their them then there
these they this those to too under up us was we were what when where which while who whom why will with
would you your about also any both each few more most other own same some very just only over again further
once here all between through during before after above below off out down use used using uses get gets make
makes made way ways one two new""".split())


@dataclass
class Excerpt:
    lines: str  # "3-4"
    text: str


@dataclass
class PackedPage:
    name: str
    kind: str
    path: str
    score: float
    text: str  # what is given: the page whole, or its best paragraphs
    whole: bool = True
    links: list[str] = field(default_factory=list)  # pages it links that exist and the question matches
    sources: list[str] = field(default_factory=list)  # the source pages it cites
    note: str = ""  # for a source page: the raw note its excerpts come from
    excerpts: list[Excerpt] = field(default_factory=list)
    tokens: int = 0

    def header(self, ids: dict[str, str] | None = None) -> str:
        return packformat.page_header(self, ids or {})

    def block(self) -> str:
        """The page as the model reads it: its text, then its cited source lines."""
        return packformat.page_body(self, {})

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["excerpts"] = [e.__dict__ for e in self.excerpts]
        return data


@dataclass
class Pack:
    query: str
    budget: int
    pages: list[PackedPage] = field(default_factory=list)
    see_also: list[str] = field(default_factory=list)  # saved answers and outputs: not evidence
    tokens: int = 0

    def given(self) -> list[PackedPage]:
        """The pages given (text or source lines), without those only named."""
        return [p for p in self.pages if p.text or p.excerpts]

    def names(self) -> list[str]:
        return [p.name for p in self.given()]

    def blocks(self) -> list[dict]:
        return [{"name": p.name, "text": p.block()} for p in self.given()]

    def to_dict(self) -> dict:
        return {"query": self.query, "budget": self.budget, "tokens": self.tokens,
                "pages": [p.to_dict() for p in self.pages], "see_also": self.see_also}

    def render(self) -> str:
        """Markdown an agent pastes instead of reading files (kbc.search.packformat). The
        closing line comes last, so packs of one agent's turns share as long a prefix as their
        pages allow."""
        return packformat.render(self)


def _stem(word: str) -> str:
    """A light stemmer, enough to match 'leases' with 'lease' and 'hashing' with 'hash'."""
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", "e"), ("s", "")):
        if len(word) > len(suffix) + 2 and word.endswith(suffix) and not word.endswith(("ss", "us", "is")):
            return word[: -len(suffix)] + keep
    return word


def _tokens(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(_POSSESSIVE.sub(r"\1", text.lower()))]


def _content(text: str) -> set[str]:
    return {w for w in _tokens(text) if w not in STOPWORDS and not w.isdigit()}


class Retriever:
    """Builds context packs. Holds the search index and parsed pages between queries."""

    def __init__(self, vault: Vault):
        self.vault = vault
        self.searcher = Searcher(vault)
        self.pages = PageCache(vault)
        self._df: dict[str, int] = {}

    def pack(self, query: str, budget: int, count_tokens, exclude: set[str] = frozenset(),
             page_share: float = PAGE_SHARE, lines_first: int = 0, follows: str = "") -> Pack:
        """`lines_first`: tokens of a small pack that go to source lines before any page text
        (LINES_FIRST for an agent's pack); `follows`: the question a follow-up follows (its words
        count FOLLOWS as much as the follow-up's own)."""
        pack = Pack(query, budget)
        hits = self.searcher.search(f"{query} {follows}".strip(), limit=40)
        self.pages.refresh()
        self._df.clear()
        excluded = {link_key(n) for n in exclude}
        terms = {stem: FOLLOWS * weight for stem, weight in self._weights(follows).items()} if follows else {}
        terms.update(self._weights(query))
        scores: dict[str, float] = {}
        for hit in hits:
            scores.setdefault(link_key(hit.page), hit.score)
        named = self._named(query)
        infos = {k: info for k in set(scores) | set(named)
                 if k not in excluded and (info := self.pages.get(k)) is not None}
        # Relative to the best knowledge page: a saved answer matching better changes nothing.
        top = max((scores.get(k, 0.0) for k, i in infos.items() if i.evidence), default=0.0) or 1.0
        scores = {k: scores.get(k, 0.0) / top + (NAMED_BONUS if k in named else 0.0) for k in infos}
        # A page matching only on a stray word is no match, and gains nothing from links.
        scores = {k: v for k, v in scores.items() if v >= MIN_MATCH}
        infos = {k: infos[k] for k in scores}
        derived = sorted((k for k, i in infos.items() if i.kind in DERIVED_KINDS and i.kind != "proposal"),
                         key=lambda k: (-scores[k], infos[k].name))
        evidence = {k: i for k, i in infos.items() if i.evidence}
        self._follow_links(evidence, scores, excluded)
        ranked = sorted(evidence, key=lambda k: (-scores[k], evidence[k].name))
        if not ranked:
            return pack
        floor = RELEVANCE_FLOOR  # scores are shares of the best match, before bonuses
        relevant = [k for k in ranked if scores[k] >= floor][:MAX_PAGES]
        # A saved answer on the same subject: it cites a page this question reads (its words alone
        # may match any question: "what", "makes", "master").
        pack.see_also = [infos[k].name for k in derived if scores[k] >= RELEVANCE_FLOOR
                         and (not infos[k].sources or set(infos[k].sources) & set(relevant))][:SEE_ALSO]
        chosen: list[PackedPage] = []
        # What closes the pack (the see-also line, the query) is paid for first.
        closing = count_tokens(Pack(query, budget, see_also=pack.see_also).render()) + 1
        spent = closing
        # Pages are summaries here; the source sentences carry the facts (and cost less per fact).
        small = min(MIN_PAGE_ROOM, int(max(budget - lines_first, 0) * SMALL_PAGE_SHARE))
        pages_room = min(max(int(budget * page_share), small), budget - closing)
        named_only = []
        for key in relevant:
            # A fair share each, so one long page cannot crowd out the others the question needs.
            share = max(pages_room // PAGES_SHARING, MIN_PAGE_ROOM)
            room = min(PAGE_TOKENS, share, pages_room - spent + closing - BLOCK_OVERHEAD)
            page = self._packed(evidence[key], scores[key], room, terms, count_tokens, set(scores))
            if page is not None:
                chosen.append(page)
                spent += page.tokens + count_tokens(page.header()) + 2
            elif evidence[key].kind != "source-summary" and len(named_only) < NAMED_ONLY:
                named_only.append(self._stub(evidence[key], scores[key]))
        # Pages with no room for their text are named, for the agent to open (their sources' lines follow).
        if named_only:
            spent += count_tokens(packformat.named_line(named_only, {})) + 1
        # Pages that did not fit still vouch for the source lines they cite; every scored page
        # vouches for its claims' lines.
        sentences = self._sentences(chosen, [(scores[k], evidence[k]) for k in relevant], terms, scores)
        given = "\n".join(p.text for p in chosen)
        opening = self._opening(chosen, count_tokens)
        room, fitted, tried = budget - spent, None, []
        for _ in range(FIT_TRIES):
            # The parts' estimates miss the whole by a little either way: pick again in what is left.
            picked = pick(sentences, room, count_tokens, given, opening) if room > 50 else []
            pack.pages = self._with_excerpts(chosen, picked) + named_only
            pack.tokens = count_tokens(pack.render())
            if pack.tokens <= budget and (fitted is None or pack.tokens > fitted[1]):
                fitted = (pack.pages, pack.tokens)
            if picked in tried or (pack.tokens <= budget and budget - pack.tokens < FIT_SLACK):
                break
            tried.append(picked)
            room += budget - pack.tokens
        if fitted is not None:
            pack.pages, pack.tokens = fitted
        while pack.tokens > budget and (chosen or named_only):  # a budget too small for even the pages
            if named_only:
                named_only.pop()
            else:
                chosen.remove(min(chosen, key=lambda p: (p.score, p.name)))
            pack.pages = self._with_excerpts(chosen, []) + named_only
            pack.tokens = count_tokens(pack.render())
        return pack

    # -- scoring ----------------------------------------------------------------------------

    def _weights(self, query: str) -> dict[str, float]:
        """The question's content words (stemmed), each weighted by how rare it is in the wiki
        and how much more the wiki uses it than general English does (kbc.search.generality:
        "define" and "explain" are rare in a wiki too, but they are how a question is put)."""
        words = [w for w in _WORD.findall(_POSSESSIVE.sub(r"\1", query.lower()))
                 if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
        total = max(len(self.pages.keys()), 1)
        counts, size = self._word_counts(words)
        weights = {}
        for word in dict.fromkeys(words):
            stem = _stem(word)
            if stem not in weights:
                df = self._doc_frequency(word)
                weights[stem] = math.log(1 + total / (1 + df)) * topicality(word, counts.get(word, 0), size)
        return weights

    def _word_counts(self, words: list[str]) -> tuple[dict[str, int], int]:
        """How often the wiki has each of these words as written, and how many words it has."""
        unique = sorted(set(words))
        with self.vault.db_lock:
            size = self.vault.db.execute("select coalesce(sum(n), 0) from search_words where scope = 'wiki'"
                                         ).fetchone()[0]
            rows = self.vault.db.execute(
                f"select word, n from search_words where scope = 'wiki' and word in ({','.join('?' * len(unique))})",
                unique).fetchall() if unique else []
        return dict(rows), size

    def _doc_frequency(self, word: str) -> int:
        if word not in self._df:
            with self.vault.db_lock:
                row = self.vault.db.execute(
                    "select count(distinct path) from chunks where chunks match ? and scope = 'wiki'",
                    [f'"{word}"']).fetchone()
            self._df[word] = row[0] if row else 0
        return self._df[word]

    def _named(self, query: str) -> list[str]:
        """Pages whose title or an alias occurs in the question as a phrase."""
        said = " " + " ".join(_tokens(query)) + " "
        found = []
        with self.vault.db_lock:
            rows = self.vault.db.execute(
                "select distinct path, title, aliases from chunks where scope = 'wiki'").fetchall()
        for path, title, aliases in rows:
            names = [re.sub(r"\([^)]*\)", " ", title)] + [a for a in (aliases or "").split(" | ") if a]
            for name in names:
                words = _tokens(name)
                if words and any(w not in STOPWORDS for w in words) and f" {' '.join(words)} " in said:
                    found.append(link_key(path.rsplit("/", 1)[-1].removesuffix(".md")))
                    break
        return sorted(set(found))

    def _follow_links(self, evidence: dict[str, PageInfo], scores: dict[str, float], excluded) -> None:
        """The best pages vouch for what they link: a linked page that matches the question on
        its own gains a share of its score (once, however many of them link it)."""
        seeds = sorted(evidence, key=lambda k: (-scores[k], evidence[k].name))[:3]
        linked = {key for seed in seeds for key in evidence[seed].links + evidence[seed].sources
                  if key != seed and key not in excluded}
        for key in sorted(linked & set(evidence)):
            scores[key] *= 1 + LINK_BONUS

    # -- what is given ----------------------------------------------------------------------

    def _packed(self, info: PageInfo, score: float, room: int, terms, count_tokens,
                matched: set[str]) -> PackedPage | None:
        if room <= 50:
            return None
        blocks = _content_blocks(info.body.strip())
        text, whole = "\n\n".join(blocks), True
        if count_tokens(text) > room:
            text, whole = _best_blocks(blocks, room, terms, count_tokens), False
        if not text:
            return None
        links = []
        for key in info.links:
            target = self.pages.get(key) if key != link_key(info.name) else None
            # Only the links the question also matches: the rest are for another question.
            if target and target.evidence and key in matched and key not in info.sources \
                    and target.name not in links:
                links.append(target.name)
        sources = [s.name for key in info.sources if (s := self.pages.get(key))]
        return PackedPage(info.name, info.kind, info.rel, round(score, 4), text, whole, links, sources,
                          note=info.note, tokens=count_tokens(text))

    def _stub(self, info: PageInfo, score: float) -> PackedPage:
        sources = [s.name for key in info.sources if (s := self.pages.get(key))]
        return PackedPage(info.name, info.kind, info.rel, round(score, 4), "", False, sources=sources)

    def _sentences(self, chosen: list[PackedPage], relevant: list[tuple[float, PageInfo]], terms,
                   scores: dict[str, float]) -> list[Sentence]:
        """The scored sentences of the lines the relevant pages cite (kbc.search.excerpts)."""
        if not terms:
            return []
        top = max((score for score, _ in relevant), default=1.0) or 1.0
        cited_by = [(score / top, info.cited, _content(info.body)) for score, info in relevant if info.cited]

        def claims(notes: dict[str, str]) -> dict:
            return line_claims(self.vault, {link_key(note): key for key, note in notes.items()}, terms, _tokens,
                               scores)

        return candidate_sentences(self.pages, cited_by, terms, _tokens, _content, claims, scores)

    def _opening(self, chosen: list[PackedPage], count_tokens):
        """What a source's first sentence costs beyond itself: the block's header (unless the
        page is given already) and its note's name."""
        given = {link_key(p.name) for p in chosen}
        costs: dict[str, int] = {}

        def cost(source_key: str) -> int:
            if source_key not in costs:
                page = self._source_block(source_key)
                line = count_tokens(packformat.excerpts_header(page, {})) + 1
                costs[source_key] = line + (0 if source_key in given else count_tokens(page.header()) + 2)
            return costs[source_key]
        return cost

    def _source_block(self, source_key: str) -> PackedPage:
        source = self.pages.get(source_key)
        note = (self.pages.note_lines(source.note) or ("",))[0]
        return PackedPage(source.name, source.kind, source.rel, 0.0, "", True, note=note)

    def _with_excerpts(self, chosen: list[PackedPage], sentences: list[Sentence]) -> list[PackedPage]:
        """The chosen pages with the picked sentences attached to the source page they come from
        (a block of its own when that page is not chosen), in a stable order: knowledge pages by
        name, then the source pages (with their lines) by name."""
        lines = grouped(sentences)
        out = []
        for page in chosen:
            key = link_key(page.name)
            if key in lines:
                page = replace(page, note=self._source_block(key).note,
                               excerpts=[Excerpt(label, text) for label, text in lines.pop(key)])
            out.append(page)
        for key, found in lines.items():
            out.append(replace(self._source_block(key), excerpts=[Excerpt(label, text) for label, text in found]))
        return sorted(out, key=lambda p: (p.kind == "source-summary", p.name.casefold(), p.name))


def _content_blocks(text: str) -> list[str]:
    """A page's paragraphs without its Related and Sources lists (and the note on line numbers
    under them): a page's header gives its links and the sources it cites, and a model reading
    them took them for pages it was given."""
    blocks, section = [], ""
    for block in whole_blocks(text):
        heading = _SECTION.match(block)
        section = heading[1].strip().casefold() if heading else section
        if section not in LINK_SECTIONS:
            blocks.append(block)
    return blocks


def _best_blocks(blocks: list[str], room: int, terms, count_tokens) -> str:
    """The opening block and the paragraphs that match the question best, in page order, that fit."""
    if not blocks:
        return ""

    def match(block: str) -> float:
        present = set(_tokens(block))
        return sum(w for t, w in terms.items() if t in present)

    order = [0] + sorted(range(1, len(blocks)), key=lambda i: (-match(blocks[i]), i))
    kept, used = set(), 0
    for index in order:
        cost = count_tokens(blocks[index]) + 1
        if used + cost <= room:
            kept.add(index)
            used += cost
    return "\n\n".join(blocks[i] for i in sorted(kept))


def build_context(vault: Vault, query: str, budget: int, count_tokens,
                  exclude: set[str] = frozenset(), page_share: float = PAGE_SHARE,
                  lines_first: int = LINES_FIRST) -> Pack:
    """An agent's pack (`kbc context`, MCP's context tool); `gather` reads pages whole for a model."""
    return Retriever(vault).pack(query, budget, count_tokens, exclude, page_share, lines_first)


def gather(vault: Vault, question: str, budget: int, count_tokens,
           exclude: set[str] = frozenset()) -> list[dict]:
    """The pack's pages as prompt blocks ({"name", "text"}) without source lines: outputs check
    what they draw against the pages they cite, and line numbers are no data for a chart."""
    pack = build_context(vault, question, budget, count_tokens, exclude, page_share=1.0, lines_first=0)
    return [{"name": p.name, "text": p.text} for p in pack.pages if p.text]
