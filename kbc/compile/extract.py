"""Stage 1: one extraction request per source (or per part of a long one), and what it yields:
members (the source's concepts), claims, and the source's summary page."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from kbc.compile.concepts import ConceptMatcher, concept_key
from kbc.compile.evidence import name_pattern
from kbc.compile.names import CATEGORIES, category, is_name, is_source_title, name_text
from kbc.compile.rows import Claim, Member
from kbc.compile.grounding import content_stems, repetition, ungrounded
from kbc.compile.sources import Source, numbered_lines, split_to_fit
from kbc.errors import KbcError
from kbc.llm import Request
from kbc.llm.schema import TEXT, array, obj

EXTRACT_TEMPLATE = "prompts/extract.j2"
CATALOGUE_TOKENS = 2000  # the shared context of a stage: fixed per run, bounded as the wiki grows
MIN_CONCEPTS, MAX_CONCEPTS = 8, 24
TOKENS_PER_EXTRA_CONCEPT = 800  # a longer source is asked for more concepts, up to MAX_CONCEPTS
ANSWER_TOKENS_PER_CONCEPT = 175  # a concept with its definition and a few claims, in the answer
TOKENS_PER_CONCEPT = 250  # the room asked for one: a real model's paper concepts ran to ~200 each
NAMING_CLAIMS = 5  # claims of the source's other concepts that a concept's name gives it
RESTATED = 0.7  # ... unless this share of its words is in a claim the concept has already

# "12", "12-15" or a few scattered lines "77, 98": bounded, so a small model cannot loop in it.
LINES = {"type": "string", "maxLength": 40}
EXTRACT_SCHEMA = obj(
    "source_extraction", title=TEXT, summary={"type": "string", "minLength": 1},
    concepts=array(obj(name={"type": "string", "minLength": 1}, aliases=array(TEXT),
                       category=TEXT,  # one of CATEGORIES (listed in the prompt; near misses mapped)
                       definition=TEXT, claims=array(obj(text=TEXT, lines=LINES))), 0, MIN_CONCEPTS))


def concepts_wanted(tokens: int, max_output: int) -> int:
    """8 for a note, growing with length to 24 for a long paper, as many as fit the answer."""
    wanted = MIN_CONCEPTS + max(0, tokens - 2000) // TOKENS_PER_EXTRA_CONCEPT
    fits = (max_output - 300) // ANSWER_TOKENS_PER_CONCEPT
    return max(MIN_CONCEPTS, min(MAX_CONCEPTS, wanted, fits))  # never fewer than a note gets


def extract_schema(wanted: int, may_find_none: bool = True) -> dict:
    schema = copy.deepcopy(EXTRACT_SCHEMA)
    schema["properties"]["concepts"]["maxItems"] = wanted
    if not may_find_none:
        schema["properties"]["concepts"]["minItems"] = 1
    return schema


@dataclass
class ExtractSetup:
    templates: object
    count_tokens: object
    context_window: int
    max_output: int
    # A real model can tell a stub (a paywalled page) that explains nothing; a tiny embedded
    # one answers "none" to everything when allowed to, so it is held to one concept.
    may_find_none: bool = True
    # A long paper's 24 concepts with their claims need more room than a note's 8: up to this
    # many answer tokens (a model is paid for what it writes, not for the room).
    long_output: int = 0

    def answer_tokens(self, wanted: int) -> int:
        return min(max(self.long_output, self.max_output), max(self.max_output, 400 + wanted * TOKENS_PER_CONCEPT))


def extract_requests(setup: ExtractSetup, source: Source, known: list[str]) -> list[Request]:
    lines = numbered_lines(source.body)
    empty = setup.templates.prompt(EXTRACT_TEMPLATE, known_concepts=known, title=source.title,
                                   numbered_text="", part=0, parts=0, wanted=MAX_CONCEPTS,
                                   categories=CATEGORIES, about=source.about())
    overhead = setup.count_tokens(empty.prefix_text() + empty.item) + 64
    room = setup.context_window - overhead - setup.answer_tokens(MAX_CONCEPTS)
    if room < 200:
        raise KbcError(f"context window of {setup.context_window} tokens is too small for extraction")
    parts = split_to_fit(lines, room, setup.count_tokens)
    requests = []
    for number, part in enumerate(parts, start=1):
        wanted = concepts_wanted(setup.count_tokens(part), setup.answer_tokens(MAX_CONCEPTS))
        answer = setup.answer_tokens(wanted)
        prompt = setup.templates.prompt(
            EXTRACT_TEMPLATE, known_concepts=known, title=source.title, numbered_text=part,
            part=number if len(parts) > 1 else 0, parts=len(parts), wanted=wanted, categories=CATEGORIES,
            about=source.about())
        requests.append(Request("extract", prompt, extract_schema(wanted, setup.may_find_none), answer,
                                label=f"{source.path}" + (f" part {number}" if len(parts) > 1 else "")))
    return requests


def merge_parts(parts: list[dict]) -> dict:
    """Extractions of the parts of one long source become one: concepts joined by name."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, dict] = {}
    matcher = ConceptMatcher()
    for part in parts:
        for concept in part["concepts"]:
            key = matcher.match([concept["name"], *concept["aliases"]]) or concept_key(concept["name"])
            matcher.add(key, [concept["name"], *concept["aliases"]])
            if key in merged:
                merged[key]["aliases"] = sorted(set(merged[key]["aliases"]) | set(concept["aliases"]))
                merged[key]["claims"].extend(concept["claims"])
            else:
                merged[key] = {**concept, "claims": list(concept["claims"])}
    return {"title": parts[0]["title"], "summary": " ".join(p["summary"].strip() for p in parts),
            "concepts": list(merged.values())}


def members_of(source: Source, data: dict) -> tuple[list[Member], list[Claim]]:
    """The extraction's concepts as members of this source, with their claims. A concept
    named like the source's own title, or not named at all, is dropped."""
    members: dict[str, Member] = {}
    claims: list[Claim] = []
    seen: set[tuple[str, str]] = set()
    for concept in data["concepts"]:
        name = name_text(concept["name"])
        if not is_name(name) or is_source_title(name, source.title) or not concept_key(name):
            continue
        member_id = f"{source.path}::{concept_key(name)}"
        if repetition(concept["definition"]):  # a small model's loop is no definition
            concept = {**concept, "definition": ""}
        aliases = [a for a in map(name_text, concept["aliases"]) if is_name(a) and concept_key(a) != concept_key(name)]
        if member_id in members:  # the same name twice in one answer: one member
            members[member_id].aliases = sorted(set(members[member_id].aliases) | set(aliases), key=str.casefold)
        else:
            members[member_id] = Member(member_id, source.path, name, sorted(set(aliases), key=str.casefold),
                                        concept["definition"].strip(), category(concept["category"]))
        if concept["definition"].strip():
            claims.append(Claim(source.path, member_id, "definition", concept["definition"].strip(), ""))
        for claim in concept["claims"]:
            text = " ".join(claim["text"].split())
            # A "claim" that only repeats the name, or is a list of numbers, says nothing;
            # duplicates add nothing.
            words = [w for w in text.split() if any(c.isalpha() for c in w)]
            if len(words) >= 3 and (member_id, text.casefold()) not in seen \
                    and not _unsupported(text, source, [name, *aliases]):
                seen.add((member_id, text.casefold()))
                claims.append(Claim(source.path, member_id, "claim", text, claim["lines"].strip()))
    return list(members.values()), claims + naming_claims(list(members.values()), claims)


def naming_claims(members: list[Member], claims: list[Claim]) -> list[Claim]:
    """Each member's share of the source's claims filed under another of its concepts but
    naming it ("Cook said Apple was pulled into the enterprise" under Apple Inc. is also Tim
    Cook's): a model files a fact under one concept, and the page of the other would otherwise
    lack what its own source says of it. Source-local: work in proportion to one source."""
    stems = {id(c): set(content_stems(c.text)) for c in claims}
    out = []
    for member in members:
        pattern = name_pattern([member.name, *member.aliases])
        if pattern is None:
            continue
        said = [stems[id(c)] for c in claims if c.member == member.id]
        mine = []
        for claim in claims:
            if len(mine) == NAMING_CLAIMS:
                break
            if claim.kind != "claim" or claim.member == member.id or not pattern.search(claim.text):
                continue
            words = stems[id(claim)]
            # one the concept says already, in its own claims or one taken here, adds nothing
            if any(len(words & other) >= RESTATED * len(words) for other in said):
                continue
            said.append(words)
            mine.append(Claim(claim.source_path, member.id, "claim", claim.text, claim.lines))
        out += mine
    return out


def _unsupported(claim: str, source: Source, names: list[str]) -> str:
    """A claim the source's own words do not carry (a loop, a name or words it never uses):
    checked against the whole source and the line about it the prompt gave (author, site,
    date), so a real model's paraphrase passes (1 of 158 real claims rejected on the corpus
    fixtures) while a small model's invention does not."""
    sentence = claim if claim.endswith((".", "!", "?")) else claim + "."
    return ungrounded(sentence, [source.title, source.about(), source.body], set(names))
