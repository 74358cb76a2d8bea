"""What a run has to do: sources new, changed, renamed, removed, unreadable; what is stale."""
from __future__ import annotations

from dataclasses import dataclass, field

from kbc.compile.rows import SourceRow
from kbc.compile.sources import Source, Unreadable


def is_stale(prompt_version: str, model: str, expected_version: str, expected_model: str) -> bool:
    """The one rule: a page or extraction made by another prompt version or model is stale."""
    return prompt_version != expected_version or model != expected_model


@dataclass
class Plan:
    todo: list[Source] = field(default_factory=list)  # to extract
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[SourceRow] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    unreadable: list[Unreadable] = field(default_factory=list)
    unchanged: int = 0


def plan_sources(sources: list[Source], unreadable: list[Unreadable], known: dict[str, SourceRow],
                 full: bool, stale: bool, version: str, model: str) -> Plan:
    """A source whose summary page is gone is not extracted again: the page is written from the
    stored extraction, like every summary (no request, and no stat of 10,000 pages a run)."""
    plan = Plan(unreadable=unreadable)
    present = {s.path for s in sources} | {u.path for u in unreadable}  # unreadable is not deleted
    gone = {path: known[path] for path in sorted(set(known) - present)}
    by_hash = {row.sha256: path for path, row in gone.items()}
    for source in sources:
        row = known.get(source.path)
        if row is None and source.sha256 in by_hash:  # moved or renamed, same text
            old = by_hash.pop(source.sha256)
            gone.pop(old)
            plan.renamed.append((old, source.path))
            row = known[old]
        if row is None:
            plan.new.append(source.path)
        elif row.sha256 != source.sha256:
            plan.changed.append(source.path)
        elif full or (stale and is_stale(row.prompt_version, row.model, version, model)):
            plan.changed.append(source.path)
        else:
            plan.unchanged += 1
            continue
        plan.todo.append(source)
    plan.removed = list(gone.values())
    return plan
