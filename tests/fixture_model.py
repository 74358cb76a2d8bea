"""A scripted model that answers like a strong real model, from the corpus's extractions and gold.

Plug it into the scripted server: `ScriptedServer(FixtureModel())`. Per /work/notes/CONTRACT.md:
- `source_extraction`: the fixture whose claim quotes occur in the prompt's numbered lines,
  each claim re-numbered to where its quote sits (keeping the span the model cited when the
  quote is only its opening); a source sent in parts gets, per part, the
  fixture concepts (and claims) found in that part. A source no fixture matches gets the
  plain scripted answer.
- `concept_decisions`: what a perfect model decides, from the gold, for exactly the pairs
  asked (and renames only for gold too-generic names listed); every request is recorded in
  `consolidations`, so a benchmark can tell which gold pairs code put in front of the model.
  Its claim questions (`Q3: C5 | claim`, under `From: <source title>`) are answered "about"
  exactly when gold_mentions gives C5's ids a passage of that source within a line of the
  claim's fixture lines; each is recorded in `claims_asked`.
- `concept_articles`: per concept asked, paragraphs from the evidence lines given, citing
  every source number that evidence carries, [[linking]] listed page names the text mentions.
Answers are conformed to the request's schema (unknown fields filled with defaults), so a
compiler that adds fields still gets valid answers.
"""
from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tests.fixture_data import (EXTRACTIONS, NumberedText, best_fixture, first_line_number, line_set, load_fixtures,
                                load_gold, name_key, near_lines, norm)
from tests.scripted import ScriptedModel, fill, text_of
from kbc.vault.lines import line_ranges

ARTICLE_HEADINGS = {"sources", "related", "see also", "backlinks", "links"}
PARAGRAPH_CHARS = 900
DEFINITION_KEY = 40  # letters of a definition that identify a fixture concept


@dataclass
class Consolidation:
    """One consolidation request as the model saw it: concept ids per C line, pairs asked."""
    concepts: dict[str, frozenset]  # "C3" -> fixture ids
    pairs: list[tuple[str, str, str]]  # ("P1", "C3", "C7")
    unmapped: list[str]  # C lines no fixture concept matched


@dataclass
class ClaimAsked:
    """One claim question of a consolidation request: is this claim about that concept?"""
    concept: frozenset  # fixture ids of the C line asked about
    source: str  # fixture stem of the claim's source ("" when not recognised)
    lines: set  # the claim's lines in the fixture (empty when not found)
    text: str
    about: bool


@dataclass
class SeenEvidence:
    """One evidence line of a write request as the model saw it: for scoring what code sends."""
    concept: str  # the section's concept name
    source: str  # the page name its source number stands for
    text: str
    heading: str  # the list's heading: "Claims", "Lines of other sources that name it", ...

    @property
    def mention(self) -> bool:
        """From a source whose extraction did not list the concept."""
        return self.heading.startswith("Lines of other sources")


class FixtureModel(ScriptedModel):
    def __init__(self, extractions: Path = EXTRACTIONS):
        self.fixtures = load_fixtures(extractions)
        self.gold = load_gold(extractions)
        self.titles: dict[str, str] = {}  # name_key(title) -> fixture stem, from extraction prompts
        for fixture in self.fixtures.values():
            self.titles[name_key(fixture.title)] = fixture.stem
            self.titles[name_key(fixture.stem)] = fixture.stem
        self.by_name: dict[str, list[str]] = {}  # name_key -> fixture ids (names, aliases, gold names)
        self.by_definition: dict[str, list[str]] = {}  # start of the definition -> fixture ids
        for fixture in self.fixtures.values():
            for concept in fixture.concepts:
                concept_id = fixture.concept_id(concept)
                names = [concept["name"], *concept.get("aliases", [])]
                if concept_id in self.gold.generic:
                    names.append(self.gold.generic[concept_id])
                for name in names:
                    self.by_name.setdefault(name_key(name), []).append(concept_id)
                self.by_definition.setdefault(norm(concept["definition"])[:DEFINITION_KEY], []).append(concept_id)
        self.consolidations: list[Consolidation] = []
        self.claims_asked: list[ClaimAsked] = []
        self.evidence: list[SeenEvidence] = []
        self.unmatched_sources: list[str] = []

    def answer(self, body: dict) -> str:
        schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
        title = (schema or {}).get("title")
        handler = {"source_extraction": self._extraction, "concept_decisions": self._decisions,
                   "concept_articles": self._articles}.get(title)
        if handler is None:
            return super().answer(body)
        # The item part (numbered lines, C and P lines, ## sections) is in the last message.
        text = text_of(body["messages"][-1])
        answer = handler(text, schema)
        if answer is None:
            return super().answer(body)
        return json.dumps(conform(answer, schema, text))

    # -- extraction -------------------------------------------------------------------------

    def _extraction(self, text: str, schema: dict) -> dict | None:
        numbered = NumberedText.parse(text)
        fixture = best_fixture(self.fixtures, numbered)
        title = re.search(r'Source "(.+?)"', text)
        if fixture is None:
            self.unmatched_sources.append(title.group(1) if title else text[:80])
            return None
        if title:
            self.titles[name_key(title.group(1))] = fixture.stem
        concepts = []
        for concept in fixture.concepts:
            claims = []
            for claim in concept["claims"]:
                span = numbered.find(claim.get("quote", ""))
                if span:
                    lines = cited_span(claim["lines"], span, numbered)
                elif numbered.holds_line(first_line_number(claim["lines"]) or -1):
                    lines = claim["lines"]  # quote not found verbatim: trust the fixture's numbering
                else:
                    continue  # in another part of the source
                claims.append({"text": claim["text"], "lines": lines})
            if claims:
                concepts.append({**{k: v for k, v in concept.items() if k != "claims"}, "claims": claims})
        if not concepts:
            return None
        return {"title": fixture.title, "summary": fixture.summary, "concepts": concepts}

    # -- consolidation ----------------------------------------------------------------------

    def _decisions(self, text: str, schema: dict) -> dict:
        concepts, names, unmapped = {}, {}, []
        for match in re.finditer(r"^\s*(C\d+):\s*(.+)$", text, re.M):
            label, rest = match.group(1), match.group(2)
            own, ids = self._concept_ids(rest)
            names[label] = own
            concepts[label] = ids
            if not ids:
                unmapped.append(match.group(0).strip())
        pairs = [(m.group(1), m.group(2), m.group(3))
                 for m in re.finditer(r"^\s*(P\d+):\s*(C\d+)\s*/\s*(C\d+)", text, re.M)]
        self.consolidations.append(Consolidation(concepts, pairs, unmapped))
        about = [label for label, asked in self._claim_questions(text, concepts) if asked.about]
        decisions = []
        for pair, a, b in pairs:
            a_ids, b_ids = concepts.get(a, frozenset()), concepts.get(b, frozenset())
            relation = self.gold.relation(a_ids, b_ids) if a_ids and b_ids else "different"
            name = self.gold.better_name(a_ids | b_ids) if relation == "same" else ""
            decisions.append({"pair": pair, "relation": relation, "name": name})
        renames = []
        for label, ids in concepts.items():
            wanted = next((self.gold.generic[i] for i in sorted(ids) if i in self.gold.generic), None)
            if wanted and name_key(wanted) != name_key(names[label][0]):
                renames.append({"concept": label, "name": wanted})
        return {"decisions": decisions, "renames": renames, "about": about}

    def _claim_questions(self, text: str, concepts: dict[str, frozenset]) -> list[tuple[str, ClaimAsked]]:
        """The Q lines under their `From: <source title>` lines, each judged as a perfect model
        would: about C iff gold_mentions gives one of C's ids (or same-group ids) a passage of the
        claim's source whose lines overlap the claim's (within one line)."""
        out, stem = [], ""
        part = text.split("\nClaims to judge", 1)[1] if "\nClaims to judge" in text else ""
        for line in part.split("\n"):
            source = re.match(r"^From:\s*(.+)$", line)
            if source:
                key = name_key(source.group(1))
                stem = self.titles.get(key) or next((s for k, s in self.titles.items() if k and k in key), "")
                continue
            question = re.match(r"^(Q\d+):\s*(C\d+)\s*\|\s*(.+)$", line)
            if not question:
                continue
            label, concept, claim = question.groups()
            lines = self._claim_lines(stem, claim)
            ids = self.gold.closure(concepts.get(concept, frozenset()))
            about = bool(lines) and any(
                m["concept"] in ids and any(d["source"] == stem and near_lines(lines, line_set(d["lines"]))
                                            for d in m["also_discussed_in"]) for m in self.gold.mentions)
            asked = ClaimAsked(concepts.get(concept, frozenset()), stem, lines, claim, about)
            self.claims_asked.append(asked)
            out.append((label, asked))
        return out

    def _claim_lines(self, stem: str, text: str) -> set:
        fixture = self.fixtures.get(stem)
        key = norm(text.rstrip("…"))[:120]
        for concept in fixture.concepts if fixture else []:
            for claim in concept["claims"]:
                if key and norm(claim["text"]).startswith(key):
                    return line_set(claim["lines"])
        return set()

    def _concept_ids(self, line: str) -> tuple[list[str], frozenset]:
        """A C line's names and the fixture ids it stands for (by source title and name)."""
        segments = [s.strip() for s in line.split(" | ")]
        head = segments[0]
        names = [head]
        also = re.match(r"^(.*?)\s*\(also:\s*(.*)\)\s*$", head)
        if also:
            names = [also.group(1)] + [a.strip() for a in also.group(2).split(",") if a.strip()]
        origin = next((s[5:] for s in segments[1:] if s.lower().startswith("from:")), "")
        origin_key = name_key(origin)
        stems = {stem for key, stem in self.titles.items() if key and key in origin_key}
        found = {i for n in names for i in self.by_name.get(name_key(n), [])}
        if stems:
            found = {i for i in found if i.split("::", 1)[0] in stems} or found
        if not found and len(segments) > 2:  # renamed past recognition: the definition tells
            found = set(self.by_definition.get(norm(segments[-1])[:DEFINITION_KEY], []))
        return names, frozenset(found)

    # -- articles ---------------------------------------------------------------------------

    def _articles(self, text: str, schema: dict) -> dict:
        catalogue = _page_names(text)
        articles = []
        sections = _sections(text)
        self.evidence.extend(_seen_evidence(sections, text))
        for name, block in sections:
            candidates = sorted(set(catalogue) | set(_related(block)), key=len, reverse=True)
            own = {name_key(name)} | {name_key(a) for a in _aliases(block)}
            paragraphs = _current_paragraphs(block)
            by_source: dict[tuple, list[str]] = {}
            for numbers, evidence in re.findall(r"^- \[(\d+(?:\s*[,;]\s*\d+)*)\]\s*(.+)$", block, re.M):
                key = tuple(sorted({int(n) for n in re.findall(r"\d+", numbers)}))
                by_source.setdefault(key, []).append(_sentence(evidence))
            for numbers, texts in by_source.items():
                paragraphs.append({"text": _cap(" ".join(texts)), "sources": list(numbers)})
            limit = _max_items(schema, ("articles", "paragraphs")) or 4
            while len(paragraphs) > limit:  # fold the tail into one paragraph, citing all of it
                last = paragraphs.pop()
                paragraphs[-1] = {"text": _cap(paragraphs[-1]["text"] + " " + last["text"]),
                                  "sources": sorted(set(paragraphs[-1]["sources"]) | set(last["sources"]))}
            if not paragraphs:
                paragraphs = [{"text": f"{name} is described by its sources only in passing.", "sources": [1]}]
            targets = [c for c in candidates if not {name_key(c), name_key(c).removesuffix("s"),
                                                     name_key(c).removesuffix("es")} & own]
            for paragraph in paragraphs:
                paragraph["text"] = _link_mentions(paragraph["text"], targets)
                targets = [t for t in targets if f"[[{t}" not in paragraph["text"]]
            articles.append({"name": name, "paragraphs": paragraphs})
        return {"articles": articles}


def _sections(text: str) -> list[tuple[str, str]]:
    """`## <concept name>` sections of the item part (headings of article furniture skipped)."""
    pieces = re.split(r"^## (.+)$", text, flags=re.M)
    sections = []
    for i in range(1, len(pieces) - 1, 2):
        name, block = pieces[i].strip(), pieces[i + 1]
        if name.casefold() in ARTICLE_HEADINGS and sections:
            sections[-1] = (sections[-1][0], sections[-1][1] + block)
        else:
            sections.append((name, block))
    return sections


def _seen_evidence(sections: list[tuple[str, str]], text: str) -> list[SeenEvidence]:
    numbered = dict(re.findall(r"^\[(\d+)\] (.+)$", text.rsplit("\nSources:", 1)[-1], re.M))
    seen = []
    for name, block in sections:
        heading = ""
        for line in block.split("\n"):
            evidence = re.match(r"^- \[(\d+)\]\s*(.+)$", line)
            if evidence:
                source = numbered.get(evidence.group(1), "")
                seen.append(SeenEvidence(name, source, evidence.group(2), heading))
            elif line.strip():
                heading = line.split(":", 1)[0].split(" (", 1)[0].strip()
    return seen


def _aliases(block: str) -> list[str]:
    match = re.search(r"^(?:Also called|Aliases|Also):\s*(.+)$", block, re.M)
    return [a.strip() for a in match.group(1).split(",")] if match else []


def _current_paragraphs(block: str) -> list[dict]:
    """Paragraphs of a current article sent for update, with their [n] citations."""
    match = re.search(r"^Current article:\s*\n(.*?)(?=^\S[^\n]{0,80}:\s*$|^- \[|\Z)", block, re.M | re.S)
    if not match:
        return []
    paragraphs = []
    for chunk in re.split(r"\n\s*\n", match.group(1).strip()):
        numbers = sorted({int(n) for n in re.findall(r"\[(\d+)\]", chunk)})
        prose = re.sub(r"\s*\[\d+\]", "", chunk).strip()
        if len(prose.split()) >= 4 and not prose.startswith("#"):
            paragraphs.append({"text": " ".join(prose.split()), "sources": numbers or [1]})
    return paragraphs


def _page_names(text: str) -> list[str]:
    """Names the prompt offers as link targets: one a line under a line like 'Existing pages:'."""
    names: list[str] = []
    for match in re.finditer(r"^[^\n]*\b(?:pages|Related|concepts)\b[^\n]*:[ \t]*\n((?:[^\n]+\n?)+)", text, re.M):
        for line in match.group(1).split("\n"):
            line = line.strip()
            if not line or line.startswith(("## ", "- [", "[")) or re.match(r"^\d+\|", line):
                break
            names.append(line[2:].strip() if line.startswith("- ") else line)
    # A writer links the concepts it mentions, not the source summaries it cites by number.
    names = [n for n in dict.fromkeys(names) if 2 < len(n) <= 80 and not n.endswith((":", "(source)"))]
    return sorted(names, key=len, reverse=True)


def _related(block: str) -> list[str]:
    """A concept section's own `Related pages: A, B` line."""
    match = re.search(r"^Related(?: pages| concepts)?:[ \t]*(\S.+)$", block, re.M)
    names = [n.strip().strip("[]") for n in match.group(1).split(",")] if match else []
    return [n for n in names if 2 < len(n) <= 80 and not n.endswith("(source)")]


def _link_mentions(text: str, targets: list[str]) -> str:
    """The first mention of each target becomes a [[link]]; never inside an existing link."""
    for target in targets:
        pattern = re.compile(rf"(?<![\w\[|-])({re.escape(target)})(?:s|es)?(?![\w\]-])", re.I)
        for match in pattern.finditer(text):
            before = text[:match.start()]
            if before.count("[[") > before.count("]]"):
                continue
            shown = match.group(0)
            link = f"[[{target}]]" if shown == target else f"[[{target}|{shown}]]"
            text = text[:match.start()] + link + text[match.end():]
            break
    return text


def _sentence(evidence: str) -> str:
    """Evidence as prose: line references dropped, a clipped source line cut to whole sentences."""
    evidence = re.sub(r"^\s*(?:\(?lines? [\d,\s-]+\)?:?\s*)", "", evidence)
    evidence = re.sub(r"^\d+\|\s?", "", evidence).strip().lstrip("…").strip()
    if evidence[:1].islower() and ". " in evidence:  # starts mid-sentence: begin at the next one
        evidence = evidence.split(". ", 1)[1]
    evidence = evidence.rstrip("…,;: ").strip()
    return evidence if evidence.endswith((".", "!", "?", '"')) else evidence + "."


def _cap(text: str) -> str:
    if len(text) <= PARAGRAPH_CHARS:
        return text
    cut = text[:PARAGRAPH_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > 200 else cut.rsplit(" ", 1)[0] + "."


def _max_items(schema: dict, path: tuple[str, ...]) -> int | None:
    node = schema
    for key in path:
        node = (node.get("properties") or {}).get(key) or {}
        if key != path[-1]:
            node = node.get("items") or {}
    return node.get("maxItems")


def conform(value, schema: dict, prompt: str):
    """`value` made valid for `schema`: missing fields filled, lists cut to maxItems, types coerced."""
    if not schema:
        return value
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        close = difflib.get_close_matches(str(value), [str(e) for e in schema["enum"]], 1, 0.3)
        return close[0] if close else schema["enum"][0]
    if kind == "object":
        if not isinstance(value, dict):
            return fill(schema, prompt)
        props = schema.get("properties", {})
        out = {k: conform(value[k], sub, prompt) if k in value else fill(sub, prompt) for k, sub in props.items()}
        if schema.get("additionalProperties", True) is not False:
            out.update({k: v for k, v in value.items() if k not in props})
        return out
    if kind == "array":
        items = value if isinstance(value, list) else [value]
        items = [conform(v, schema.get("items", {}), prompt) for v in items]
        if "maxItems" in schema:
            items = items[: schema["maxItems"]]
        while len(items) < schema.get("minItems", 0):
            items.append(fill(schema.get("items", {}), prompt))
        return items
    if kind == "integer" and not isinstance(value, int):
        return first_line_number(str(value)) or 1
    if kind == "string" and not isinstance(value, str):
        return ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    if kind == "string" and len(value) < schema.get("minLength", 0):
        return value + "answer"
    return value


def cited_span(stated: str, found: tuple[int, int], numbered: NumberedText) -> str:
    """The lines the real model cited, moved to where its quote sits in this prompt. A quote is
    often only the opening of a long citation ("333-359" quoting line 333): the model cited the
    whole span, so the span is kept when the quote lies inside it and it fits in this part."""
    cited = line_set(stated)
    offset = found[0] - min(cited) if cited else 0
    moved = {n + offset for n in cited}
    if moved and set(range(found[0], found[1] + 1)) <= moved and all(map(numbered.holds_line, (min(moved), max(moved)))):
        return line_ranges([str(n) for n in sorted(moved)])
    return str(found[0]) if found[0] == found[1] else f"{found[0]}-{found[1]}"
