"""Merge another vault into this one: its raw notes and attachments (by content hash), what its
database already paid for (extractions, decisions, cached answers), its pages; then one
compile here consolidates and rewrites only the concepts that now meet.

The other vault is only read. Every step is idempotent (files by hash, rows by key or by
content), so an interrupted merge is resumed by running it again; the rows go in one
transaction, files by temp file and rename, so this vault stays valid at every point.
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kbc.errors import KbcError
from kbc.llm import LLM, Templates
from kbc.llm.prompts import text_of
from kbc.merge.files import FilePlan, note_bytes, plan_pages, plan_raw, relink_notes, renamed_summaries
from kbc.merge.replay import replay_consolidation, replay_requests
from kbc.merge.rows import RowImporter, TableImport, open_readonly
from kbc.vault import Vault
from kbc.vault.files import atomic_write, page_name, sha256_text
from kbc.vault.frontmatter import render, split
from kbc.vault.pages import state_of, write_page

CONCEPT_TABLE = "concepts"  # for the report only: which concepts both vaults have
REWRITE_TOKENS = 600  # instructions and the current article, per concept rewritten


@dataclass
class MergeOptions:
    dry_run: bool = False
    compile: bool = True  # compile here after the merge (else `kbc compile` later)


@dataclass
class MergeReport:
    other: str
    label: str
    notes: list[FilePlan] = field(default_factory=list)  # raw notes and attachments
    pages: list[FilePlan] = field(default_factory=list)
    tables: list[TableImport] = field(default_factory=list)
    meeting: list[str] = field(default_factory=list)  # concepts both vaults have (by key)
    estimate: dict | None = None  # dry run: what the compile after the merge would send
    replay: dict | None = None  # the union's consolidation pairs, and those asked now
    compiled: dict | None = None  # the compile report after the merge
    dry_run: bool = False

    def count(self, plans: list[FilePlan], action: str) -> int:
        return sum(p.action == action for p in plans)

    def to_dict(self) -> dict:
        return {"other": self.other, "label": self.label, "dry_run": self.dry_run,
                "notes": [p.to_dict() for p in self.notes], "pages": [p.to_dict() for p in self.pages],
                "tables": [t.to_dict() for t in self.tables], "meeting": self.meeting,
                "estimate": self.estimate, "replay": self.replay, "compiled": self.compiled}


def other_vault(path: Path, ours: Path) -> Path:
    other = Path(path).expanduser().resolve()
    if not (other / "raw").is_dir():
        raise KbcError(f"{path}: not a kbc vault to merge (no raw/ folder)")
    if other == ours.resolve():
        raise KbcError(f"{path}: that is this vault; merge another one")
    return other


def merge_vaults(vault: Vault, other_path: Path, llm: LLM | None, templates: Templates,
                 options: MergeOptions | None = None) -> MergeReport:
    options = options or MergeOptions()
    other = other_vault(other_path, vault.root)
    label = page_name(other.name, "other vault")
    report = MergeReport(str(other), label, dry_run=options.dry_run)
    report.notes = plan_raw(vault.root, other, label)
    paths = {p.source: (None if p.action == "duplicate" else p.target)
             for p in report.notes if p.source.startswith("raw/")}
    database = other / ".kbc" / "kbc.db"
    theirs = open_readonly(database) if database.is_file() else None
    try:
        withheld: set[str] = set()
        with vault.db_lock:
            here = _summary_pages(vault.db.conn)
        summaries = renamed_summaries(vault.root, other, report.notes, _summary_pages(theirs), here)
        values = {**summaries, **_changed_hashes(other, report.notes)}
        if theirs is not None:  # a first pass finds the rows (and so the pages) that stay out
            with vault.db_lock:
                first = RowImporter(vault.db.conn, theirs, paths, set(), values)
                first.plan(dry_run=True)
            withheld = first.withheld_values
        report.pages = plan_pages(vault.root, other, label, withheld, summaries)
        not_copied = {p.source for p in report.pages if p.action not in ("add", "rename")}
        if theirs is not None:
            with vault.db_lock:
                importer = RowImporter(vault.db.conn, theirs, paths, not_copied, values)
                if options.dry_run:
                    report.tables = importer.plan(dry_run=True)
                else:
                    with vault.db.conn:  # all rows or none
                        report.tables = importer.plan(dry_run=False)
            # Concepts both vaults have that the other vault's new notes add to: rewritten here.
            both = next((t.kept_keys for t in report.tables if t.table == CONCEPT_TABLE), [])
            report.meeting = [key for key in both if key in importer.added_values]
    finally:
        if theirs is not None:
            theirs.close()
    if options.dry_run:
        if llm is not None:
            report.estimate = _estimate(vault, other, llm, templates, report.meeting)
        return report
    _copy_files(vault, other, report)
    if options.compile and llm is not None:
        from kbc.compile import compile_vault

        report.replay = replay_consolidation(vault, llm, templates, _max_output(vault, llm, templates)).to_dict()
        report.compiled = {**compile_vault(vault, llm, templates).to_dict(), "tokens": dict(llm.totals.__dict__)}
    else:
        from kbc.vault.bookkeeping import refresh_wiki

        refresh_wiki(vault)
    return report


def _summary_pages(conn: sqlite3.Connection | None) -> dict[str, str]:
    """A vault's note path -> its summary page."""
    try:
        return {r[0]: r[1] for r in conn.execute("select path, summary_page from sources")} if conn else {}
    except sqlite3.OperationalError:  # a vault that never compiled
        return {}


def _changed_hashes(other: Path, notes: list[FilePlan]) -> dict[str, str]:
    """A note whose links to a renamed attachment are rewritten has another text here: its
    extraction follows it under the new hash (the words it was extracted from are the same)."""
    renamed = _renamed_attachments(notes)
    out = {}
    for plan in notes:
        if plan.action in ("add", "rename") and plan.source.endswith(".md") and renamed:
            before, after = (other / plan.source).read_bytes(), note_bytes(other / plan.source, renamed)
            if before != after:
                out[sha256_text(before.decode("utf-8", errors="replace"))] = \
                    sha256_text(after.decode("utf-8", errors="replace"))
    return out


def _renamed_attachments(notes: list[FilePlan]) -> dict[str, str]:
    """Attachments that sit here under another name (renamed, or the same bytes already here)."""
    return {Path(p.source).name: Path(p.target).name for p in notes
            if not p.source.endswith(".md") and Path(p.source).name != Path(p.target).name}


def _copy_files(vault: Vault, other: Path, report: MergeReport) -> None:
    # Pages first, notes last: a note here means its pages are too (a rerun sees it merged).
    notes = {Path(p.source).stem: Path(p.target).stem for p in report.notes
             if p.action == "rename" and p.source.endswith(".md")}
    for plan in report.pages:
        if plan.action == "add":
            atomic_write(vault.root / plan.target, (other / plan.source).read_bytes())
        elif plan.action == "rename":  # a renamed note's summary: its links follow the note
            _copy_summary(vault, other / plan.source, vault.root / plan.target, notes)
        elif plan.action == "proposal":
            text = (other / plan.source).read_text(encoding="utf-8", errors="replace")
            try:
                props, body = split(text)
            except Exception:
                props, body = {}, text
            props = {**{k: v for k, v in props.items() if k not in ("aliases", "kbc_hash")},
                     "kind": "proposal", "proposal_for": f"[[{Path(plan.source).stem}]]",
                     "merged_from": report.label}
            atomic_write(vault.root / plan.target, render(props, body))
    renamed = _renamed_attachments(report.notes)
    for plan in report.notes:
        if plan.action in ("add", "rename"):
            atomic_write(vault.root / plan.target, note_bytes(other / plan.source, renamed))


def _copy_summary(vault: Vault, source: Path, target: Path, notes: dict[str, str]) -> None:
    text = source.read_text(encoding="utf-8", errors="replace")
    try:
        props, body = split(text)
    except Exception:
        props, body = {}, ""
    if state_of(props, body) != "ours":  # a person's text: copied as it is
        atomic_write(target, source.read_bytes())
        return
    props = {k: relink_notes(v, notes) if isinstance(v, str) else v for k, v in props.items()}
    write_page(vault, target, props, relink_notes(body, notes), str(props.get("kind") or "source-summary"),
               str(props.get("kbc_prompt") or ""), str(props.get("kbc_model") or ""))


def _max_output(vault: Vault, llm: LLM, templates: Templates) -> int:
    from kbc.compile import CompileOptions, Compiler

    return Compiler(vault, llm, templates, CompileOptions()).max_output  # as compile sizes its requests


def _estimate(vault: Vault, other: Path, llm: LLM, templates: Templates, meeting: list[str]) -> dict:
    """Merge into a throwaway copy of this vault and ask compile what it would send there."""
    from kbc.compile import CompileOptions, compile_vault

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "vault"
        shutil.copytree(vault.root, copy, ignore=shutil.ignore_patterns(".kbc"))
        (copy / ".kbc").mkdir(exist_ok=True)
        target = sqlite3.connect(copy / ".kbc" / "kbc.db")
        with vault.db_lock:
            vault.db.conn.backup(target)
        target.close()
        trial = Vault(copy, overrides={"base_url": vault.settings.base_url or None,
                                       "model": vault.settings.model or None})
        merge_vaults(trial, other, None, templates, MergeOptions(compile=False))
        counting = LLM(llm.backend, trial.db, trial.db_lock)
        estimate = dict(compile_vault(trial, counting, templates, CompileOptions(estimate=True)).estimate or {})
        # Compile estimates extraction; the concepts both vaults have are rewritten as well,
        # reading their claims from both sides.
        try:
            with trial.db_lock:
                texts = [r[0] for r in trial.db.execute(
                    "select text from claims where concept_key in (%s)" % ",".join("?" * len(meeting)), meeting)]
        except sqlite3.OperationalError:
            texts = []
        rewrite = sum(llm.count_tokens(t) for t in texts) + REWRITE_TOKENS * len(meeting)
        estimate["rewrite_prompt_tokens_about"] = rewrite
        replay = replay_requests(trial, templates, _max_output(trial, counting, templates))
        estimate["consolidate_requests"] = len(replay)
        estimate["consolidate_prompt_tokens"] = sum(llm.count_tokens(text_of(r.prompt.messages())) for r in replay)
        estimate["merge_prompt_tokens_about"] = (estimate.get("extract_prompt_tokens", 0) + rewrite
                                                 + estimate["consolidate_prompt_tokens"])
        return estimate
