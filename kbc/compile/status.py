"""What a compile would do now, without a model: sources new, changed or removed since the
last run, and the wiki's pages by kind. For agents (`kbc mcp`) deciding whether to compile."""
from __future__ import annotations

from dataclasses import dataclass, field

from kbc.compile.manifest import Manifest
from kbc.compile.plan import plan_sources
from kbc.compile.sources import scan_sources
from kbc.vault import Vault


@dataclass
class CompileStatus:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    unchanged: int = 0
    pages: dict[str, int] = field(default_factory=dict)  # kind -> count
    last_compile: str = ""  # time of the last request a compile made

    @property
    def up_to_date(self) -> bool:
        return not (self.new or self.changed or self.removed)

    def to_dict(self) -> dict:
        return {**self.__dict__, "up_to_date": self.up_to_date}


def compile_status(vault: Vault) -> CompileStatus:
    """The sources' state by plan's own rule, so status and compile never disagree."""
    sources, unreadable = scan_sources(vault)
    plan = plan_sources(sources, unreadable, Manifest(vault).sources(), full=False, stale=False, version="", model="")
    with vault.db_lock:
        pages = {row["kind"]: row["n"] for row in vault.db.query(
            "select kind, count(*) as n from pages group by kind order by kind")}
        last = vault.db.execute("select max(time) from requests where stage in ('extract', 'write')").fetchone()
    return CompileStatus(new=plan.new, changed=plan.changed, removed=[row.path for row in plan.removed],
                         unreadable=[str(u) for u in unreadable], unchanged=plan.unchanged, pages=pages,
                         last_compile=(last[0] or "") if last else "")
