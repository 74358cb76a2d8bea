"""Stage 2: concept identity across sources. Code finds candidate pairs among concepts that
have not been through consolidation yet (and against all others); one cheap request per
batch — names, aliases, source titles, one-line definitions, never the sources — decides
same / part of / related / different, and renames names that do not stand alone."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz

from kbc.compile.blocking import NEAR_DUPLICATE, Blocks, name_starts
from kbc.compile.concepts import MentionPattern, concept_key
from kbc.compile.rows import (A_PART_OF_B, B_PART_OF_A, DIFFERENT, RELATED, RELATIONS, RENAME, SAME, Concept,
                              Decision, Member)
from kbc.llm import Request
from kbc.llm.prompts import pack
from kbc.llm.schema import TEXT, array, obj
from kbc.vault.links import link_key
from kbc.vault.text import first_sentence

CONSOLIDATE_TEMPLATE = "prompts/consolidate.j2"
PAIRS_PER_CONCEPT = 6  # candidates per new concept, best first (same names always go)
MIN_SCORE = 12
TOKENS_PER_DECISION = 20  # of the answer, to size batches
DEFINITION_CHARS = 320  # a definition's whole first sentence: cut mid-sentence, the distinction is often lost

CONSOLIDATE_SCHEMA = obj(
    "concept_decisions",
    decisions=array(obj(pair=TEXT, relation={"type": "string", "enum": list(RELATIONS)}, name=TEXT)),
    renames=array(obj(concept=TEXT, name=TEXT)),
    about=array(TEXT))  # the claims judged about their concept (kbc/compile/claim_judging.py)

_STOP = {"the", "a", "an", "of", "and", "or", "in", "on", "for", "to", "by", "with", "as", "at", "from",
         "is", "are", "that", "which", "its", "it", "this", "be", "used", "each", "one", "into", "when",
         "where", "than", "can", "their", "how", "what", "not", "all", "any", "such", "also", "so", "do"}


def duplicate_label(name: str) -> str:
    """A name as the near-duplicate rule compares it: case-folded, tokens sorted."""
    return " ".join(sorted(link_key(name).split()))


def _words(text: str) -> list[str]:
    return list(_word_keys(text))


@lru_cache(maxsize=65536)
def _word_keys(text: str) -> tuple[str, ...]:
    # Asked again and again for one name, definition or claim in a run (profiles, anchors,
    # claim questions): 22M concept_key calls in a profiled 3,000-note first compile.
    return tuple(concept_key(w) for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", text) if w.lower() not in _STOP)


def _initials(name: str) -> str:
    parts = [p for p in re.split(r"[\s\-/]+", name) if p and p.lower() not in _STOP]
    return "".join(p[0] for p in parts).lower() if len(parts) >= 2 else ""


@dataclass
class Profile:
    """What code compares about one concept."""
    key: str
    names: list[str]
    name_keys: set[str]
    tokens: set[str]
    initials: set[str]
    definition: set[str]
    definition_text: str
    sources: set[str]
    labels: list[str]  # duplicate_label of each name, computed once per run
    patterns: list[tuple[str, MentionPattern]]  # (casefolded name, its mention pattern), compiled when first used
    text_words: set[str] = field(default_factory=set)  # the words of definition_text
    starts: set[str] = field(default_factory=set)  # _name_starts

    def __reduce__(self):  # kept with the identity (identity_state.py): stored without the patterns
        values = [getattr(self, f) for f in _PROFILE_FIELDS]
        return _profile, (values, [name for name, _ in self.patterns])


_PROFILE_FIELDS = [f for f in Profile.__dataclass_fields__ if f != "patterns"]


def _profile(values: list, patterns: list[str]) -> Profile:
    return Profile(**dict(zip(_PROFILE_FIELDS, values)), patterns=[(n, MentionPattern(n)) for n in patterns])


def profile(concept: Concept, members: dict[str, Member]) -> Profile:
    own = [members[m] for m in concept.members if m in members]
    names = list(dict.fromkeys([concept.name, *concept.aliases]))
    definition = " ".join(m.definition for m in own)
    out = Profile(concept.key, names, {concept_key(n) for n in names},
                  {w for n in names for w in _words(n)}, {i for n in names if (i := _initials(n))},
                  set(_words(definition)), definition.casefold(), {m.source_path for m in own},
                  [duplicate_label(n) for n in names],
                  [(n.casefold(), MentionPattern(n.casefold())) for n in names if len(n) >= 3])
    out.text_words, out.starts = set(re.findall(r"\w+", out.definition_text)), name_starts(out)
    return out


def profiles_of(concepts: dict[str, Concept], members: dict[str, Member], memo: dict | None) -> dict[str, Profile]:
    """Each concept's profile; `memo`: key -> a dict kept while the concept's cluster stays
    as it is (Identity.memo), where the profile a run made is found by the next."""
    out = {}
    for key, concept in concepts.items():
        kept = memo.get(key) if memo else None
        if kept is not None and "profile" in kept:
            out[key] = kept["profile"]
            continue
        out[key] = profile(concept, members)
        if kept is not None:
            kept["profile"] = out[key]
    return out


def _mentions(patterns: list[tuple[str, re.Pattern]], text: str) -> bool:
    # The substring test is a necessary condition, and far cheaper than the search.
    return any(name in text and pattern.search(text) for name, pattern in patterns)


def score(x: Profile, y: Profile, weight) -> float:
    """How likely x and y are one concept, or one part of the other: names first."""
    value = 0.0
    if x.name_keys & y.name_keys:
        value += 100
    if x.initials & y.name_keys or y.initials & x.name_keys:
        value += 90
    if any(fuzz.ratio(a, b, score_cutoff=NEAR_DUPLICATE) for a in x.labels for b in y.labels):
        value += 100  # what lint would call a duplicate is always asked
    # fsum: exact whatever order a set gives its words in (that order follows the hash seed and
    # a set's history, and a float sum's last digit follows the order: asked pairs must not).
    value += math.fsum(weight(t) for t in x.tokens & y.tokens)
    if _mentions(y.patterns, x.definition_text) or _mentions(x.patterns, y.definition_text):
        value += 30
    fuzzy = max(fuzz.token_set_ratio(a, b, score_cutoff=80) for a in x.name_keys for b in y.name_keys)
    if fuzzy >= 80:
        value += (fuzzy - 70) / 2
    common = x.definition & y.definition
    if common:
        value += 40 * math.fsum(weight(t) for t in common) / (30 * math.sqrt(len(x.definition | y.definition)))
    return value


def anchors(concepts: dict[str, Concept], members: dict[str, Member], titles: dict[str, str],
            paths: set[str] | None = None) -> dict[str, set[str]]:
    """Per source (of `paths`, if given), the concepts its sub-aspects are likely part of: the
    one it lists first and those its title names ("MapReduce" in "MapReduce: Simplified Data
    Processing")."""
    key_of = {m: k for k, c in concepts.items() for m in c.members}
    out: dict[str, set[str]] = {}
    by_source: dict[str, list[Member]] = {}  # grouped once: a scan of all members per source was quadratic
    for m in members.values():
        if paths is None or m.source_path in paths:
            by_source.setdefault(m.source_path, []).append(m)
    for path, own in by_source.items():
        own = sorted(own, key=lambda m: (m.seq, m.id))
        title = set(_words(titles.get(path, "")))
        found = {key_of[m.id] for m in own[:1] if m.id in key_of}
        found |= {key_of[m.id] for m in own if m.id in key_of and set(_words(m.name)) and set(_words(m.name)) <= title}
        out[path] = found
    return out


@dataclass
class Neighbourhood:
    """What candidate_pairs found, for the claim questions (kbc/compile/claim_judging.py):
    each new concept's blocked neighbours with their score, decided pairs included."""
    profiles: dict[str, Profile] = field(default_factory=dict)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # new key -> other -> score


def candidate_pairs(concepts: dict[str, Concept], members: dict[str, Member],
                    decided: set[frozenset], titles: dict[str, str],
                    near: Neighbourhood | None = None, memo: dict | None = None) -> list[tuple[str, str]]:
    """Pairs (new, other) worth a decision, best first per new concept; `decided` holds
    pairs of concept keys already decided (by the model or a person): never asked again.
    `near`, if given, is filled with what the blocking found; `memo`: see profiles_of."""
    new = [k for k, c in concepts.items() if any(not members[m].considered for m in c.members if m in members)]
    if not new:
        return []
    profiles = profiles_of(concepts, members, memo)
    main = anchors(concepts, members, titles, {path for k in new for path in profiles[k].sources})
    frequency: dict[str, int] = {}
    for p in profiles.values():
        for token in p.tokens | p.definition:
            frequency[token] = frequency.get(token, 0) + 1

    def weight(token: str) -> float:  # a word shared by many concepts says little
        return 30 / math.sqrt(frequency.get(token, 1))

    blocks = Blocks(profiles, frequency, sum(len(profiles[k].name_keys) for k in new))
    if near is not None:
        near.profiles = profiles
    pairs: dict[frozenset, float] = {}
    for key in new:
        if near is not None:
            near.scores.setdefault(key, {})
        scored = []
        for other in blocks.of(key):
            p = profiles[other]
            known = frozenset((key, other)) in decided
            if known and near is None:
                continue
            value = score(profiles[key], p, weight)
            if near is not None:
                near.scores.setdefault(key, {})[other] = value
            if known:
                continue
            if value >= MIN_SCORE:
                scored.append((value, other))
        scored.sort(key=lambda s: (-s[0], s[1]))
        for rank, (value, other) in enumerate(scored):
            if rank < PAIRS_PER_CONCEPT or value >= 100:
                pair = frozenset((key, other))
                pairs[pair] = max(pairs.get(pair, 0), value)
        for path in profiles[key].sources:  # a source's sub-aspects and its main concepts
            for other in main.get(path, ()):
                pair = frozenset((key, other))
                if other != key and pair not in decided:
                    pairs.setdefault(pair, 50)
    ordered = sorted(pairs.items(), key=lambda p: (-p[1], sorted(p[0])))
    return [tuple(sorted(pair)) for pair, _ in ordered]


# Before extraction the pairs are not known: `kbc compile --estimate` counts consolidation
# from what a real model's extractions of the corpus gave (111 concepts of 184 asked, 244
# candidate pairs, concept lines of about 48 tokens).
FOUND_SHARE = 0.6  # of the concepts asked, those a source gives
PAIRS_PER_FOUND = 2.2
CONCEPT_LINE_TOKENS = 48
PAIR_LINE_TOKENS = 5
CLAIM_TOKENS_PER_CONCEPT = 50  # the claim questions' budget per concept listed (claim_judging.py)


def estimate(concepts_asked: int, request_tokens: int, max_output: int) -> tuple[int, int]:
    """(requests, prompt tokens) consolidating the concepts of sources asked for
    `concepts_asked` will about take; `request_tokens`: a request with no concept in it."""
    found = round(concepts_asked * FOUND_SHARE)
    if not found:
        return 0, 0
    pairs = round(found * PAIRS_PER_FOUND)
    requests = math.ceil(pairs / max(10, (max_output - 400) // TOKENS_PER_DECISION))
    return requests, (requests * request_tokens + found * (CONCEPT_LINE_TOKENS + CLAIM_TOKENS_PER_CONCEPT)
                      + pairs * PAIR_LINE_TOKENS)


@dataclass
class Batch:
    labels: dict[str, str]  # "C3" -> concept key
    pairs: list[tuple[str, str, str]]  # ("P1", key a, key b)
    request: Request
    lines: list[str] = field(default_factory=list)  # the C lines
    claims: list[tuple[str, str, object]] = field(default_factory=list)  # ("Q1", concept key, Question)


def concept_line(label: str, concept: Concept, members: dict[str, Member], titles: dict[str, str]) -> str:
    own = [members[m] for m in concept.members if m in members]
    origin = "; ".join(dict.fromkeys(titles.get(m.source_path, m.source_path) for m in own[:3]))
    aliases = [a for a in concept.aliases if a != concept.name][:6]
    also = f" (also: {', '.join(aliases)})" if aliases else ""
    definition = first_sentence(concept.definition, DEFINITION_CHARS) or "no definition given"
    return f"{label}: {concept.name}{also} | from: {origin} | {definition}"


def batches(pairs: list[tuple[str, str]], new: list[str], concepts: dict[str, Concept],
            members: dict[str, Member], titles: dict[str, str], templates, max_output: int) -> list[Batch]:
    """Pairs packed into requests; every new concept is listed in one of them (even with no
    pair to judge), so that a name that does not stand alone can be renamed."""
    per_request = max(10, (max_output - 400) // TOKENS_PER_DECISION)
    # Pairs that share a concept go together, so each concept line is sent as few times as can be.
    ordered = sorted(pairs, key=lambda p: (min(p), max(p)))
    groups = pack(ordered, lambda p: 1, per_request, per_request)
    paired = {k for pair in pairs for k in pair}
    alone = [k for k in new if k not in paired]
    for start in range(0, len(alone), per_request):  # a rename costs about what a decision does
        chunk = alone[start:start + per_request]
        if groups and len(groups[-1]) + len(chunk) <= per_request and start == 0:
            groups[-1] = groups[-1] + [(k,) for k in chunk]
        else:
            groups.append([(k,) for k in chunk])
    out = []
    position = {k: n for n, k in enumerate(concepts)}  # not a scan of every concept per batch
    for group in groups:
        keys = list(dict.fromkeys(k for item in group for k in item))
        listed = sorted((k for k in keys if k in position), key=position.__getitem__)  # stable order: the catalogue's
        labels = {f"C{n}": k for n, k in enumerate(listed, start=1)}
        lines = [concept_line(c, concepts[k], members, titles) for c, k in labels.items()]
        asked = [(f"P{n}", a, b) for n, (a, b) in enumerate((i for i in group if len(i) == 2), start=1)]
        batch = Batch(labels, asked, None, lines)
        batch.request = consolidation_request(batch, templates, max_output)
        out.append(batch)
    return out


def consolidation_request(batch: Batch, templates, max_output: int, claims: list[dict] | None = None) -> Request:
    """The batch's request; `claims`: the claim questions grouped by source (claim_judging)."""
    label_of = {k: c for c, k in batch.labels.items()}
    prompt = templates.prompt(CONSOLIDATE_TEMPLATE, concepts=batch.lines, claims=claims or [],
                              pairs=[f"{p}: {label_of[a]} / {label_of[b]}" for p, a, b in batch.pairs])
    return Request("consolidate", prompt, CONSOLIDATE_SCHEMA, max_output,
                   label=f"consolidation of {len(batch.lines)} concepts",
                   check=_answers_all([p for p, _, _ in batch.pairs]))


def _answers_all(pairs: list[str]):
    """A pair left out would be taken as different for good: most must be answered."""
    def check(data: dict) -> str:
        answered = {d["pair"].strip() for d in data["decisions"]}
        missing = [p for p in pairs if p not in answered]
        if len(missing) > len(pairs) // 10:
            return f"{len(missing)} of {len(pairs)} pairs have no decision (first: {missing[0]}); decide every pair"
        return ""
    return check


def decisions_from(batch: Batch, data: dict, concepts: dict[str, Concept]) -> list[Decision]:
    """The answer as decisions between representative members (which stay stable). A pair
    the model left out is taken as different: it is not asked again."""
    rep = {k: concepts[k].members[0] for k in batch.labels.values()}
    answered = {d["pair"].strip(): d for d in data.get("decisions", [])}
    out = []
    for pair, a, b in batch.pairs:
        decision = answered.get(pair, {"relation": DIFFERENT, "name": ""})
        relation = decision["relation"] if decision["relation"] in RELATIONS else DIFFERENT
        name = " ".join(decision.get("name", "").split()) if relation == SAME else ""
        out.append(Decision(rep[a], rep[b], relation, name))
    for rename in data.get("renames", []):
        key = batch.labels.get(rename["concept"].strip())
        name = " ".join(rename["name"].split())
        if key and name and len(name) <= 80 and concept_key(name) != concept_key(concepts[key].name):
            out.append(Decision(rep[key], "", RENAME, name))
    return out


def decided_pairs(decisions: list[Decision], member_key: dict[str, str]) -> set[frozenset]:
    out = set()
    for d in decisions:
        if d.relation != RENAME and d.a in member_key and d.b in member_key:
            out.add(frozenset((member_key[d.a], member_key[d.b])))
    return out


def relations(decided: list[tuple[str, str, str]], member_key: dict[str, str]) -> list[tuple[str, str, str]]:
    """(child or a, parent or b, relation) between current concept keys, for the graph, from
    (member a, member b, relation) of the decisions; "different" pairs are kept off each
    other's Related lists."""
    out = []
    for first, second, relation in decided:
        a, b = member_key.get(first), member_key.get(second)
        if not a or not b or a == b:
            continue
        if relation == A_PART_OF_B:
            out.append((a, b, "part_of"))
        elif relation == B_PART_OF_A:
            out.append((b, a, "part_of"))
        elif relation == RELATED:
            out.append((a, b, "related"))
        elif relation == DIFFERENT:
            out.append((a, b, "different"))
    return out
