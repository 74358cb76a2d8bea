"""Export the wiki as a finetuning dataset: question-answer pairs and short instruction tasks
from the concept pages, every answer checked in code against the sentences it cites and those
against the sources' claims; chat JSONL with a held-out split by concept, and a card.

Incremental: a manifest in the export folder keeps each page's hash and the pairs made from
it, so a rerun after a compile sends only the pages that changed."""
from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from kbc.errors import KbcError
from kbc.export.grounding import Sentence, check_pair, content_words, page_sentences
from kbc.llm import LLM, BudgetExceeded, EndpointUnavailable, Request, Templates, stable_json
from kbc.llm.prompts import pack, text_of
from kbc.llm.schema import INTEGER, TEXT, array, obj
from kbc.vault import Vault
from kbc.vault.files import atomic_write, sha256_text
from kbc.vault.pages import read_page

FINETUNE_TEMPLATE = "prompts/finetune.j2"
KINDS = ["qa", "define", "compare", "explain"]
PAIRS_SCHEMA = obj("finetune_pairs", pairs=array(obj(
    kind={"type": "string", "enum": KINDS}, question=TEXT, answer=TEXT, evidence=array(INTEGER))))
BATCH_CONCEPTS = 4  # concepts per request: enough to compare, few enough to answer well
BATCH_TOKENS = 2000  # and no more sentences than this
TOKENS_PER_PAIR = 150  # room in the answer for one pair
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass
class ConceptPage:
    name: str  # the page name, which pairs and the split refer to
    title: str  # what the model is told the concept is called (no "(concept)" suffix)
    aliases: list[str]
    category: str
    sentences: list[tuple[str, list[str]]]  # (text, cited pages)
    claims: list[str] | None  # what the sources said about it (None: no database to ask)
    hash: str = ""


@dataclass
class ExportOptions:
    out: Path | None = None  # default: <vault>/exports/finetune
    holdout: float = 0.1  # share of concepts whose pairs go to heldout.jsonl only
    per_concept: int = 4
    estimate: bool = False


@dataclass
class ExportReport:
    out: str
    concepts: int = 0
    regenerated: list[str] = field(default_factory=list)  # pages sent to the model this run
    reused: int = 0  # pages whose pairs were kept from the last export
    accepted: int = 0  # pairs accepted this run
    unsupported: int = 0  # rejected this run: the cited sentences (or claims) do not hold the answer
    vague: int = 0  # rejected this run: too short, or not naming its concept
    duplicates: int = 0  # dropped this run as a repeat of a pair already kept
    cross_split: int = 0  # compare pairs joining a train and a held-out concept: dropped
    train: int = 0
    heldout: int = 0
    heldout_concepts: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    card: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    stopped: str = ""
    estimate: dict | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def load_concepts(vault: Vault) -> dict[str, ConceptPage]:
    """Concept pages with at least one sentence, by page name."""
    claims = _claims_by_page(vault)
    pages = {}
    for path in vault.wiki_pages().values():
        try:
            props, body = read_page(path)
        except Exception:  # a page with broken front matter is lint's business, not ours
            continue
        if props.get("kind") != "concept":
            continue
        cited = [re.sub(r"^\[\[|\]\]$", "", str(s)).split("|")[0] for s in props.get("sources") or []]
        sentences = page_sentences(path.stem, body, cited)
        if sentences:
            aliases = [str(a) for a in props.get("aliases") or [] if a]
            pages[path.stem] = ConceptPage(path.stem, str(props.get("title") or path.stem), aliases,
                                           str(props.get("category") or "other"), sentences,
                                           None if claims is None else claims.get(path.stem, []))
    return pages


def _claims_by_page(vault: Vault) -> dict[str, list[str]] | None:
    try:
        with vault.db_lock:
            rows = vault.db.execute("select c.page, k.text from claims k "
                                    "join concepts c on c.key = k.concept_key order by k.id").fetchall()
    except sqlite3.OperationalError:  # another layout of the compiler's tables: check pages only
        return None
    found: dict[str, list[str]] = {}
    for page, text in rows:
        found.setdefault(page, []).append(text)
    return found or None


def export_finetune(vault: Vault, llm: LLM, templates: Templates,
                    options: ExportOptions | None = None) -> ExportReport:
    options = options or ExportOptions()
    if not 0 <= options.holdout < 1:
        raise KbcError(f"--holdout {options.holdout}: must be at least 0 and below 1")
    out = Path(options.out) if options.out else vault.root / "exports" / "finetune"
    report = ExportReport(out=str(out))
    version = templates.version(FINETUNE_TEMPLATE)
    pages = load_concepts(vault)
    for page in pages.values():
        page.hash = sha256_text(stable_json([page.title, page.sentences, page.claims, page.aliases, version, llm.model]))[:16]
    manifest = _load_manifest(out / MANIFEST)
    clean = {n for n, p in pages.items() if manifest["pages"].get(n) == p.hash}
    dirty = sorted((p for n, p in pages.items() if n not in clean), key=lambda p: (p.category, p.name.casefold()))
    report.concepts, report.reused = len(pages), len(clean)
    manifest["pages"] = {n: h for n, h in manifest["pages"].items() if n in clean}
    manifest["pairs"] = [p for p in manifest["pairs"] if set(p["concepts"]) <= clean]
    manifest["rejected"] = [r for r in manifest["rejected"] if set(r["concepts"]) <= clean]
    batches = pack(dirty, lambda p: sum(llm.count_tokens(s) for s, _ in p.sentences) + 20,
                   BATCH_CONCEPTS, BATCH_TOKENS)
    planned = [_request(templates, batch, options.per_concept, vault.settings.max_output_tokens)
               for batch in batches]
    if options.estimate:
        report.estimate = _estimate(llm, planned, len(dirty))
        return report
    before = dict(llm.totals.__dict__)
    seen = {_question_key(p["question"]) for p in manifest["pairs"]}
    names = {n: [p.title, n, *p.aliases] for n, p in pages.items()}
    claims = None if all(p.claims is None for p in pages.values()) else {n: p.claims for n, p in pages.items()}
    step = max(1, llm.concurrency) * 2  # the manifest is saved this often: an interrupted run keeps its work
    try:
        for start in range(0, len(planned), step):
            chunk = planned[start:start + step]
            for (request, sentences, batch), result in zip(chunk, llm.complete_all([r for r, _, _ in chunk])):
                if isinstance(result, Exception):
                    report.errors.append(str(result))
                    continue
                for raw in result.data["pairs"]:
                    _take(raw, sentences, names, claims, seen, manifest, report)
                manifest["pages"].update({p.name: p.hash for p in batch})
                report.regenerated += [p.name for p in batch]
            _save_manifest(out / MANIFEST, manifest, llm, before, version)
    except (BudgetExceeded, EndpointUnavailable) as exc:
        report.stopped = str(exc) + ("" if isinstance(exc, BudgetExceeded) else "; rerun to resume")
    _save_manifest(out / MANIFEST, manifest, llm, before, version)
    _write_dataset(out, manifest, pages, options.holdout, report, llm.model, version)
    return report


def _request(templates: Templates, batch: list[ConceptPage], per_concept: int, max_output: int):
    sentences: dict[int, Sentence] = {}
    concepts = []
    for page in batch:
        numbered = []
        for text, cited in page.sentences:
            sentence = Sentence(len(sentences) + 1, page.name, text, cited)
            sentences[sentence.number] = sentence
            numbered.append(sentence)
        concepts.append({"name": page.title, "aliases": page.aliases, "sentences": numbered})
    prompt = templates.prompt(FINETUNE_TEMPLATE, concepts=concepts, per_concept=per_concept)
    max_tokens = min(max_output, 200 + len(batch) * per_concept * TOKENS_PER_PAIR)
    label = "finetune pairs for " + ", ".join(p.name for p in batch)
    return Request("export", prompt, PAIRS_SCHEMA, max_tokens, label=label[:200]), sentences, batch


def _take(raw: dict, sentences: dict[int, Sentence], names, claims, seen: set, manifest: dict,
          report: ExportReport) -> None:
    """Check one generated pair; keep it (with its citation) or record why not."""
    evidence = [sentences[n] for n in dict.fromkeys(raw["evidence"]) if n in sentences]
    question, answer = " ".join(raw["question"].split()), " ".join(raw["answer"].split())
    concepts = list(dict.fromkeys(s.concept for s in evidence)) or [next(iter(sentences.values())).concept]
    kind, reason = check_pair(question, answer, evidence, names, claims)
    if not kind and [n for n in raw["evidence"] if n not in sentences]:
        kind, reason = "unsupported", "cites a sentence number that was not given"
    if kind:
        setattr(report, kind, getattr(report, kind) + 1)
        manifest["rejected"].append({"question": question, "answer": answer, "concepts": concepts,
                                     "kind": kind, "reason": reason})
        return
    key = _question_key(question)
    if key in seen:
        report.duplicates += 1
        return
    seen.add(key)
    sources = list(dict.fromkeys(name for s in evidence for name in s.sources))
    cited = answer + ("\n\nSources: " + ", ".join(sources) if sources else "")
    manifest["pairs"].append({"kind": raw["kind"], "question": question, "answer": cited,
                              "concepts": concepts, "sources": sources})
    report.accepted += 1


def _question_key(question: str) -> str:
    """Questions that differ only in case, punctuation or word order are one question."""
    return " ".join(sorted(content_words(question)))


def heldout_concepts(names: list[str], fraction: float) -> set[str]:
    """Concepts whose pairs are held out, by a hash of the name: stable as the wiki grows."""
    if fraction <= 0 or len(names) < 2:
        return set()
    score = {n: int(sha256_text(n.casefold())[:8], 16) / 0xFFFFFFFF for n in names}
    chosen = {n for n in names if score[n] < fraction}
    return chosen or {min(names, key=score.get)}


def _write_dataset(out: Path, manifest: dict, pages: dict, fraction: float, report: ExportReport,
                   model: str, version: str) -> None:
    held = heldout_concepts(sorted(pages), fraction)
    train, heldout = [], []
    for pair in sorted(manifest["pairs"], key=lambda p: (p["concepts"], p["kind"], p["question"])):
        sides = {c in held for c in pair["concepts"]}
        if len(sides) > 1:
            report.cross_split += 1
            continue
        line = json.dumps({"messages": [{"role": "user", "content": pair["question"]},
                                        {"role": "assistant", "content": pair["answer"]}]}, ensure_ascii=False)
        (heldout if sides == {True} else train).append(line)
    atomic_write(out / "train.jsonl", "".join(line + "\n" for line in train))
    atomic_write(out / "heldout.jsonl", "".join(line + "\n" for line in heldout))
    report.train, report.heldout = len(train), len(heldout)
    report.heldout_concepts = sorted(held)
    report.card = _card(manifest, report, model, version)
    atomic_write(out / "card.md", _card_markdown(report.card))
    report.files = [str(out / name) for name in ("train.jsonl", "heldout.jsonl", "card.md")]


def _card(manifest: dict, report: ExportReport, model: str, version: str) -> dict:
    kinds = {k: sum(p["kind"] == k for p in manifest["pairs"]) for k in KINDS}
    sources: dict[str, int] = {}
    for pair in manifest["pairs"]:
        for source in pair["sources"]:
            sources[source] = sources.get(source, 0) + 1
    rejected = manifest["rejected"]
    return {
        "pairs": {"train": report.train, "heldout": report.heldout, "by_kind": kinds},
        "concepts": {"total": report.concepts, "heldout": report.heldout_concepts},
        "rejected": {"unsupported": sum(r["kind"] == "unsupported" for r in rejected),
                     "vague": sum(r["kind"] == "vague" for r in rejected),
                     "cross_split": report.cross_split},
        "sources": dict(sorted(sources.items())),
        "model": model, "prompt_version": version,
        "tokens": manifest["tokens"],
        "updated": dt.datetime.now().replace(microsecond=0).isoformat(),
    }


def _card_markdown(card: dict) -> str:
    tokens, pairs = card["tokens"], card["pairs"]
    lines = [
        "# Finetuning dataset from the wiki", "",
        "Made by `kbc export finetune` from the wiki's concept pages. Each line of `train.jsonl` and "
        "`heldout.jsonl` is one chat example (`{\"messages\": [...]}`); every answer is built from "
        "its page's sentences and ends with the pages it cites. The held-out concepts appear in "
        "`heldout.jsonl` only.", "",
        f"- Pairs: {pairs['train']} train, {pairs['heldout']} held out ("
        + ", ".join(f"{n} {k}" for k, n in pairs["by_kind"].items()) + ")",
        f"- Concepts: {card['concepts']['total']}; held out: " + (", ".join(card["concepts"]["heldout"]) or "none"),
        f"- Rejected as unsupported by their sentences or claims: {card['rejected']['unsupported']}; "
        f"too vague: {card['rejected']['vague']}; dropped for joining both splits: {card['rejected']['cross_split']}",
        f"- Model: {card['model']}; prompt `finetune.j2` version {card['prompt_version']}",
        f"- Token cost (all runs): {tokens['prompt_tokens']:,} prompt ({tokens['cached_tokens']:,} cached), "
        f"{tokens['completion_tokens']:,} completion in {tokens['requests']} requests",
        "", "## Sources", "",
    ]
    lines += [f"- {name}: {count} pairs" for name, count in card["sources"].items()] or ["- none"]
    return "\n".join(lines) + "\n"


def _estimate(llm: LLM, planned: list, pages: int) -> dict:
    uncached = [request for request, _, _ in planned if not llm.is_cached(request)]
    return {
        "pages": pages,
        "requests": len(uncached),
        "requests_cached": len(planned) - len(uncached),
        "prompt_tokens": sum(llm.count_tokens(text_of(r.prompt.messages())) for r in uncached),
        "completion_tokens_max": sum(r.max_tokens for r in uncached),
    }


_TOKEN_KEYS = ("requests", "prompt_tokens", "cached_tokens", "completion_tokens")


def _load_manifest(path: Path) -> dict:
    empty = {"format": MANIFEST_FORMAT, "pages": {}, "pairs": [], "rejected": [],
             "tokens": dict.fromkeys(_TOKEN_KEYS, 0)}
    if not path.exists():
        return empty
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KbcError(f"{path}: not a readable export manifest; move it away to start the export afresh") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise KbcError(f"{path}: an export manifest of another format; move it away to start afresh")
    return {**empty, **data}


def _save_manifest(path: Path, manifest: dict, llm: LLM, before: dict, version: str) -> None:
    """Tokens are added as spent since the last save, so saving twice never counts twice."""
    now = llm.totals.__dict__
    spent = manifest.setdefault("_spent_this_run", dict.fromkeys(_TOKEN_KEYS, 0))
    for key in _TOKEN_KEYS:
        delta = now[key] - before[key] - spent[key]
        manifest["tokens"][key] += delta
        spent[key] += delta
    manifest["prompt_version"], manifest["model"] = version, llm.model
    atomic_write(path, json.dumps({k: v for k, v in manifest.items() if not k.startswith("_")},
                                  indent=1, ensure_ascii=False, sort_keys=True) + "\n")
