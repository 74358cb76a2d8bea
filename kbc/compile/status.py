"""What a compile would do now, without a model: sources new, changed or removed since the
last run, and the wiki's pages by kind. For agents (`kbc mcp`) deciding whether to compile."""
from __future__ import annotations

from dataclasses import dataclass, field

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
    sources, unreadable = scan_sources(vault)
    with vault.db_lock:
        known = {row["path"]: row["sha256"] for row in vault.db.query("select path, sha256 from sources")}
        pages = {row["kind"]: row["n"] for row in vault.db.query(
            "select kind, count(*) as n from pages group by kind order by kind")}
        last = vault.db.execute("select max(time) from requests where stage in ('extract', 'write')").fetchone()
    status = CompileStatus(unreadable=[str(u) for u in unreadable], pages=pages,
                           last_compile=(last[0] or "") if last else "")
    for source in sources:
        if source.path not in known:
            status.new.append(source.path)
        elif known[source.path] != source.sha256:
            status.changed.append(source.path)
        else:
            status.unchanged += 1
    present = {s.path for s in sources} | {getattr(u, "path", "") for u in unreadable}
    status.removed = sorted(set(known) - present)
    return status
