"""Stage 3: concept articles, one write request per batch of concepts whose material changed.
An update sends the current article and only the evidence that is new since it was written."""
from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from kbc.compile.concepts import concept_key
from kbc.compile.grounding import NameVocabulary, content_stems, ungrounded
from kbc.compile.rows import Concept, Evidence
from kbc.llm import Request, stable_json
from kbc.llm.prompts import pack
from kbc.llm.schema import INTEGER, TEXT, array, obj
from kbc.vault.files import sha256_text
from kbc.vault.lines import line_ranges
from kbc.vault.links import CITATION
from kbc.vault.pages import own_body, read_page
from kbc.vault.text import first_sentence

WRITE_TEMPLATE = "prompts/write.j2"
WRITE_BATCH_CONCEPTS = 6
WRITE_BATCH_CLAIM_TOKENS = 2500
TOKENS_PER_ARTICLE = 600  # room in the answer for one article of up to four paragraphs
CLAIMS_VERSION = "claims"  # pages made by code from the claims: `--stale` asks the model again

WRITE_SCHEMA = obj(
    "concept_articles",
    articles=array(obj(name=TEXT, paragraphs=array(obj(text=TEXT, sources=array(INTEGER)), 1, 4))))


@dataclass
class Job:
    """One concept to (re)write."""
    concept: Concept
    evidence: list[Evidence]
    related: list[str]  # page names the writer is told about
    path: Path
    state: str  # page_state of its page
    input_hash: str
    bylines: dict[str, list[str]] = field(default_factory=dict)  # source page -> authors, site

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(e.source_page for e in self.evidence if e.source_page))


def input_hash(concept: Concept, evidence: list[Evidence]) -> str:
    return sha256_text(stable_json({"name": concept.name, "aliases": concept.aliases,
                                    "evidence": [e.__dict__ for e in evidence]}))[:16]


def evidence_id(evidence: Evidence) -> str:
    return sha256_text(evidence.source_page + "\n" + evidence.text)[:12]


def concept_entry(job: Job, full: bool) -> dict:
    """What the write prompt says about one concept, its claims by source page (the request
    numbers them): built once, so its size decides the batch and whether it is written in parts."""
    current, keep = "", ""
    if job.state in ("ours", "edited") and job.path.exists():
        _, body = read_page(job.path)
        text = article_text(body)
        if job.state == "edited":
            keep = text
        elif not full:
            current = text
    evidence = [e for e in job.evidence if e.kind != "definition"]
    removed = []
    written = json.loads(job.concept.written_claims or "null")
    if current and written is not None:
        ids = {evidence_id(e): e for e in evidence}
        evidence = [e for i, e in ids.items() if i not in written]
        removed = [text for i, text in written.items() if i not in ids]
    return {"name": job.concept.name, "aliases": job.concept.aliases,
            "definitions": [] if current else [e.text for e in job.evidence if e.kind == "definition"],
            "evidence": evidence, "related": job.related, "removed": removed, "current": current, "keep": keep,
            "sources": job.sources}


def entry_tokens(entry: dict, count_tokens) -> int:
    """About what an entry adds to a write prompt (its words, list marks, its sources' names)."""
    texts = [entry["name"], entry["current"], entry["keep"], *entry["aliases"], *entry["definitions"],
             *entry["related"], *entry["removed"]]
    return (sum(count_tokens(t) + 3 for t in texts) + sum(count_tokens(e.text) + 6 for e in entry["evidence"])
            + sum(count_tokens(s) + 4 for s in entry["sources"]) + 20)


def batches(jobs: list[Job], cost, per_batch: int, max_tokens: int) -> list[list[Job]]:
    """Concepts that share sources go in one write request, up to a size that keeps answers short."""
    ordered = sorted(jobs, key=lambda j: (min(j.sources, default=""), j.concept.key))
    return pack(ordered, cost, per_batch, max_tokens)


def write_request(batch: list[Job], entries: list[dict], templates, max_output: int) -> tuple[Request, list[str]]:
    """One request for a batch (`entries`: concept_entry of each job); sources are numbered
    across the batch."""
    numbered: list[str] = []
    concepts = []
    for entry in entries:
        for source in entry["sources"]:
            if source not in numbered:
                numbered.append(source)
        concepts.append({
            **{k: entry[k] for k in ("name", "aliases", "definitions", "related", "removed")},
            "current": numbered_citations(entry["current"], numbered),
            "keep": numbered_citations(entry["keep"], numbered),
            "claims": [{"text": e.text, "source_number": numbered.index(e.source_page) + 1,
                        "mention": e.kind == "mention"}
                       for e in entry["evidence"]],
        })
    prompt = templates.prompt(WRITE_TEMPLATE, concepts=concepts, sources=numbered)
    label = "concepts " + ", ".join(job.concept.name for job in batch)
    return Request("write", prompt, articles_schema(len(batch)), max_output, label=label,
                   check=check_articles), numbered


def articles_schema(count: int) -> dict:
    schema = json.loads(json.dumps(WRITE_SCHEMA))  # one article per concept asked for
    schema["properties"]["articles"].update(minItems=count, maxItems=count)
    return schema


def pick_article(articles: list[dict], job: Job, position: int, batch_size: int) -> dict | None:
    """The answer's article for this concept: by name first (a model may reorder them)."""
    by_name = {concept_key(a["name"]): a for a in articles}
    article = by_name.get(concept_key(job.concept.name))
    if article is None and len(articles) == batch_size:
        article = articles[position]
    if article is None or not any(is_prose(p["text"]) for p in article["paragraphs"]):
        return None
    return article


def claims_article(job: Job) -> tuple[dict, list[str]]:
    """An article made by code from a concept's claims, one paragraph per source."""
    sources = [s for s in job.sources if any(e.source_page == s and e.kind == "claim" for e in job.evidence)]
    paragraphs = []
    for number, source in enumerate(sources, start=1):
        texts = [e.text.rstrip(".") + "." for e in job.evidence if e.source_page == source and e.kind == "claim"]
        paragraphs.append({"text": " ".join(texts), "sources": [number]})
    return {"name": job.concept.name, "paragraphs": paragraphs}, sources


_LINKED_CITE = re.compile(r"\b(according to|in|by|from|see|and|per|as|with|of)\s+\[(\d+)\]", re.I)
_BARE_CITE = re.compile(r"\s*\[(\d+(?:\s*[,;–-]\s*\d+)*)\](?!\()")


def clean_paragraph(text: str, numbered: list[str], multi_source: bool, cited: list[str]) -> str:
    """No request-local numbers in stored prose: "according to [1]" names the source page,
    a bare "[2]" is dropped (the paragraph cites its sources itself)."""
    def named(match: re.Match) -> str:
        number = int(match.group(2))
        if 1 <= number <= len(numbered):
            return f"{match.group(1)} [[{numbered[number - 1]}]]"
        return match.group(1)

    text = _LINKED_CITE.sub(named, text)
    text = _BARE_CITE.sub("", text)
    if multi_source and len(cited) == 1:  # "the author" means nothing on a page of two sources
        title = cited[0].removesuffix(" (source)")
        text = re.sub(r"\b([Tt])he (authors?)\b(?!['’])", lambda m: f"{m.group(0)} of {title}", text, count=1)
    return re.sub(r"\s+([.,;:])", r"\1", " ".join(text.split()))


def article_body(concept: Concept, article: dict, numbered: list[str], job: Job, resolver,
                 pages: NameVocabulary) -> tuple[str, list[str]]:
    """The page body, and why paragraphs were replaced by their claims (not grounded);
    `pages`: every page name the resolver knows, as grounding reads them."""
    allowed = job.sources
    # Any page that exists may be linked (the resolver unlinked the rest); grounding
    # judges the words, and the names of this concept and its sources.
    names = {concept.name, concept.page, *concept.aliases, *job.related, *allowed,
             *(name for source in allowed for name in job.bylines.get(source, []))}
    material = [e.text for e in job.evidence]
    drafts, replaced = [], []  # (text or None where not grounded, cited sources)
    for paragraph in article["paragraphs"]:
        cited = [numbered[n - 1] for n in paragraph["sources"]
                 if 1 <= n <= len(numbered) and numbered[n - 1] in allowed]
        cited = list(dict.fromkeys(cited)) or allowed[:1]
        text = resolver.fix(clean_paragraph(paragraph["text"], numbered, len(allowed) > 1, cited))
        if not is_prose(text):
            continue
        reason = ungrounded(text, material, names, pages)
        if reason:
            replaced.append(reason)
        drafts.append((None if reason else text, cited))
    # A paragraph not grounded gives way to the claims it cites that no accepted paragraph
    # (nor an earlier replacement) already carries.
    carried = [carries(t) for t, _ in drafts if t is not None]
    paragraphs = []
    for text, cited in drafts:
        if text is None:
            claims = [e.text.rstrip(".") + "." for e in job.evidence if e.source_page in cited and e.kind == "claim"]
            claims = [c for c in dict.fromkeys(claims) if not any(is_carried(c, words) for words in carried)]
            if not claims:
                continue
            text = " ".join(claims)
            carried.append(carries(text))
        paragraphs.append(text + " (" + ", ".join(f"[[{name}]]" for name in cited) + ")")
    definition = first_sentence(concept.definition, 400)
    lines_by_source: dict[str, list[str]] = {}
    for evidence in job.evidence:
        if evidence.lines and evidence.kind != "definition":
            lines_by_source.setdefault(evidence.source_page, []).append(evidence.lines)
    ranges = {name: line_ranges(cited) for name, cited in lines_by_source.items()}
    source_list = "\n".join(f"- [[{name}]]" + (f": lines {ranges[name]}" if ranges.get(name) else "")
                             for name in sorted(allowed, key=str.casefold))
    body = (f"# {concept.name}\n\n" + (f"*{definition}*\n\n" if definition else "")
            + "\n\n".join(paragraphs) + f"\n\n## Sources\n\n{source_list}\n"
            + (LINES_NOTE if any(ranges.values()) else ""))
    return body, replaced


# Cited lines are numbered from a note's body (what the extract prompt numbers and what
# search reads back); a reader opening raw/ is told so.
LINES_NOTE = "\nLines count from the first line after the note's front matter.\n"
CARRIED = 0.8  # share of a claim's content words a paragraph must hold to say it already


def carries(text: str) -> set[str]:
    return set(content_stems(text))


def is_carried(claim: str, words: set[str]) -> bool:
    stems = content_stems(claim)
    return bool(stems) and sum(s in words for s in stems) >= CARRIED * len(stems)


def check_articles(data: dict) -> str:
    for number, article in enumerate(data["articles"], start=1):
        if not any(is_prose(p["text"]) for p in article["paragraphs"]):
            return (f"article {number} ({article['name'][:40]!r}) has no readable paragraph; "
                    "write plain sentences from the claims")
    return ""


def is_prose(text: str) -> bool:
    """Rejects empty and degenerate text (a model stuck repeating a few tokens)."""
    words = text.split()
    if len(words) < 4:
        return False
    if len(words) >= 12 and len(set(words)) / len(words) < 0.3:
        return False
    return len(zlib.compress(text.encode())) * 8 >= len(text) or len(text) < 200


def numbered_citations(text: str, sources: list[str]) -> str:
    """'... ([[A (source)]], [[B (source)]])' becomes '... [1][2]' for the model to keep."""
    def number(match: re.Match) -> str:
        names = re.findall(r"\[\[([^\]|]+)", match.group(1))
        return " " + "".join(f"[{sources.index(n) + 1}]" for n in names if n in sources)

    return CITATION.sub(number, text)


def article_text(body: str) -> str:
    """The article's prose without its heading, definition, code-built sections and backlinks."""
    text = own_body(body)
    text = re.split(r"\n## (?:Related|Sources)\n", text, maxsplit=1)[0]
    lines = text.strip().split("\n")
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return "\n".join(lines).strip()
