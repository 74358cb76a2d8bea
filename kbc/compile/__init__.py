"""Compile raw/ into wiki/: extract per source, merge concepts in code, write articles, bookkeep.

Only two kinds of LLM request exist: `extract` (one per new or changed source, or per part
of a source too long for the context window) and `write` (one per batch of affected
concepts). Everything else — merging, links, indexes, backlinks, the log — is code.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kbc.compile.concepts import ConceptMatcher, concept_key
from kbc.compile.sources import Source, numbered_lines, scan_sources, split_to_fit
from kbc.errors import KbcError
from kbc.llm import (LLM, BackendError, BudgetExceeded, EndpointUnavailable, ItemFailed, Request, Templates,
                     stable_json)
from kbc.llm.prompts import pack, text_of
from kbc.llm.schema import INTEGER, TEXT, array, obj
from kbc.vault import Vault
from kbc.vault.files import page_name, sha256_text
from kbc.vault.bookkeeping import is_navigation, refresh_wiki
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import link_key
from kbc.vault.pages import own_body, page_state, read_page, registered_pages, remove_page, today, write_page

EXTRACT_TEMPLATE = "prompts/extract.j2"
WRITE_TEMPLATE = "prompts/write.j2"
CATALOGUE_TOKENS = 2000  # the shared context of a stage: fixed per run, bounded as the wiki grows
WRITE_BATCH_CONCEPTS = 6
WRITE_BATCH_CLAIM_TOKENS = 2500
TOKENS_PER_ARTICLE = 600  # room in the answer for one article of up to four paragraphs

EXTRACT_SCHEMA = obj(
    "source_extraction", title=TEXT, summary={"type": "string", "minLength": 1},
    concepts=array(obj(name={"type": "string", "minLength": 1}, aliases=array(TEXT), category=TEXT,
                       definition=TEXT, claims=array(obj(text=TEXT, lines=TEXT))), 1, 8))
WRITE_SCHEMA = obj(
    "concept_articles",
    articles=array(obj(name=TEXT, paragraphs=array(obj(text=TEXT, sources=array(INTEGER)), 1, 4))))


@dataclass
class CompileOptions:
    stale: bool = False  # rebuild pages written by another prompt version or model
    full: bool = False  # rebuild everything
    estimate: bool = False  # count what a run would send; call nothing


@dataclass
class CompileReport:
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    written: list[str] = field(default_factory=list)
    deleted_pages: list[str] = field(default_factory=list)
    kept_human: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stopped: str = ""
    estimate: dict | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def _paths(vault: Vault):
    return vault.wiki_dir / "sources", vault.wiki_dir / "concepts"


class Compiler:
    def __init__(self, vault: Vault, llm: LLM, templates: Templates, options: CompileOptions):
        self.vault, self.llm, self.templates, self.options = vault, llm, templates, options
        self.db = vault.db
        self.report = CompileReport()
        self._files_taken: dict[str, set[str]] = {}
        self.extract_version = templates.version(EXTRACT_TEMPLATE)
        self.write_version = templates.version(WRITE_TEMPLATE)
        window = vault.settings.context_window or getattr(llm.backend, "context_window", 0) or 32768
        self.context_window = window
        self.max_output = min(vault.settings.max_output_tokens, window // 3)

    # -- the run ----------------------------------------------------------------------------

    def run(self) -> CompileReport:
        sources, errors = scan_sources(self.vault)
        self.report.errors.extend(errors)
        todo = self._plan_sources(sources)
        if self.options.estimate:
            self.report.estimate = self._estimate(todo)
            return self.report
        try:
            self._extract(todo)
            self._write_concepts()
        except (BudgetExceeded, EndpointUnavailable) as exc:
            self.report.stopped = str(exc) + ("" if isinstance(exc, BudgetExceeded) else "; rerun to resume")
        except KeyboardInterrupt:
            self._bookkeep()
            raise
        self._bookkeep()
        self._find_stale()
        return self.report

    def _plan_sources(self, sources: list[Source]) -> list[Source]:
        known = {row["path"]: row for row in self.db["sources"].rows}
        present = {s.path for s in sources}
        for path in sorted(set(known) - present):
            if not self.options.estimate:  # an estimate changes nothing
                self._remove_source(known[path])
            self.report.removed.append(path)
        todo = []
        for source in sources:
            row = known.get(source.path)
            if row is None:
                self.report.new.append(source.path)
            elif row["sha256"] != source.sha256:
                self.report.changed.append(source.path)
            elif self.options.full or (self.options.stale and self._source_is_stale(row)) \
                    or not (self.vault.root / row["summary_page"]).exists():
                self.report.changed.append(source.path)
            else:
                self.report.unchanged += 1
                continue
            todo.append(source)
        return todo

    def _source_is_stale(self, row) -> bool:
        return row["prompt_version"] != self.extract_version or row["model"] != self.llm.model

    # -- stage 1: extraction ----------------------------------------------------------------

    def _known_concepts(self) -> list[str]:
        """Concept names for the shared context: fixed for the run, most-cited kept if too many."""
        rows = list(self.db.query(
            "select c.name, count(k.id) as n from concepts c left join claims k on k.concept_key = c.key "
            "group by c.key order by n desc, c.name"))
        names, size = [], 0
        for row in rows:
            size += self.llm.count_tokens(row["name"]) + 1
            if size > CATALOGUE_TOKENS:
                break
            names.append(row["name"])
        return sorted(names, key=str.casefold)

    def _extract_requests(self, source: Source, known: list[str]) -> list[Request]:
        lines = numbered_lines(source.body)
        empty = self.templates.prompt(EXTRACT_TEMPLATE, known_concepts=known, title=source.title,
                                      numbered_text="", part=0, parts=0)
        overhead = self.llm.count_tokens(empty.prefix_text() + empty.item) + 64
        room = self.context_window - overhead - self.max_output
        if room < 200:
            raise KbcError(f"context window of {self.context_window} tokens is too small for extraction")
        parts = split_to_fit(lines, room, self.llm.count_tokens)
        requests = []
        for number, part in enumerate(parts, start=1):
            prompt = self.templates.prompt(
                EXTRACT_TEMPLATE, known_concepts=known, title=source.title, numbered_text=part,
                part=number if len(parts) > 1 else 0, parts=len(parts))
            requests.append(Request("extract", prompt, EXTRACT_SCHEMA, self.max_output,
                                    label=f"{source.path}" + (f" part {number}" if len(parts) > 1 else "")))
        return requests

    def _extract(self, todo: list[Source]) -> None:
        if not todo:
            return
        known = self._known_concepts()
        plan = [(source, self._extract_requests(source, known)) for source in todo]
        flat = [request for _, requests in plan for request in requests]
        results = iter(self.llm.complete_all(flat))
        for source, requests in plan:
            answers = [next(results) for _ in requests]
            failed = [a for a in answers if isinstance(a, Exception)]
            if failed:
                self.report.errors.append(str(failed[0]))
                continue
            self._apply_extraction(source, _merge_parts([a.data for a in answers]))

    def _apply_extraction(self, source: Source, data: dict) -> None:
        sources_dir, _ = _paths(self.vault)
        old = self.db["sources"].get(source.path) if self.db["sources"].count_where("path = ?", [source.path]) else None
        summary_name = Path(old["summary_page"]).stem if old else self._free_name(f"{source.title} (source)", "source")
        summary_path = sources_dir / f"{summary_name}.md"
        matcher = self._matcher()
        claims, concept_names = [], []
        for concept in data["concepts"]:
            if not _is_name(concept["name"]):
                continue
            concept["aliases"] = [a for a in concept["aliases"] if _is_name(a)]
            names = [concept["name"], *concept["aliases"]]
            key = matcher.match(names) or concept_key(concept["name"])
            if not key:
                continue
            matcher.add(key, names)
            self._upsert_concept(key, concept)
            concept_names.append(key)
            if concept["definition"].strip():
                claims.append({"source_path": source.path, "concept_key": key, "kind": "definition",
                               "text": concept["definition"].strip(), "lines": ""})
            seen_claims = set()
            for claim in concept["claims"]:
                # A "claim" that only repeats the name says nothing; duplicates add nothing.
                if len(claim["text"].split()) >= 3 and claim["text"] not in seen_claims:
                    seen_claims.add(claim["text"])
                    claims.append({"source_path": source.path, "concept_key": key, "kind": "claim",
                                   "text": claim["text"].strip(), "lines": claim["lines"].strip()})
        with self.vault.db_lock, self.db.conn:
            self.db.execute("delete from claims where source_path = ?", [source.path])
            if claims:
                self.db["claims"].insert_all(claims)
            self.db["sources"].upsert({
                "path": source.path, "sha256": source.sha256, "title": source.title,
                "summary_page": self.vault.rel(summary_path), "extraction": stable_json(data),
                "prompt_version": self.extract_version, "model": self.llm.model,
                "compiled_at": dt.datetime.now().replace(microsecond=0).isoformat(),
            }, pk="path")
        self._drop_orphan_concepts()
        self._write_summary(source, summary_path, data, concept_names)

    def _write_summary(self, source: Source, path: Path, data: dict, keys: list[str]) -> None:
        state = page_state(self.vault, path)
        if state in ("edited", "manual", "foreign"):
            self.report.kept_human.append(path.stem)
            return
        concepts = {row["key"]: row for row in self.db["concepts"].rows}
        lines = []
        for key in dict.fromkeys(keys):
            if key in concepts:
                row = concepts[key]
                lines.append(f"- [[{row['page']}]]: {row['definition']}")
        props = {
            "title": data["title"] or source.title,
            "kind": "source-summary",
            "category": source.kind,
            "source": f"[[{source.note_name}]]",
            "description": _first_sentence(data["summary"]),
            "tags": ["source"],
            "updated": today(),
            "kbc_prompt": self.extract_version,
            "kbc_model": self.llm.model,
        }
        body = (f"# {props['title']}\n\n{data['summary'].strip()}\n\n"
                f"Source note: [[{source.note_name}]]\n\n## Concepts\n\n" + ("\n".join(lines) or "None found.") + "\n")
        if write_page(self.vault, path, props, body, "source-summary", self.extract_version, self.llm.model):
            self.report.written.append(path.stem)

    def _matcher(self) -> ConceptMatcher:
        matcher = ConceptMatcher()
        for row in self.db["concepts"].rows:
            matcher.add(row["key"], [row["name"], *json.loads(row["aliases"] or "[]")])
        return matcher

    def _upsert_concept(self, key: str, concept: dict) -> None:
        existing = self.db["concepts"].get(key) if self.db["concepts"].count_where("key = ?", [key]) else None
        name = " ".join(concept["name"].split())
        if existing:
            aliases = json.loads(existing["aliases"] or "[]")
            for alias in [name, *concept["aliases"]]:
                alias = " ".join(alias.split())
                if alias and concept_key(alias) != concept_key(existing["name"]) and alias not in aliases:
                    aliases.append(alias)
            with self.vault.db_lock:
                self.db["concepts"].update(key, {"aliases": json.dumps(sorted(aliases, key=str.casefold))})
            return
        aliases = sorted({" ".join(a.split()) for a in concept["aliases"]
                          if a.strip() and concept_key(a) != key}, key=str.casefold)
        page = self._free_name(name)
        with self.vault.db_lock:
            self.db["concepts"].insert({
                "key": key, "name": name, "aliases": json.dumps(aliases),
                "definition": concept["definition"].strip(), "category": _category(concept["category"]),
                "page": page, "input_hash": "", "prompt_version": "", "model": "",
            }, pk="key")

    def _free_name(self, wanted: str, kind: str = "concept") -> str:
        """A page name unique in the whole vault (case-insensitive), as Obsidian needs."""
        # A page kbc wrote that no concept or source claims any more is free to reuse: that
        # is how a fresh clone (no database) adopts the committed wiki instead of renaming it.
        if kind not in self._files_taken:  # the vault's files, read once a run
            adoptable = self.vault.wiki_dir / ("concepts" if kind == "concept" else "sources")
            self._files_taken[kind] = {
                link_key(p.stem) for p in self.vault.root.rglob("*.md")
                if ".kbc" not in p.parts and not (p.parent == adoptable and page_state(self.vault, p) == "ours")}
        # pages named during this run are in the database already
        taken = set(self._files_taken[kind])
        taken |= {link_key(r["page"]) for r in self.db["concepts"].rows}
        taken |= {link_key(Path(r["summary_page"]).stem) for r in self.db["sources"].rows}
        base = page_name(wanted)
        candidates = [base, f"{base} ({kind})"]
        number = 2
        while all(link_key(c) in taken for c in candidates):
            candidates.append(f"{base} ({kind} {number})")
            number += 1
        return next(c for c in candidates if link_key(c) not in taken)

    # -- removal ----------------------------------------------------------------------------

    def _remove_source(self, row) -> None:
        with self.vault.db_lock, self.db.conn:
            self.db.execute("delete from claims where source_path = ?", [row["path"]])
            self.db.execute("delete from sources where path = ?", [row["path"]])
        summary = self.vault.root / row["summary_page"]
        if page_state(self.vault, summary) == "ours":
            remove_page(self.vault, summary)
            self.report.deleted_pages.append(summary.stem)
        self._drop_orphan_concepts()

    def _drop_orphan_concepts(self) -> None:
        _, concepts_dir = _paths(self.vault)
        orphans = list(self.db.query(
            "select * from concepts where key not in (select distinct concept_key from claims)"))
        for row in orphans:
            path = concepts_dir / f"{row['page']}.md"
            if page_state(self.vault, path) in ("ours", "missing"):
                remove_page(self.vault, path)
                self.report.deleted_pages.append(row["page"])
            else:
                self.report.kept_human.append(row["page"])
            with self.vault.db_lock, self.db.conn:
                self.db.execute("delete from concepts where key = ?", [row["key"]])

    # -- stage 2: articles ------------------------------------------------------------------

    def _concept_inputs(self) -> dict[str, dict]:
        """Per concept: everything its article is written from, and a hash of it."""
        source_pages = {row["path"]: Path(row["summary_page"]).stem for row in self.db["sources"].rows}
        inputs = {}
        for concept in self.db["concepts"].rows:
            claims = list(self.db.query(
                "select source_path, kind, text, lines from claims where concept_key = ? "
                "order by source_path, id", [concept["key"]]))
            material = {
                "name": concept["name"], "aliases": json.loads(concept["aliases"] or "[]"),
                "claims": [{**c, "source_page": source_pages.get(c["source_path"], "")} for c in claims],
            }
            inputs[concept["key"]] = {"row": concept, "material": material,
                                      "hash": sha256_text(stable_json(material))[:16]}
        return inputs

    def _write_concepts(self) -> None:
        _, concepts_dir = _paths(self.vault)
        inputs = self._concept_inputs()
        dirty = []
        for key, entry in sorted(inputs.items()):
            row = entry["row"]
            path = concepts_dir / f"{row['page']}.md"
            state = page_state(self.vault, path)
            if state == "manual":
                continue
            stale = self.options.stale and (row["prompt_version"] != self.write_version
                                            or row["model"] != self.llm.model)
            if self.options.full or stale or row["input_hash"] != entry["hash"] or state == "missing":
                dirty.append((key, entry, path, state))
        if not dirty:
            return
        page_names = self._page_catalogue(inputs)
        batches = _batches(dirty, self.llm.count_tokens, max(1, min(WRITE_BATCH_CONCEPTS,
                                                                    self.max_output // TOKENS_PER_ARTICLE)))
        planned = [self._write_request(batch, page_names) for batch in batches]
        results = self.llm.complete_all([request for request, _ in planned])
        resolver = LinkResolver(self._all_page_names(inputs), self._all_aliases(inputs))
        for batch, (_, source_pages), result in zip(batches, planned, results):
            if isinstance(result, BackendError):
                self.report.errors.append(str(result))  # endpoint trouble: retried next run
                continue
            articles = [] if isinstance(result, ItemFailed) else result.data["articles"]
            by_name = {concept_key(a["name"]): a for a in articles}
            for position, (key, entry, path, state) in enumerate(batch):
                # The schema asks for one article per concept in order; names are checked
                # first because a model may reorder them.
                article = by_name.get(key)
                if article is None and len(articles) == len(batch):
                    article = articles[position]
                if article is None or not any(_is_prose(p["text"]) for p in article["paragraphs"]):
                    # No usable prose: the claims themselves, cited, make the page. It is
                    # marked with prompt version "claims", so `--stale` asks the model again.
                    self.report.warnings.append(
                        f"concept {entry['row']['name']}: no usable article from the model"
                        + (f" ({result})" if isinstance(result, ItemFailed) else "")
                        + "; wrote its claims as the page (`kbc compile --stale` retries)")
                    article, source_pages_used, version = _claims_article(entry), _sources_of(entry), "claims"
                else:
                    source_pages_used, version = source_pages, self.write_version
                self._write_article(key, entry, path, state, article, source_pages_used, resolver, version)

    def _page_catalogue(self, inputs) -> list[str]:
        names = self._all_page_names(inputs)
        picked, size = [], 0
        for name in names:
            size += self.llm.count_tokens(name) + 1
            if size > CATALOGUE_TOKENS:
                break
            picked.append(name)
        return picked

    def _all_page_names(self, inputs) -> list[str]:
        names = {entry["row"]["page"] for entry in inputs.values()}
        names |= {Path(row["summary_page"]).stem for row in self.db["sources"].rows}
        names |= set(self.vault.note_names())
        return sorted((n for n in names if not is_navigation(n)), key=str.casefold)

    def _all_aliases(self, inputs) -> dict[str, str]:
        aliases = dict(self.vault.page_aliases())
        for entry in inputs.values():
            for alias in entry["material"]["aliases"]:
                aliases.setdefault(alias, entry["row"]["page"])
        return aliases

    def _write_request(self, batch, page_names) -> tuple[Request, list[str]]:
        """One request for a batch of concepts; sources are numbered across the batch. An
        update sends the current article (citations as [n]) and only the claims that changed
        since it was written, not every claim again."""
        source_pages: list[str] = []
        concepts = []
        for key, entry, path, state in batch:
            material = entry["material"]
            for claim in material["claims"]:
                if claim["source_page"] not in source_pages:
                    source_pages.append(claim["source_page"])
            current, keep = "", ""
            if state in ("ours", "edited") and path.exists():
                _, body = read_page(path)
                text = _numbered_citations(_article_text(body), source_pages)
                if state == "edited":
                    keep = text
                elif not self.options.full:
                    current = text
            claims = [c for c in material["claims"] if c["kind"] == "claim"]
            removed = []
            written = json.loads(entry["row"]["written_claims"] or "null")
            if current and written is not None:
                ids = {_claim_id(c): c for c in claims}
                claims = [c for i, c in ids.items() if i not in written]
                removed = [text for i, text in written.items() if i not in ids]
            concepts.append({
                "name": material["name"], "aliases": material["aliases"],
                "definitions": [] if current else
                [c["text"] for c in material["claims"] if c["kind"] == "definition"],
                "claims": [{"text": c["text"], "source_number": source_pages.index(c["source_page"]) + 1}
                           for c in claims],
                "removed": removed, "current": current, "keep": keep,
            })
        prompt = self.templates.prompt(WRITE_TEMPLATE, page_names=page_names, concepts=concepts,
                                       sources=source_pages)
        label = "concepts " + ", ".join(entry["row"]["name"] for _, entry, _, _ in batch)
        # One article per concept asked for, no more, no fewer.
        schema = json.loads(json.dumps(WRITE_SCHEMA))
        schema["properties"]["articles"].update(minItems=len(batch), maxItems=len(batch))
        return Request("write", prompt, schema, self.max_output, label=label,
                       check=_check_articles), source_pages

    def _write_article(self, key, entry, path: Path, state: str, article: dict,
                       numbered_sources: list[str], resolver, version: str) -> None:
        row, material = entry["row"], entry["material"]
        request_sources = sorted({c["source_page"] for c in material["claims"]}, key=str.casefold)
        paragraphs = []
        for paragraph in article["paragraphs"]:
            text = resolver.fix(" ".join(paragraph["text"].split()))
            if not _is_prose(text):
                continue
            cited = [numbered_sources[n - 1] for n in paragraph["sources"]
                     if 1 <= n <= len(numbered_sources) and numbered_sources[n - 1] in request_sources]
            cited = list(dict.fromkeys(cited)) or request_sources[:1]
            paragraphs.append(text + " (" + ", ".join(f"[[{name}]]" for name in cited) + ")")
        definition = next((c["text"] for c in material["claims"] if c["kind"] == "definition"), "")
        lines_by_source: dict[str, list[str]] = {}
        for claim in material["claims"]:
            if claim["lines"]:
                lines_by_source.setdefault(claim["source_page"], []).append(claim["lines"])
        source_list = "\n".join(
            f"- [[{name}]]" + (f": lines {', '.join(dict.fromkeys(lines_by_source[name]))}"
                               if name in lines_by_source else "")
            for name in request_sources)
        body = (f"# {row['name']}\n\n" + (f"*{definition}*\n\n" if definition else "")
                + "\n\n".join(paragraphs) + f"\n\n## Sources\n\n{source_list}\n")
        props = {
            "title": row["name"],
            "aliases": material["aliases"],
            "kind": "concept",
            "category": row["category"] or "other",
            "description": definition,
            "tags": ["concept"],
            "sources": [f"[[{name}]]" for name in request_sources],
            "updated": today(),
            "kbc_prompt": version,
            "kbc_model": self.llm.model,
        }
        if state in ("edited", "foreign"):
            proposal = self.vault.wiki_dir / "proposals" / f"{row['page']} (proposed).md"
            write_page(self.vault, proposal, {**props, "kind": "proposal", "aliases": [],
                                              "proposal_for": f"[[{row['page']}]]"},
                       body, "proposal", version, self.llm.model)
            self.report.kept_human.append(row["page"])
            self.report.proposals.append(proposal.stem)
        elif write_page(self.vault, path, props, body, "concept", version, self.llm.model):
            self.report.written.append(row["page"])
        written = {_claim_id(c): c["text"] for c in material["claims"] if c["kind"] == "claim"}
        with self.vault.db_lock:
            self.db["concepts"].update(key, {"input_hash": entry["hash"],
                                             "written_claims": stable_json(written),
                                             "prompt_version": version,
                                             "model": self.llm.model})

    # -- stage 3: bookkeeping by code -------------------------------------------------------

    def _bookkeep(self) -> None:
        refresh_wiki(self.vault)
        self._append_log()

    def _append_log(self) -> None:
        r = self.report
        if not (r.new or r.changed or r.removed or r.written or r.deleted_pages or r.errors):
            return
        totals = self.llm.totals
        stamp = dt.datetime.now().replace(microsecond=0).isoformat()
        lines = [f"## {stamp}", ""]
        for label, items in (("Sources added", r.new), ("Sources changed", r.changed),
                             ("Sources removed", r.removed)):
            if items:
                lines.append(f"- {label}: " + ", ".join(f"`{p}`" for p in items))
        if r.written:
            lines.append("- Pages written: " + ", ".join(f"[[{n}]]" for n in sorted(set(r.written))))
        if r.deleted_pages:
            lines.append("- Pages removed: " + ", ".join(sorted(set(r.deleted_pages))))
        if r.kept_human:
            lines.append("- Kept human edits: " + ", ".join(f"[[{n}]]" for n in sorted(set(r.kept_human))))
        for error in r.errors:
            lines.append(f"- Error: {error}")
        for warning in r.warnings:
            lines.append(f"- Warning: {warning}")
        if r.stopped:
            lines.append(f"- Stopped: {r.stopped}")
        lines.append(f"- Tokens: {totals.prompt_tokens:,} prompt ({totals.cached_tokens:,} cached), "
                     f"{totals.completion_tokens:,} completion, {totals.requests} requests "
                     f"({totals.cache_hits} from the response cache)")
        path = self.vault.wiki_dir / "log.md"
        old_body = ""
        if path.exists():
            _, old_body = read_page(path)
            old_body = old_body.split("\n", 2)[2] if old_body.startswith("# Log") else old_body
        body = "# Log\n\nWhat each `kbc compile` changed, newest first.\n\n" + "\n".join(lines) + "\n\n" \
            + old_body.replace("What each `kbc compile` changed, newest first.\n\n", "", 1)
        write_page(self.vault, path, {"title": "Log", "kind": "log"}, body, "log")

    def _find_stale(self) -> None:
        for row in registered_pages(self.vault).values():
            version = {"concept": self.write_version, "source-summary": self.extract_version}.get(row["kind"])
            if version and (row["prompt_version"] != version or row["model"] != self.llm.model):
                self.report.stale.append(Path(row["path"]).stem)

    # -- estimate ---------------------------------------------------------------------------

    def _estimate(self, todo: list[Source]) -> dict:
        known = self._known_concepts()
        extract = [r for source in todo for r in self._extract_requests(source, known)]
        uncached = [r for r in extract if not self.llm.is_cached(r)]
        cached = len(extract) - len(uncached)
        prompt_tokens = sum(self.llm.count_tokens(text_of(r.prompt.messages())) for r in uncached)
        source_tokens = sum(self.llm.count_tokens(s.body) for s in todo)
        # Articles depend on what extraction finds: about one write request per source,
        # reading claims that come to roughly a third of the source.
        writes = len(todo)
        write_tokens = writes * 600 + source_tokens // 3
        return {
            "sources": len(todo),
            "extract_requests": len(extract) - cached,
            "extract_requests_cached": cached,
            "extract_prompt_tokens": prompt_tokens,
            "extract_completion_tokens_max": (len(extract) - cached) * self.max_output,
            "write_requests_about": writes,
            "write_prompt_tokens_about": write_tokens,
            "total_prompt_tokens_about": prompt_tokens + write_tokens,
        }


def _batches(dirty, count_tokens, per_batch: int) -> list[list]:
    """Concepts that share sources go in one write request, up to a size that keeps answers short."""
    ordered = sorted(dirty, key=lambda d: (
        min((c["source_path"] for c in d[1]["material"]["claims"]), default=""), d[0]))
    return pack(ordered, lambda d: sum(count_tokens(c["text"]) for c in d[1]["material"]["claims"]) + 20,
                per_batch, WRITE_BATCH_CLAIM_TOKENS)


def _merge_parts(parts: list[dict]) -> dict:
    """Extractions of the parts of one long source become one: concepts joined by key."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, dict] = {}
    for part in parts:
        for concept in part["concepts"]:
            key = concept_key(concept["name"])
            if key in merged:
                merged[key]["aliases"] = sorted(set(merged[key]["aliases"]) | set(concept["aliases"]))
                merged[key]["claims"].extend(concept["claims"])
            else:
                merged[key] = {**concept, "claims": list(concept["claims"])}
    return {"title": parts[0]["title"], "summary": " ".join(p["summary"].strip() for p in parts),
            "concepts": list(merged.values())}


def _category(text: str) -> str:
    """One or two lower-case words: categories name index pages."""
    words = re.sub(r"[^\w\s-]", " ", text.lower()).split()[:2]
    return " ".join(words) or "other"


def _claim_id(claim: dict) -> str:
    return sha256_text(claim["source_page"] + "\n" + claim["text"])[:12]


_CITATION = re.compile(r"\s*\((\[\[[^\]]+\]\](?:,\s*\[\[[^\]]+\]\])*)\)")


def _numbered_citations(text: str, sources: list[str]) -> str:
    """'... ([[A (source)]], [[B (source)]])' becomes '... [1][2]' for the model to keep."""
    def number(match: re.Match) -> str:
        names = re.findall(r"\[\[([^\]|]+)", match.group(1))
        return " " + "".join(f"[{sources.index(n) + 1}]" for n in names if n in sources)

    return _CITATION.sub(number, text)


def _sources_of(entry) -> list[str]:
    return list(dict.fromkeys(c["source_page"] for c in entry["material"]["claims"]))


def _claims_article(entry) -> dict:
    """An article made by code from a concept's claims, one paragraph per source."""
    sources = _sources_of(entry)
    paragraphs = []
    for number, source in enumerate(sources, start=1):
        texts = [c["text"].rstrip(".") + "." for c in entry["material"]["claims"]
                 if c["source_page"] == source and c["kind"] == "claim"]
        if texts:
            paragraphs.append({"text": " ".join(texts), "sources": [number]})
    return {"name": entry["row"]["name"], "paragraphs": paragraphs}


def _check_articles(data: dict) -> str:
    for number, article in enumerate(data["articles"], start=1):
        if not any(_is_prose(p["text"]) for p in article["paragraphs"]):
            return (f"article {number} ({article['name'][:40]!r}) has no readable paragraph; "
                    "write plain sentences from the claims")
    return ""


def _is_name(name: str) -> bool:
    """A concept name is a short phrase with letters, not a number, a line or a sentence."""
    name = name.strip()
    return 0 < len(name) <= 80 and any(c.isalpha() for c in name) and "|" not in name \
        and len(name.split()) <= 8


def _is_prose(text: str) -> bool:
    """Rejects empty and degenerate text (a model stuck repeating a few tokens)."""
    words = text.split()
    if len(words) < 4:
        return False
    if len(words) >= 12 and len(set(words)) / len(words) < 0.3:
        return False
    return len(zlib.compress(text.encode())) * 8 >= len(text) or len(text) < 200


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text[: end + 1] if 0 < end < 240 else text[:240]


def _article_text(body: str) -> str:
    """The article's prose without its heading, sources list and backlinks."""
    text = own_body(body)
    text = text.split("\n## Sources", 1)[0]
    lines = text.strip().split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip()


def compile_vault(vault: Vault, llm: LLM, templates: Templates,
                  options: CompileOptions | None = None) -> CompileReport:
    return Compiler(vault, llm, templates, options or CompileOptions()).run()
