"""Deep lint: the LLM checks each concept against its sources (contradictions, unsupported
sentences); code finds article candidates; one request proposes questions. Only concepts
whose article or claims changed since the last deep lint are sent again."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kbc.llm import (LLM, BackendError, BudgetExceeded, EndpointUnavailable, ItemFailed, Request, Templates,
                     stable_json)
from kbc.llm.prompts import pack
from kbc.llm.schema import INTEGER, TEXT, array, obj
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.files import sha256_text
from kbc.vault.links import link_key
from kbc.vault.pages import own_body, read_page, today, write_page

LINT_TEMPLATE = "prompts/lint.j2"
QUESTIONS_TEMPLATE = "prompts/questions.j2"
CANDIDATE_MIN_PAGES = 3
_PHRASE = re.compile(r"\b([A-Z][a-zA-Z0-9-]+(?: [A-Z][a-zA-Z0-9-]+){0,3})\b")

BATCH_CONCEPTS = 6  # concepts checked in one request
BATCH_TOKENS = 3000  # and no more material than this in it
LINT_SCHEMA = obj("concept_health", concepts=array(obj(
    name=TEXT,
    contradictions=array(obj(claim_a=TEXT, source_a=INTEGER, claim_b=TEXT, source_b=INTEGER, explanation=TEXT),
                         max_items=8),
    unsupported=array(obj(text=TEXT, reason=TEXT), max_items=8))))
QUESTIONS_SCHEMA = obj("next_questions", questions=array(TEXT, max_items=8))


@dataclass
class DeepReport:
    checked: int = 0  # concepts sent to the model this run
    reused: int = 0  # concepts unchanged since the last deep lint
    contradictions: list[dict] = field(default_factory=list)
    unsupported: list[dict] = field(default_factory=list)
    candidates: dict = field(default_factory=dict)  # name -> pages mentioning it
    questions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stopped: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def deep_lint(vault: Vault, llm: LLM, templates: Templates) -> DeepReport:
    report = DeepReport()
    db = vault.db
    concepts_dir = vault.wiki_dir / "concepts"
    source_pages = {row["path"]: Path(row["summary_page"]).stem for row in db["sources"].rows}
    previous = {row["key"]: row for row in db["lint_checks"].rows}
    todo = []
    for concept in db["concepts"].rows:
        path = concepts_dir / f"{concept['page']}.md"
        if not path.exists():
            continue
        claims = list(db.query("select source_path, text from claims where concept_key = ? and kind = 'claim' "
                               "order by source_path, id", [concept["key"]]))
        sources = list(dict.fromkeys(source_pages.get(c["source_path"], "") for c in claims))
        item = {
            "name": concept["name"],
            "article": own_body(read_page(path)[1]).split("\n## Sources", 1)[0].strip(),
            "claims": [{"text": c["text"], "source_number": sources.index(source_pages.get(c["source_path"], "")) + 1}
                       for c in claims],
            "sources": sources,
        }
        # The concept's own material decides whether it is checked again, not its batch.
        digest = sha256_text(stable_json([item, templates.version(LINT_TEMPLATE)]))[:16]
        known = previous.get(concept["key"])
        if known and known["input_hash"] == digest:
            report.reused += 1
            _collect(report, concept["page"], json.loads(known["findings"]))
            continue
        todo.append((concept, item, digest))
    batches = pack(todo, lambda entry: llm.count_tokens(stable_json(entry[1])), BATCH_CONCEPTS, BATCH_TOKENS)
    requests = []
    for batch in batches:
        schema = json.loads(json.dumps(LINT_SCHEMA))
        schema["properties"]["concepts"].update(minItems=len(batch), maxItems=len(batch))
        prompt = templates.prompt(LINT_TEMPLATE, concepts=[item for _, item, _ in batch])
        requests.append(Request("lint", prompt, schema, 400 + 500 * len(batch),
                                label="lint " + ", ".join(c["name"] for c, _, _ in batch)))
    try:
        results = llm.complete_all(requests)
    except (BudgetExceeded, EndpointUnavailable) as exc:
        report.stopped = str(exc)
        results = []
    for batch, result in zip(batches, results):
        if isinstance(result, Exception):
            report.errors.append(str(result))
            continue
        answers = result.data["concepts"]
        by_name = {link_key(a["name"]): a for a in answers}
        for position, (concept, item, digest) in enumerate(batch):
            answer = by_name.get(link_key(concept["name"])) or answers[position]
            findings = _with_source_names(answer, item["sources"])
            with vault.db_lock:
                db["lint_checks"].upsert({"key": concept["key"], "input_hash": digest,
                                          "findings": stable_json(findings)}, pk="key")
            report.checked += 1
            _collect(report, concept["page"], findings)
    report.candidates = article_candidates(vault)
    if not report.stopped:
        report.questions = _questions(vault, llm, templates, report)
    _write_health(vault, report, llm.model, templates.version(LINT_TEMPLATE))
    return report


def _with_source_names(data: dict, sources: list[str]) -> dict:
    def name(number):
        return sources[number - 1] if 1 <= number <= len(sources) else ""

    return {
        "contradictions": [{**c, "source_a": name(c["source_a"]), "source_b": name(c["source_b"])}
                           for c in data["contradictions"]],
        "unsupported": data["unsupported"],
    }


def _collect(report: DeepReport, page: str, findings: dict) -> None:
    report.contradictions += [{**c, "page": page} for c in findings["contradictions"]]
    report.unsupported += [{**u, "page": page} for u in findings["unsupported"]]


def article_candidates(vault: Vault) -> dict[str, list[str]]:
    """Names that several pages mention but that have no page or alias of their own."""
    known = {link_key(n) for n in vault.note_names()} | set(vault.page_aliases())
    mentions: dict[str, set[str]] = {}
    counts: Counter = Counter()
    for path in vault.wiki_pages().values():
        if path.parent.name not in ("concepts", "sources", "answers"):
            continue
        body = re.sub(r"\[\[[^\]]*\]\]|^#.*$", " ", own_body(read_page(path)[1]), flags=re.M)
        for phrase in set(_PHRASE.findall(body)):
            if len(phrase) < 4 or link_key(phrase) in known:
                continue
            mentions.setdefault(phrase, set()).add(path.stem)
            counts[phrase] += 1
    return {phrase: sorted(mentions[phrase]) for phrase, n in counts.most_common(20)
            if n >= CANDIDATE_MIN_PAGES and " " in phrase}


def _questions(vault, llm, templates, report: DeepReport) -> list[str]:
    concepts = sorted(row["name"] for row in vault.db["concepts"].rows)
    if not concepts:
        return []
    prompt = templates.prompt(QUESTIONS_TEMPLATE, concepts=concepts, candidates=sorted(report.candidates),
                              contradictions=[c["explanation"] for c in report.contradictions])
    try:
        # An unchanged wiki asks the same request: the response cache answers it for free.
        result = llm.complete(Request("lint", prompt, QUESTIONS_SCHEMA, 600, label="next questions"))
    except (ItemFailed, BackendError, BudgetExceeded) as exc:  # the checks above still count
        report.errors.append(str(exc))
        return []
    return [q.strip() for q in result.data["questions"] if q.strip()]


def _write_health(vault: Vault, report: DeepReport, model: str, version: str) -> None:
    lines = ["# Health", "", f"Checked by `kbc lint --deep` on {today()}: {report.checked} concepts "
             f"checked again, {report.reused} unchanged since the last check.", "", "## Contradictions", ""]
    for c in report.contradictions:
        lines.append(f"- [[{c['page']}]]: {c['explanation']}\n  - \"{c['claim_a']}\" ([[{c['source_a']}]])"
                     f"\n  - \"{c['claim_b']}\" ([[{c['source_b']}]])")
    if not report.contradictions:
        lines.append("None found.")
    lines += ["", "## Claims no source supports", ""]
    lines += [f"- [[{u['page']}]]: \"{u['text']}\" ({u['reason']})" for u in report.unsupported] or ["None found."]
    lines += ["", "## Article candidates", "", "Mentioned on several pages, with no page of their own:", ""]
    lines += [f"- {name}: " + ", ".join(f"[[{p}]]" for p in pages) for name, pages in report.candidates.items()] \
        or ["None."]
    lines += ["", "## Questions worth asking next", ""]
    lines += [f"- {q}" for q in report.questions] or ["None yet."]
    write_page(vault, vault.wiki_dir / "health.md",
               {"title": "Health", "kind": "health", "kbc_prompt": version, "kbc_model": model},
               "\n".join(lines) + "\n", "health", version, model)
    refresh_wiki(vault)
