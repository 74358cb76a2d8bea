"""Stage 3's requests and pages: concepts in batches, a concept too big for one request in
parts merged after (kbc/compile/parts.py), and the pages made from the answers."""
from __future__ import annotations

import json

from kbc.compile.articles import (CLAIMS_VERSION, TOKENS_PER_ARTICLE, WRITE_BATCH_CLAIM_TOKENS,
                                  WRITE_BATCH_CONCEPTS, Job, article_body, batches, claims_article,
                                  concept_entry, entry_tokens, evidence_id, pick_article, write_request)
from kbc.compile.parts import (Piece, as_article, merge_base, merge_groups, merge_request, piece_of, split_job,
                               write_room)
from kbc.compile.grounding import STEMMER_VERSION, add_stems, known_stems
from kbc.compile.page_vocabulary import page_vocabulary
from kbc.llm import BackendError, ItemFailed, stable_json
from kbc.vault.files import atomic_write
from kbc.vault.pages import today, write_page

STEMS_FILE = "stems.json"


class ConceptWriter:
    def __init__(self, compiler):
        self.c = compiler  # vault, llm, templates, manifest, report, options, write_version, max_output
        self.count = compiler.llm.count_tokens
        self.pages = None  # the vault's page names, for grounding: set by write

    def write(self, jobs: list[Job], resolver) -> None:
        stems = StemStore(self.c.vault)
        try:
            # Every page name as grounding reads them, counted only where the names changed.
            self.pages = page_vocabulary(self.c.vault, resolver.pages.values())
            self._write(jobs, resolver)
        finally:
            stems.save()

    def _write(self, jobs: list[Job], resolver) -> None:
        c = self.c
        room = write_room(c.templates, self.count, c.window, c.max_output)
        entries = {job.concept.key: concept_entry(job, c.options.full) for job in jobs}
        cost = {key: entry_tokens(entry, self.count) for key, entry in entries.items()}
        whole = [job for job in jobs if cost[job.concept.key] <= room]
        split = {job.concept.key: split_job(job, room, self.count) for job in jobs if cost[job.concept.key] > room}
        per_batch = max(1, min(WRITE_BATCH_CONCEPTS, c.max_output // TOKENS_PER_ARTICLE))
        groups = batches(whole, lambda j: cost[j.concept.key], per_batch, min(WRITE_BATCH_CLAIM_TOKENS, room))
        groups += [[part] for parts in split.values() for part in parts]
        planned = [write_request(batch, [entries.get(j.concept.key) if j.state != "part"
                                         else concept_entry(j, True) for j in batch], c.templates, c.max_output)
                   for batch in groups]
        results = c.llm.complete_all([request for request, _ in planned])
        pieces: dict[str, list[Piece | None]] = {key: [] for key in split}
        for batch, (_, numbered), result in zip(groups, planned, results):
            if isinstance(result, BackendError):
                c.report.errors.append(str(result))  # endpoint trouble: retried next run
                if batch[0].state == "part":
                    pieces[batch[0].concept.key].append(None)
                continue
            articles = [] if isinstance(result, ItemFailed) else result.data["articles"]
            for position, job in enumerate(batch):
                article = pick_article(articles, job, position, len(batch))
                if job.state == "part":  # a part without prose gives its claims to the merge
                    pieces[job.concept.key].append(piece_of(*((article, numbered) if article is not None
                                                              else claims_article(job))))
                    continue
                self._write_answer(job, article, numbered, result, resolver)
        by_key = {job.concept.key: job for job in jobs}
        for key, merged in self._merge({key: p for key, p in pieces.items() if None not in p}, by_key,
                                       entries).items():
            article, numbered = merged if merged is not None else (None, [])
            self._write_answer(by_key[key], article, numbered, "the merge of its parts failed", resolver)

    def _merge(self, pending: dict[str, list[Piece]], jobs: dict[str, Job], entries: dict) -> dict:
        """Rounds of merge requests until each concept has one article (None: a merge failed)."""
        c, room = self.c, write_room(self.c.templates, self.count, self.c.window, self.c.max_output)
        done: dict[str, tuple[dict, list[str]] | None] = {}
        while pending:
            asked = []  # (key, group, request, numbered)
            grouped = {}
            for key, pieces in pending.items():
                keep = entries[key]["keep"]
                grouped[key] = merge_groups(pieces, self.count, room, merge_base(jobs[key], keep, self.count))
                asked += [(key, group, *merge_request(jobs[key], group, keep, c.templates, c.max_output))
                          for group in grouped[key] if len(group) > 1]
            results = iter(c.llm.complete_all([request for _, _, request, _ in asked]))
            answers = {}
            for key, group, _, numbered in asked:
                result = next(results)
                if isinstance(result, BackendError):
                    c.report.errors.append(str(result))
                    done[key] = False  # retried next run (answered parts come from the cache)
                    continue
                article = None if isinstance(result, ItemFailed) else pick_article(
                    result.data["articles"], jobs[key], 0, 1)
                answers[id(group)] = piece_of(article, numbered) if article is not None else None
            next_round = {}
            for key, groups in grouped.items():
                if key in done:
                    continue
                merged = [group[0] if len(group) == 1 else answers[id(group)] for group in groups]
                if None in merged:
                    done[key] = None
                elif len(merged) == 1:
                    done[key] = as_article(jobs[key], merged[0])
                else:
                    next_round[key] = merged
            pending = next_round
        return {key: value for key, value in done.items() if value is not False}

    def _write_answer(self, job: Job, article: dict | None, numbered: list[str], failure, resolver) -> None:
        version = self.c.write_version
        if article is None:
            # No usable prose: the claims themselves, cited, make the page.
            self.c.report.warnings.append(
                f"concept {job.concept.name}: no usable article from the model"
                + (f" ({failure})" if isinstance(failure, (ItemFailed, str)) else "")
                + "; wrote its claims as the page (`kbc compile --stale` retries)")
            article, numbered = claims_article(job)
            version = CLAIMS_VERSION
        self._write_article(job, article, numbered, resolver, version)

    def _write_article(self, job: Job, article: dict, numbered: list[str], resolver, version: str) -> None:
        c, concept = self.c, job.concept
        body, replaced = article_body(concept, article, numbered, job, resolver, self.pages)
        if replaced and version != CLAIMS_VERSION:
            c.report.warnings.append(f"concept {concept.name}: {len(replaced)} paragraph(s) not supported by "
                                     f"the material ({replaced[0]}); wrote their claims instead "
                                     "(`kbc compile --stale` retries)")
            version = CLAIMS_VERSION
        # A name a file cannot carry ("Q/A Template" is the page "Q A Template") stays findable.
        own_name = [concept.name] if concept.name != concept.page and "(" not in concept.page else []
        props = {
            "title": concept.name,
            "aliases": own_name + concept.aliases,
            "kind": "concept",
            "category": concept.category or "other",
            "description": concept.definition,
            "tags": ["concept"],
            "sources": [f"[[{name}]]" for name in sorted(job.sources, key=str.casefold)],
            "updated": today(),
            "kbc_prompt": version,
            "kbc_model": c.llm.model,
        }
        if job.state in ("edited", "foreign"):
            proposal = c.vault.wiki_dir / "proposals" / f"{concept.page} (proposed).md"
            write_page(c.vault, proposal, {**props, "kind": "proposal", "aliases": [],
                                           "proposal_for": f"[[{concept.page}]]"},
                       body, "proposal", version, c.llm.model)
            c.report.kept_human.append(concept.page)
            c.report.proposals.append(proposal.stem)
        elif write_page(c.vault, job.path, props, body, "concept", version, c.llm.model):
            c.report.written.append(concept.page)
        written = {evidence_id(e): e.text for e in job.evidence if e.kind != "definition"}
        c.manifest.written(concept.key, job.input_hash, stable_json(written), version, c.llm.model)


class StemStore:
    """The stems grounding found in earlier runs (every page name's words are stemmed for each
    run that writes: the stemmer is pure Python), kept in .kbc/ with the stemmer's version."""

    def __init__(self, vault):
        self.vault, self.path = vault, vault.state_dir / STEMS_FILE
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict) and data.get("stemmer") == STEMMER_VERSION and isinstance(data.get("stems"), dict):
            add_stems(data["stems"])
        self.count = len(known_stems())

    def save(self) -> None:
        stems = known_stems()
        if len(stems) != self.count:
            self.vault.state_dir.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps({"stemmer": STEMMER_VERSION, "stems": stems}, ensure_ascii=False))
