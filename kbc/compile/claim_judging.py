"""Claims of other sources that are about a concept under another name ("weight decay helps
fight the overfitting" for Regularization): lexical mention search cannot find them, so the
one consolidation request kbc sends anyway also lists, for some concepts, a few claims of
their neighbours' sources and asks which are about them. Code picks the claims: those of a
concept's blocked neighbours (consolidate.Neighbourhood: no all-pairs over claims) from
sources it does not draw on yet, ranked by shared rare words and by the pair's score, capped
per concept, per pair and per request; a claim about its own source's subject instead
(claim_subjects.py) is never asked, and still takes its place. Every answer is stored and
never asked again; an accepted claim is evidence of the concept (its page cites that
source) and links the two."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kbc.compile.claim_subjects import TitleSubjects
from kbc.compile.concepts import concept_key
from kbc.compile.consolidate import (CLAIM_TOKENS_PER_CONCEPT, MIN_SCORE, Batch, Neighbourhood, Profile, _words,
                                     concept_line, consolidation_request)
from kbc.compile.evidence import Naming, _fold, mentions, text_words
from kbc.compile.manifest import now, page_stem
from kbc.compile.judgements import ClaimJudgements, claim_id
from kbc.compile.rows import DIFFERENT, Claim, Concept
from kbc.compile.sources import Source
from kbc.vault.text import clip

PER_CONCEPT = 2  # claims asked about one concept in one run
PER_PAIR = 2  # of them from one neighbour
NEIGHBOURS = 40  # closest neighbours whose claims are ranked for one concept (the cost is theirs)
TOKENS_PER_CONCEPT = CLAIM_TOKENS_PER_CONCEPT  # claim lines a run asks: this much per concept listed
REQUEST_SHARE = 2  # one request at most twice its own concepts' share (the run's best gather in a few)
PAIR_BONUS = 15  # a neighbour close enough to be a candidate pair says most claims of it are near
OWN_CLAIM_WEIGHT = 0.5  # a word of the concept's own claims counts for half a definition word
CLAIM_CHARS = 240


@dataclass
class Question:
    concept: str  # key of the concept the claim may be about
    claim: Claim
    claim_id: str
    score: float
    elsewhere: bool = False  # about its source's subject instead (claim_subjects.py): takes a place, not asked


def _idf(claim_words: list[set[str]]):
    counts: dict[str, int] = {}
    for words in claim_words:
        for word in words:
            counts[word] = counts.get(word, 0) + 1
    total = max(len(claim_words), 1)
    return lambda word: math.log(total / counts.get(word, 1))


def questions(near: Neighbourhood, concepts: dict[str, Concept], member_key: dict[str, str], claims: list[Claim],
              asked: set[tuple[str, str]], apart: set[frozenset], drawn,
              titles: dict[str, str] | None = None) -> dict[str, list[Question]]:
    """Concept key -> its claim questions, best first. Pairs come from the blocking of the new
    concepts, both ways: a new concept's neighbours' claims for it, its claims for them.
    `asked`: (member, claim id) judged before; `apart`: key pairs decided different;
    `drawn(key, paths)`: the paths among `paths` the concept's page draws on already.
    A neighbour of the same name is left to the pair's own decision: one concept (merged) or
    two senses of one word, whose claims are about the other sense."""
    by_key: dict[str, list[Claim]] = {}
    keys_at: dict[str, set[str]] = {}  # source path -> the concepts with claims from it
    for claim in claims:
        if claim.kind == "claim" and claim.member in member_key:
            key = member_key[claim.member]
            by_key.setdefault(key, []).append(claim)
            keys_at.setdefault(claim.source_path, set()).add(key)
    pairs: dict[tuple[str, str], float] = {}  # (concept, neighbour whose claims are asked) -> pair score
    for key, others in near.scores.items():
        for other, value in others.items():
            for pair in ((key, other), (other, key)):
                pairs[pair] = max(pairs.get(pair, 0.0), value)
    # A concept whose own claims name another ("dropout" in Regularization's) is as close as a
    # candidate pair: that one's claims elsewhere may well be about it.
    for key, other, weight in named_in_claims(list(near.scores), concepts, by_key, titles or {}):
        pairs[(key, other)] = max(pairs.get((key, other), 0.0), weight * MIN_SCORE)
    neighbours: dict[str, list[tuple[float, str]]] = {}
    name_key = {k: concept_key(concepts[k].name) for k in {k for pair in pairs for k in pair} if k in concepts}
    for (key, other), value in pairs.items():
        if key in concepts and other in concepts and frozenset((key, other)) not in apart \
                and name_key[key] != name_key[other]:
            neighbours.setdefault(key, []).append((value, other))
    neighbours = {k: sorted(n, key=lambda n: (-n[0], n[1]))[:NEIGHBOURS] for k, n in neighbours.items()
                  if k in near.profiles}
    # Words of the claims in play only (an incremental run reads a few concepts' claims, not all),
    # and how rare each is among them.
    involved = set(neighbours) | {other for n in neighbours.values() for _, other in n}
    words = {id(c): set(_words(c.text)) for k in involved for c in by_key.get(k, [])}
    idf = _idf(list({c.text: words[id(c)] for k in involved for c in by_key.get(k, [])}.values()))
    asked_at = {c.source_path for k in involved for c in by_key.get(k, [])}  # the claims asked about's sources
    subjects = TitleSubjects(concepts, by_key, titles or {}, {path: keys_at[path] for path in asked_at})
    found: dict[str, list[Question]] = {}
    for key, near_ones in neighbours.items():
        profile = near.profiles[key]
        own = set(concepts[key].members)
        own_words = {w for c in by_key.get(key, []) for w in words[id(c)]}
        for value, other in near_ones:
            for claim in by_key.get(other, []):
                if claim.source_path in profile.sources:
                    continue
                cid = claim_id(claim)
                if any((m, cid) in asked for m in own):
                    continue
                score = _score(profile, own_words, words[id(claim)], idf, value)
                found.setdefault(key, []).append(Question(key, claim, cid, score,
                                                          subjects.elsewhere(claim, profile.names, profile.patterns)))
    out = {}
    for key, found_for in found.items():
        found_for.sort(key=lambda q: (-q.score, q.claim_id))
        searched: dict[str, bool] = {}  # source path -> the page draws on it already
        picked, per_neighbour, texts = [], {}, set()
        for q in found_for:
            neighbour, path = member_key[q.claim.member], q.claim.source_path
            # a claim naming a second concept of its source is that one's too (extract.naming_claims)
            if per_neighbour.get(neighbour, 0) >= PER_PAIR or (path, q.claim.text) in texts:
                continue
            if path not in searched:
                searched[path] = bool(drawn(key, [path]))
            if searched[path]:
                continue
            # A claim about another subject still takes its place: the concept's best claims
            # were not about it, those ranked below them are not searched for a better one.
            per_neighbour[neighbour] = per_neighbour.get(neighbour, 0) + 1
            texts.add((path, q.claim.text))
            picked.append(q)
            if len(picked) >= PER_CONCEPT:
                break
        if any(not q.elsewhere for q in picked):
            out[key] = [q for q in picked if not q.elsewhere]
    return out


def named_in_claims(keys: list[str], concepts: dict[str, Concept], by_key: dict[str, list[Claim]],
                    titles: dict[str, str]) -> list[tuple[str, str, float]]:
    """(key, other, weight) for each of `keys` whose claims or source's title name another
    concept ("Consistent Hashing" in the title of the paper Balance comes from); a concept's
    names are compiled only when a text holds their words (words index, no all-pairs)."""
    by_word: dict[str, set[str]] = {}
    for other, concept in concepts.items():
        for name in concept.link_names:
            for word in re.findall(r"\w+", name)[-1:]:
                by_word.setdefault(_fold(word), set()).add(other)
    namings: dict[str, Naming] = {}
    out = []
    for key in keys:
        own = by_key.get(key, [])
        found: dict[str, float] = {}
        for text, weight in ((" ".join(c.text for c in own), 1.0),
                             (" ".join(sorted({titles.get(c.source_path, "") for c in own})), 1.0)):
            words = text_words(text)
            for other in sorted({o for w in words & by_word.keys() for o in by_word[w]} - {key}):
                naming = namings.get(other) or namings.setdefault(other, Naming(concepts[other]))
                pattern = naming.finder(text) if naming.may_occur(words) else None
                if pattern is not None and pattern.search(text):
                    found[other] = max(found.get(other, 0.0), weight)
        out += [(key, other, weight) for other, weight in sorted(found.items())]
    return out + _naming_new(set(keys), concepts, by_key)


def _naming_new(new: set[str], concepts: dict[str, Concept],
                by_key: dict[str, list[Claim]]) -> list[tuple[str, str, float]]:
    """(old, new, 1.0) where an older concept's claims name a new concept: one pass over the
    claims with one pattern of the new names (a first compile, where all are new, skips it)."""
    names = sorted({n.casefold() for k in new if k in concepts for n in concepts[k].link_names if len(n) >= 3},
                   key=len, reverse=True)
    if not names or len(new) >= len(concepts):
        return []
    pattern = re.compile("|".join(re.escape(n) for n in names))
    namings: dict[str, Naming] = {}
    out = []
    for key, own in sorted(by_key.items()):
        text = " ".join(c.text for c in own)
        if key in new or key not in concepts or not pattern.search(text.casefold()):
            continue
        words = text_words(text)
        for other in sorted(new & concepts.keys()):
            naming = namings.get(other) or namings.setdefault(other, Naming(concepts[other]))
            found = naming.finder(text) if naming.may_occur(words) else None
            if found is not None and found.search(text):
                out.append((key, other, 1.0))
    return out


def _score(profile: Profile, own_words: set[str], words: set[str], idf, pair_score: float) -> float:
    """Rare words the claim shares with the concept's names (twice), definition and own claims
    (half), and a bonus when the two concepts are close enough to be a candidate pair. Summed
    exactly (fsum): a set's order follows the hash seed, a float sum's last digit the order."""
    named = math.fsum(idf(w) for w in words & profile.tokens)
    defined = math.fsum(idf(w) for w in words & (profile.definition - profile.tokens))
    claimed = math.fsum(idf(w) for w in words & (own_words - profile.tokens - profile.definition))
    return 2 * named + defined + OWN_CLAIM_WEIGHT * claimed + (PAIR_BONUS if pair_score >= MIN_SCORE else 0)


def drawn_on(sources: list[Source], concepts: dict[str, Concept], pages: dict[str, str]):
    """`drawn` for questions(): the sources where mention search finds the concept already
    (so its page draws on them without any question), searched one source at a time, only
    those asked about (no index of every source's words)."""
    by_path = {s.path: s for s in sources}

    def drawn(key: str, paths: list[str]) -> list[str]:
        candidates = [by_path[p] for p in paths if p in by_path]
        found = mentions(concepts[key], candidates, pages, set()) if candidates else []
        named = {e.source_page for e in found}
        return [p for p in paths if pages.get(p) in named]

    return drawn


def attach(batches: list[Batch], found: dict[str, list[Question]], titles: dict[str, str],
           count_tokens, line_of=None, limited: bool = True) -> list[list[dict]]:
    """Each batch's claim groups for the prompt (numbering its Q lines in batch.claims). The
    run's best questions, up to TOKENS_PER_CONCEPT for each concept listed, go in the first
    batch listing their concept, one request at most REQUEST_SHARE times its concepts' share
    (so its size stays proportional to what its pairs made it). A concept no batch
    lists (an older one a new source's claims may be about) is added to the last batch with
    its first question, its C line `line_of(label, key)` paid from the same budget.
    `limited=False`: every question found is placed (they were chosen already)."""
    home: dict[str, int] = {}
    for number, batch in enumerate(batches):
        for key in batch.labels.values():
            home.setdefault(key, number)
    budget = TOKENS_PER_CONCEPT * len(home)
    size, sizes = 0, [0] * len(batches)
    chosen: list[list[Question]] = [[] for _ in batches]
    everyone = [q for k in found if k in home or line_of for q in found[k]]
    for q in sorted(everyone, key=lambda q: (-q.score, q.claim_id)):
        number = home.get(q.concept, len(batches) - 1)
        line = ""
        if q.concept not in home:
            line = line_of(f"C{len(batches[number].labels) + 1}", q.concept)
        cost = count_tokens(q.claim.text) + 6 + (count_tokens(line) if line else 0)
        share = REQUEST_SHARE * TOKENS_PER_CONCEPT * max(len(batches[number].labels), 1)
        if limited and (size + cost > budget or sizes[number] + cost > share):
            continue
        if line:
            batches[number].labels[f"C{len(batches[number].labels) + 1}"] = q.concept
            batches[number].lines.append(line)
            home[q.concept] = number
        size, sizes[number] = size + cost, sizes[number] + cost
        chosen[number].append(q)
    out = []
    for batch, mine in zip(batches, chosen):
        label_of = {k: c for c, k in batch.labels.items()}
        groups: dict[str, list[str]] = {}
        batch.claims = []
        for q in sorted(mine, key=lambda q: (titles.get(q.claim.source_path, q.claim.source_path), q.claim_id)):
            label = f"Q{len(batch.claims) + 1}"
            batch.claims.append((label, q.concept, q))
            text = clip(" ".join(q.claim.text.split()), CLAIM_CHARS)
            groups.setdefault(titles.get(q.claim.source_path, q.claim.source_path), []).append(
                f"{label}: {label_of[q.concept]} | {text}")
        out.append([{"source": s, "lines": lines} for s, lines in groups.items()])
    return out


def judged(batch: Batch, data: dict, concepts: dict[str, Concept]) -> list[tuple[str, str, bool]]:
    """(the concept's first member, claim id, about) for every claim the batch asked."""
    about = {str(a).strip() for a in data.get("about", []) or []}
    return [(concepts[key].members[0], q.claim_id, label in about) for label, key, q in batch.claims]


def _apart(decisions, member_key: dict[str, str]) -> set[frozenset]:
    """The pairs of concepts decided different: consolidate.relations' "different" ones, read
    without working out every other relation (600,000 decisions at 10,000 sources)."""
    out = set()
    for d in decisions:
        if d.relation == DIFFERENT:
            a, b = member_key.get(d.a), member_key.get(d.b)
            if a and b and a != b:
                out.add(frozenset((a, b)))
    return out


class ClaimQuestions:
    """The step inside consolidation: questions into its batches, answers into the store."""

    def __init__(self, vault, llm, templates, manifest, max_output: int):
        self.templates, self.manifest, self.max_output = templates, manifest, max_output
        # A dry run's estimate has no model: about four characters a token.
        self.count_tokens = llm.count_tokens if llm is not None else lambda text: (len(text) + 3) // 4
        self.store = ClaimJudgements(vault.db, vault.db_lock)

    def prepare(self, batches: list[Batch], near: Neighbourhood, identity, titles: dict[str, str],
                sources: list[Source]) -> None:
        """Adds the claim questions to the batches' requests (no request of its own)."""
        if not batches or not near.scores:
            return
        asked = self.store.asked()
        # Every pair asked about has a new concept in it: the decisions about those do.
        mine = [m for k in near.scores if k in identity.concepts for m in identity.concepts[k].members]
        apart = _apart(self.manifest.touching(mine, (DIFFERENT,)), identity.member_key)
        found = questions(near, identity.concepts, identity.member_key, self.manifest.claims(), asked, apart,
                          self._drawn(identity, sources), titles)
        for batch, groups in zip(batches, attach(batches, found, titles, self.count_tokens,
                                                 self._line_of(identity, titles))):
            if groups:
                batch.request = consolidation_request(batch, self.templates, self.max_output, groups)

    def replay(self, union: list[Batch], todo: list[Batch], near: Neighbourhood, identity, titles: dict[str, str],
               sources: list[Source]) -> list[Batch]:
        """For a merge (kbc/merge/replay.py): the questions compiling the union would have asked
        (`union`: its first run's batches, `identity` its concepts then), less those either vault
        judged, put into `todo` (the replay's batches; one with no pair is added if needed)."""
        found = questions(near, identity.concepts, identity.member_key, self.manifest.claims(), set(), set(),
                          self._drawn(identity, sources), titles)
        attach(union, found, titles, self.count_tokens)
        asked = {(r["member"], r["claim_id"]) for r in self.store.rows()}
        left: dict[str, list[Question]] = {}
        for q in (q for batch in union for _, _, q in batch.claims):
            if not any((m, q.claim_id) in asked for m in identity.concepts[q.concept].members):
                left.setdefault(q.concept, []).append(q)
        if not left:
            return todo
        todo = todo or [Batch({}, [], None, [])]
        line_of = self._line_of(identity, titles)
        for batch, groups in zip(todo, attach(todo, left, titles, self.count_tokens, line_of, limited=False)):
            batch.request = consolidation_request(batch, self.templates, self.max_output, groups)
        return todo

    def _drawn(self, identity, sources: list[Source]):
        pages = {path: page_stem(row.summary_page) for path, row in self.manifest.sources().items()}
        return drawn_on(sources, identity.concepts, pages)

    def _line_of(self, identity, titles: dict[str, str]):
        """A C line for a concept no batch lists (an older one a new source's claims may be about)."""
        members = {m.id: m for m in self.manifest.members()}
        return lambda label, key: concept_line(label, identity.concepts[key], members, titles)

    def answered(self, batch: Batch, data: dict, concepts: dict[str, Concept]) -> None:
        self.store.add(judged(batch, data, concepts), now())


def explained(manifest, label) -> list[str]:
    """`kbc compile --explain`'s lines for the claims judged about a concept (`label(member)`
    names the concept); a rejection is not listed, only counted."""
    rows = ClaimJudgements(manifest.db, manifest.lock).rows()
    by_id = {claim_id(c): c for c in manifest.claims() if c.kind == "claim"}
    lines = [f"about: {label(r['member'])} <- [{by_id[r['claim_id']].source_path} "
             f"line {by_id[r['claim_id']].lines}] {clip(by_id[r['claim_id']].text, 120)} (model)"
             for r in rows if r["about"] and r["claim_id"] in by_id]
    rejected = sum(not r["about"] for r in rows)
    return lines + ([f"claims judged not about the concept asked: {rejected}"] if rejected else [])

