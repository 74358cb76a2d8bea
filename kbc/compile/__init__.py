"""Compile raw/ into wiki/, one step per module:

plan (what is new, changed, renamed, removed, stale) -> extract (one request per source or
part) -> consolidate (candidate pairs by code, one cheap decision request per batch) ->
identity (members into concepts, pages, redirects) -> articles (one request per batch of
changed concepts) -> graph and bookkeeping (Related sections, summaries, links, indexes,
backlinks, the log: all code).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kbc.compile.articles import WRITE_TEMPLATE, Job
from kbc.compile.bookkeeping import CompileReport, read_state, stale_pages, write_summary
from kbc.compile.judgements import ClaimJudgements, accepted_evidence, accepted_relations
from kbc.compile.collector import quiet_gc, run_collection
from kbc.compile.consolidate import CONSOLIDATE_TEMPLATE
from kbc.compile.consolidate import estimate as consolidation_estimate
from kbc.compile.extract import (CATALOGUE_TOKENS, EXTRACT_TEMPLATE, MAX_CONCEPTS, ExtractSetup, concepts_wanted,
                                 extract_requests, members_of, merge_parts)
from kbc.compile.graph import section_of, with_related
from kbc.compile.graph_cache import MentionGraphCache
from kbc.compile.graph_store import GraphStore
from kbc.compile.identity import MERGES_FILE, load_overrides
from kbc.compile.input_hashes import InputHashes
from kbc.compile.log_page import append_log
from kbc.compile.manifest import Manifest, now
from kbc.compile.mention_cache import MentionCache
from kbc.compile.page_memo import RELATED_FILE, SUMMARIES_FILE, PageMemo
from kbc.compile.plan import is_stale, plan_sources
from kbc.compile.rows import SourceRow
from kbc.compile.run_stamp import RunStamp
from kbc.compile.sources import Source, scan_sources
from kbc.compile.sync import Consolidator
from kbc.compile.writer import ConceptWriter
from kbc.errors import KbcError
from kbc.llm import LLM, BudgetExceeded, EndpointUnavailable, Templates, stable_json
from kbc.llm.prompts import text_of
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.pages import page_state, remove_page, write_page

__all__ = ["CompileOptions", "CompileReport", "compile_vault", "EXTRACT_TEMPLATE", "WRITE_TEMPLATE"]


@dataclass
class CompileOptions:
    stale: bool = False  # rebuild pages written by another prompt version or model
    full: bool = False  # rebuild everything
    estimate: bool = False  # count what a run would send; call nothing


class Compiler:
    def __init__(self, vault: Vault, llm: LLM, templates: Templates, options: CompileOptions):
        self.vault, self.llm, self.templates, self.options = vault, llm, templates, options
        self.manifest = Manifest(vault)
        self.report = CompileReport()
        self.extract_version = templates.version(EXTRACT_TEMPLATE)
        self.write_version = templates.version(WRITE_TEMPLATE)
        window = vault.settings.context_window or getattr(llm.backend, "context_window", 0) or 32768
        self.window = window
        self.max_output = min(vault.settings.max_output_tokens, window // 3)
        small = getattr(llm.backend, "small_model", False)
        self.setup = ExtractSetup(templates, llm.count_tokens, window, self.max_output, may_find_none=not small,
                                  long_output=self.max_output if small else min(2 * self.max_output, window // 3))
        self.sources: list[Source] = []
        self.extracted: set[str] = set()
        self._built = None  # (the identity evidence and graph were built for, (evidence, graph))
        self.identity = None  # concepts as consolidation left them this run
        self.consolidator = Consolidator(vault, llm, templates, self.manifest, self.report, self.max_output)

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> CompileReport:
        stamp, o = RunStamp(self.vault, self.llm.model), self.options
        if not (o.full or o.stale or o.estimate or getattr(self.llm, "sink", None)) and (last := stamp.replay()):
            self.report.unchanged, self.report.stale = last.unchanged, last.stale  # as the last run left it
            return self.report
        if not o.estimate:
            stamp.start()
        self.sources, unreadable = scan_sources(self.vault)
        self.report.errors.extend(u.line() for u in unreadable)
        try:
            overrides = load_overrides(self.vault.root / MERGES_FILE)
        except KbcError as exc:
            self.report.errors.append(str(exc))
            return self.report
        known = self.manifest.sources()
        plan = plan_sources(self.sources, unreadable, known,
                            self.options.full, self.options.stale, self.extract_version, self.llm.model)
        self.report.new, self.report.changed, self.report.unchanged = plan.new, plan.changed, plan.unchanged
        self.report.removed = [row.path for row in plan.removed]
        self.report.renamed = [f"{old} -> {new}" for old, new in plan.renamed]
        if self.options.estimate:
            self.report.estimate = self._estimate(plan.todo)
            return self.report
        for old, new in plan.renamed:
            self.manifest.rename_source(old, new)
            self.extracted.add(new)  # its summary names the note: written again (no request)
        for row in plan.removed:
            self._remove_source(row)
        try:
            self._extract(plan.todo)
            self.identity = self.consolidator.run(overrides, self._titles(), self.sources)
            self._write_concepts(self.identity)
        except (BudgetExceeded, EndpointUnavailable) as exc:
            self.report.stopped = str(exc) + ("" if isinstance(exc, BudgetExceeded) else "; rerun to resume")
        except KeyboardInterrupt:
            self._finish(overrides)
            raise
        self._finish(overrides)
        self.report.stale = stale_pages(self.vault, {"concept": self.write_version,
                                                     "source-summary": self.extract_version}, self.llm.model)
        if not (self.report.errors or self.report.stopped):
            stamp.record(self.sources, self.report.stale)
        return self.report

    def _finish(self, overrides) -> None:
        """Code only: identity as decided so far, summaries, Related sections, links, log.
        Writing articles changes no identity: the one consolidation left is reused."""
        identity = self.identity or self.consolidator.sync(overrides)
        self._write_summaries(identity)
        self._write_related(identity)
        append_log(self.vault, self.report, self.llm.totals)  # first, so the index can link it
        refresh_wiki(self.vault)

    def _bylines(self) -> dict[str, list[str]]:
        """Source page -> its authors and site: names an article may use though no claim does."""
        by_path = {s.path: s for s in self.sources}
        return {_stem(row.summary_page): by_path[path].byline_names
                for path, row in self.manifest.sources().items() if path in by_path}

    def _titles(self) -> dict[str, str]:
        return {path: row.title for path, row in self.manifest.sources().items()}

    # -- extraction -------------------------------------------------------------------------

    def _catalogue(self) -> list[str]:
        """Concept names for the extraction prompts: fixed for a run, and stored with it, so a
        resumed run (after kill -9 or a stop) builds the same prompts and pays nothing twice."""
        stored = self.manifest.open_run_catalogue()
        if stored is not None:
            return stored
        names, size = [], 0
        counts = {}
        for claim in self.manifest.claims():
            counts[claim.member] = counts.get(claim.member, 0) + 1
        by_concept: dict[str, int] = {}
        for member in self.manifest.members():
            by_concept[member.concept_key] = by_concept.get(member.concept_key, 0) + counts.get(member.id, 0)
        concepts = self.manifest.concepts()
        for key in sorted(by_concept, key=lambda k: (-by_concept[k], concepts[k].name if k in concepts else k)):
            if key not in concepts:
                continue
            size += self.llm.count_tokens(concepts[key].name) + 1
            if size > CATALOGUE_TOKENS:
                break
            names.append(concepts[key].name)
        return sorted(names, key=str.casefold)

    def _extract(self, todo: list[Source]) -> None:
        if not todo:
            return
        known = self._catalogue()
        self.manifest.start_run(known)
        plan = [(source, extract_requests(self.setup, source, known)) for source in todo]
        flat = [request for _, requests in plan for request in requests]
        results = iter(self.llm.complete_all(flat))
        for source, requests in plan:
            answers = [next(results) for _ in requests]
            failed = [a for a in answers if isinstance(a, Exception)]
            if failed:
                self.report.errors.append(str(failed[0]))
                continue
            try:
                self._apply_extraction(source, merge_parts([a.data for a in answers]))
            except (OSError, ValueError) as exc:  # one bad item is reported; the rest goes on
                self.report.errors.append(f"{source.path}: {exc}")
        self.manifest.finish_runs()

    def _apply_extraction(self, source: Source, data: dict) -> None:
        old = self.manifest.source(source.path)
        summary = Path(old.summary_page).stem if old else self.consolidator.names.free(
            f"{source.title} (source)", "source")
        path = self.vault.wiki_dir / "sources" / f"{summary}.md"
        members, claims = members_of(source, data)
        self.manifest.put_source(SourceRow(
            source.path, source.sha256, source.title, self.vault.rel(path), stable_json(data),
            self.extract_version, self.llm.model, now()), members, claims)
        self.extracted.add(source.path)

    def _write_summaries(self, identity) -> None:
        by_path, memo = {s.path: s for s in self.sources}, PageMemo(self.vault, SUMMARIES_FILE)
        root = str(self.vault.root)
        members: dict[str, list] = {}
        for member in self.manifest.members():
            members.setdefault(member.source_path, []).append(member)
        for path, row in self.manifest.sources().items():
            if path not in by_path:
                continue
            concepts = [(identity.concepts[identity.member_key[m.id]].page, m.definition)
                        for m in members.get(path, []) if identity.member_key.get(m.id) in identity.concepts]
            # a str path: a Path each cost a tenth of a second at 10,000
            page, extracted = os.path.join(root, row.summary_page), path in self.extracted
            listed = list(dict.fromkeys(name for name, _ in concepts))  # all a kept page's check reads
            if not extracted and memo.holds(page, listed):
                continue
            page = Path(page)
            if write_summary(self.vault, by_path[path], row.title, page, row.extraction, concepts,
                             row.prompt_version, row.model, self.report, extracted=extracted) and not extracted:
                memo.saw(page, listed)
        memo.save()

    # -- removal ----------------------------------------------------------------------------

    def _remove_source(self, row: SourceRow) -> None:
        self.manifest.remove_source(row.path)
        summary = self.vault.root / row.summary_page
        if page_state(self.vault, summary) == "ours":
            remove_page(self.vault, summary)
            self.report.deleted_pages.append(summary.stem)

    # -- articles ---------------------------------------------------------------------------

    def _jobs(self, identity):
        """Evidence and graph, computed once a run for one identity: _write_related reuses what
        _write_concepts built (writing articles changes no claim, source, judgement or identity)."""
        if self._built is not None and self._built[0] is identity:
            return self._built[1]
        with quiet_gc():
            self._built = (identity, self._evidence_and_graph(identity))
        return self._built[1]

    def _evidence_and_graph(self, identity):
        pages = {path: _stem(row.summary_page) for path, row in self.manifest.sources().items()}
        all_claims = self.manifest.claims()
        accepted = ClaimJudgements(self.vault.db, self.vault.db_lock).accepted(identity.concepts, identity.member_key,
                                                                              all_claims)
        relations = self.consolidator.relations(identity)
        relations += accepted_relations(accepted, identity.member_key, relations)
        claims: dict[str, list] = {}
        for claim in all_claims:
            claims.setdefault(claim.member, []).append(claim)
        evidence = MentionCache(self.vault.db, self.vault.db_lock).material(identity.concepts, claims, pages,
                                                                            self.sources)
        evidence = accepted_evidence(evidence, accepted, pages)
        mentions = MentionGraphCache(self.vault.db, self.vault.db_lock).mention_lists(identity.concepts, evidence)
        stored = GraphStore(self.vault.db, self.vault.db_lock).graph(
            identity.concepts, evidence, relations, self.consolidator.nearest(identity), mentions)
        return evidence, stored

    def _write_concepts(self, identity) -> None:
        evidence, stored = self._jobs(identity)
        concepts_dir = self.vault.wiki_dir / "concepts"
        present = _files_in(concepts_dir)  # one listing: a page_state per concept cost seconds at 10,000
        jobs, bylines, hashes = [], {}, InputHashes(self.vault)
        with quiet_gc():
            for key, concept in sorted(identity.concepts.items()):
                digest = hashes.of(concept, evidence)
                stale = self.options.stale and is_stale(concept.prompt_version, concept.model,
                                                        self.write_version, self.llm.model)
                changed = self.options.full or stale or concept.input_hash != digest
                if not changed and concept.page + ".md" in present:
                    continue  # its page is there and nothing it is written from changed
                path = concepts_dir / f"{concept.page}.md"
                state = page_state(self.vault, path)
                if state != "manual" and (changed or state == "missing"):
                    related = [identity.concepts[e.other].page for e in stored.graph.related(key)]
                    jobs.append(Job(concept, evidence[key], related, path, state, digest, bylines))
        hashes.save()
        if not jobs:
            return
        bylines.update(self._bylines())  # every job's
        # The pages' aliases are read only if a link names no page.
        resolver = LinkResolver(self.vault.note_names() + [c.page for c in identity.concepts.values()],
                                lambda: {**self.vault.page_aliases(),
                                         **{a: c.page for c in identity.concepts.values() for a in c.aliases}})
        ConceptWriter(self).write(jobs, resolver)

    def _write_related(self, identity) -> None:
        """Every concept page kbc owns gets a code-built `## Related` section."""
        _, stored = self._jobs(identity)
        memo, folder = PageMemo(self.vault, RELATED_FILE), os.path.join(self.vault.wiki_dir, "concepts")
        with quiet_gc():
            sections = {key: section_of(stored.listed(key), identity.concepts) for key in identity.concepts}
            held = {key for key, concept in identity.concepts.items()  # a str path: a Path each costs at 10,000
                    if memo.holds(os.path.join(folder, concept.page + ".md"), sections[key])}
        for key, concept in identity.concepts.items():
            if key in held:
                continue
            path = os.path.join(folder, concept.page + ".md")
            section = sections[key]
            state, props, body = read_state(self.vault, Path(path))
            if state != "ours":
                continue
            new = with_related(body.split("<!-- kbc:backlinks -->")[0].rstrip("\n") + "\n", section)
            if new.rstrip() != body.split("<!-- kbc:backlinks -->")[0].rstrip():
                write_page(self.vault, Path(path), props, new, "concept", str(props.get("kbc_prompt", "")),
                           str(props.get("kbc_model", "")))
            else:  # remembered only as found: a page written now is read once more next run
                memo.saw(path, section)
        memo.save()

    # -- estimate ---------------------------------------------------------------------------

    def _estimate(self, todo: list[Source]) -> dict:
        known = self._catalogue()
        extract = [r for source in todo for r in extract_requests(self.setup, source, known)]
        uncached = [r for r in extract if not self.llm.is_cached(r)]
        cached = len(extract) - len(uncached)
        prompt_tokens = sum(self.llm.count_tokens(text_of(r.prompt.messages())) for r in uncached)
        source_tokens = sum(self.llm.count_tokens(s.body) for s in todo)
        # Articles depend on what extraction finds: about one write request per source,
        # reading claims that come to roughly a third of the source.
        writes = len(todo)
        write_tokens = writes * 600 + source_tokens // 3
        asked = sum(concepts_wanted(self.llm.count_tokens(s.body), self.setup.answer_tokens(MAX_CONCEPTS)) for s in todo)
        empty = self.templates.prompt(CONSOLIDATE_TEMPLATE, concepts=[], pairs=[])
        consolidations, consolidate_tokens = consolidation_estimate(
            asked, self.llm.count_tokens(text_of(empty.messages())), self.max_output)
        return {
            "sources": len(todo),
            "extract_requests": len(extract) - cached,
            "extract_requests_cached": cached,
            "extract_prompt_tokens": prompt_tokens,
            "extract_completion_tokens_max": sum(r.max_tokens for r in uncached),
            "write_requests_about": writes,
            "consolidate_requests_about": consolidations,
            "consolidate_prompt_tokens_about": consolidate_tokens,
            "write_prompt_tokens_about": write_tokens,
            "total_prompt_tokens_about": prompt_tokens + consolidate_tokens + write_tokens,
        }


def _stem(path: str) -> str:
    """Path(path).stem of a vault-relative path, without a Path (10,000 of them a run)."""
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def _files_in(folder: Path) -> set[str]:
    """The names of the regular files in `folder` (none if it is not there)."""
    try:
        with os.scandir(folder) as entries:
            return {entry.name for entry in entries if entry.is_file()}
    except OSError:
        return set()


def compile_vault(vault: Vault, llm: LLM, templates: Templates,
                  options: CompileOptions | None = None) -> CompileReport:
    with run_collection():
        return Compiler(vault, llm, templates, options or CompileOptions()).run()
