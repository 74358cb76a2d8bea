"""The corpus's real-model extractions and gold decisions (../shared/corpus/extractions), read-only.

Shared by the fixture model (tests/fixture_model.py) and the benchmarks: loading the files,
finding a fixture's quotes in numbered source lines, and the gold relations between concept
ids (`SOURCE_STEM::Concept Name`). kbc itself never imports this.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kbc.vault.lines import cited_lines

CORPUS = Path(os.environ.get("KBC_TEST_CORPUS") or Path(__file__).resolve().parents[2] / "shared" / "corpus")
EXTRACTIONS = CORPUS / "extractions"
_NOT_DATA = {"gold", "gold_mentions", "questions"}


def norm(text: str) -> str:
    """Letters and digits only, lower case: quotes survive re-wrapping, hyphenation, punctuation."""
    return "".join(c for c in text.casefold() if c.isalnum())


def name_key(name: str) -> str:
    return norm(name)


@dataclass
class Fixture:
    stem: str  # the extraction file's name without .json: the first half of a concept id
    title: str
    summary: str
    concepts: list[dict]

    def concept_id(self, concept: dict) -> str:
        return f"{self.stem}::{concept['name']}"


@dataclass
class NumberedText:
    """Numbered prompt lines (`12| text`) searchable by normalized quote."""
    numbers: list[int]
    flat: str = ""
    owner: list[int] = field(default_factory=list)  # line number of each character of `flat`

    @classmethod
    def parse(cls, text: str) -> "NumberedText":
        numbers, chars, owner = [], [], []
        for match in re.finditer(r"^\s*(\d+)\s*\|\s?(.*)$", text, re.M):
            number = int(match.group(1))
            numbers.append(number)
            piece = norm(match.group(2))
            chars.append(piece)
            owner.extend([number] * len(piece))
        return cls(numbers, "".join(chars), owner)

    def find(self, quote: str) -> tuple[int, int] | None:
        """First and last line number the quote spans, or None."""
        key = norm(quote)
        if len(key) < 8:
            return None
        at = self.flat.find(key)
        if at < 0:
            return None
        return self.owner[at], self.owner[at + len(key) - 1]

    def holds_line(self, number: int) -> bool:
        return bool(self.numbers) and self.numbers[0] <= number <= self.numbers[-1]


@lru_cache(maxsize=4)
def load_fixtures(directory: Path = EXTRACTIONS) -> dict[str, Fixture]:
    fixtures = {}
    for path in sorted(directory.glob("*.json")):
        if path.stem in _NOT_DATA:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        fixtures[path.stem] = Fixture(path.stem, data["title"], data["summary"], data["concepts"])
    return fixtures


def best_fixture(fixtures: dict[str, Fixture], text: NumberedText) -> Fixture | None:
    """The fixture most of whose claim quotes occur in the text (at least two, or all of one)."""
    best, best_hits = None, 0
    for fixture in fixtures.values():
        quotes = [c["quote"] for concept in fixture.concepts for c in concept["claims"] if c.get("quote")]
        hits = sum(1 for q in quotes if text.find(q))
        if hits > best_hits and (hits >= 2 or hits == len(quotes)):
            best, best_hits = fixture, hits
    return best


def line_set(lines: str) -> set[int]:
    """The line numbers "50-57", "19, 29" or "3-4, 10" cite."""
    return set(cited_lines(lines or ""))


def near_lines(a: set[int], b: set[int], slack: int = 1) -> bool:
    return any(abs(x - y) <= slack for x in a for y in b)


def first_line_number(lines: str) -> int | None:
    match = re.search(r"\d+", lines or "")
    return int(match.group(0)) if match else None


@dataclass
class Gold:
    """gold.json and gold_mentions.json, with same-groups expanded for lookups."""
    same: list[dict]
    distinct: list[dict]
    related: list[dict]
    part_of: list[dict]
    generic: dict[str, str]  # id -> suggested name
    mentions: list[dict]
    group: dict[str, frozenset] = field(default_factory=dict)  # id -> its same-group (or itself)

    def __post_init__(self):
        for entry in self.same:
            members = frozenset(entry["ids"])
            for member in members:
                self.group[member] = members

    def group_of(self, concept_id: str) -> frozenset:
        return self.group.get(concept_id, frozenset([concept_id]))

    def representative(self, concept_id: str) -> str:
        for entry in self.same:
            if concept_id in entry["ids"]:
                return entry["representative"]
        return concept_id

    def closure(self, ids) -> frozenset:
        return frozenset(x for i in ids for x in self.group_of(i))

    def relation(self, a_ids, b_ids) -> str:
        """What a careful reader says of two concepts, each a set of fixture ids."""
        a, b = self.closure(a_ids), self.closure(b_ids)
        if a & b:
            return "same"
        if any(p["child"] in a and p["parent"] in b for p in self.part_of):
            return "a_part_of_b"
        if any(p["child"] in b and p["parent"] in a for p in self.part_of):
            return "b_part_of_a"
        if any({r["a"], r["b"]} <= (a | b) and (r["a"] in a) != (r["b"] in a) for r in self.related):
            return "related"
        return "different"

    def better_name(self, ids) -> str:
        """The page name a careful reader gives a merged concept."""
        for concept_id in sorted(self.closure(ids)):
            if concept_id in self.generic:
                return self.generic[concept_id]
        return self.representative(sorted(ids)[0]).split("::", 1)[1]


@lru_cache(maxsize=4)
def load_gold(directory: Path = EXTRACTIONS) -> Gold:
    gold = json.loads((directory / "gold.json").read_text(encoding="utf-8"))
    mentions = json.loads((directory / "gold_mentions.json").read_text(encoding="utf-8"))
    return Gold(gold["same"], gold["distinct"], gold["related"], gold["part_of"],
                {g["id"]: g["suggested_name"] for g in gold["generic_names"]}, mentions["mentions"])
