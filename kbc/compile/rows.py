"""The typed rows compile works with; kbc/compile/manifest.py reads and writes them."""
from __future__ import annotations

from dataclasses import dataclass, field

# What consolidation may decide about a pair of concepts (a, b).
SAME, A_PART_OF_B, B_PART_OF_A, RELATED, DIFFERENT = "same", "a_part_of_b", "b_part_of_a", "related", "different"
RELATIONS = (SAME, A_PART_OF_B, B_PART_OF_A, RELATED, DIFFERENT)
RENAME = "rename"  # a decision about one concept: its name did not stand alone


@dataclass
class SourceRow:
    path: str
    sha256: str
    title: str
    summary_page: str  # relative to the vault
    extraction: str  # the (merged) extraction answer, as stable JSON
    prompt_version: str
    model: str
    compiled_at: str


@dataclass
class Member:
    """One concept as one source's extraction names it. Its id stays the same when the
    source is extracted again and names the concept the same way."""
    id: str  # "<source path>::<name key>"
    source_path: str
    name: str
    aliases: list[str]
    definition: str
    category: str
    concept_key: str = ""  # the concept it belonged to after the last run
    considered: bool = False  # has been through consolidation
    seq: int = 0  # order of arrival: older members name their concept


@dataclass
class Claim:
    source_path: str
    member: str
    kind: str  # "definition" or "claim"
    text: str
    lines: str


@dataclass
class Decision:
    a: str  # member ids
    b: str
    relation: str  # one of RELATIONS, or RENAME (then b is empty)
    name: str = ""  # the better name (same) or the new name (rename)
    origin: str = "model"  # "model", or "person" (kbc-merges.toml)


@dataclass
class Concept:
    """One page's worth: a cluster of members."""
    key: str
    name: str
    aliases: list[str]
    definition: str
    category: str
    page: str
    input_hash: str = ""
    prompt_version: str = ""
    model: str = ""
    written_claims: str = ""
    members: list[str] = field(default_factory=list)
    link_names: list[str] = field(default_factory=list)  # names a mention is linked by
    # Names renamed away as not standing alone ("Leader" of "Raft Leader"), with what made
    # them stand alone ("Raft"): such a name counts as a mention only next to its qualifier.
    qualified: list[tuple[str, list[str]]] = field(default_factory=list)


@dataclass
class Evidence:
    """One line an article is written from: a claim, or a mention found in a source's text."""
    source_page: str
    text: str
    lines: str = ""
    kind: str = "claim"  # "claim", "definition" or "mention"
