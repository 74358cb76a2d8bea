"""The research report as a wiki page: the model's report (or, without one, the notes), every
paragraph citing the pages read, then the plan and each step with its tokens."""
from __future__ import annotations

from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.files import page_name
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import link_key
from kbc.vault.pages import today, write_page


def _cite(pages: list[str]) -> str:
    return " (" + ", ".join(f"[[{p}]]" for p in pages) + ")" if pages else ""


def report_body(vault: Vault, work) -> tuple[str, list[str]]:
    """(Markdown body, pages cited). Citations are limited to pages the notes cite."""
    noted = {link_key(p): p for note in work.notes for p in note.pages}
    resolver = LinkResolver([p.stem for p in vault.wiki_pages().values()], vault.page_aliases())
    used: list[str] = []
    parts = []
    if work.report:
        parts.append(f"# {' '.join(work.report['title'].split()) or work.question}")
        for section in work.report["sections"]:
            paragraphs = []
            for paragraph in section["paragraphs"]:
                cited = list(dict.fromkeys(noted[link_key(n)] for n in paragraph["pages"] if link_key(n) in noted))
                text = resolver.fix(" ".join(paragraph["text"].split()))
                if text:
                    used += cited
                    paragraphs.append(text + _cite(cited))
            if paragraphs:
                parts.append(f"## {' '.join(section['heading'].split())}\n\n" + "\n\n".join(paragraphs))
    else:
        parts.append(f"# {work.question}")
        for number, sub in enumerate(work.sub_questions, start=1):
            notes = [n for n in work.notes if n.sub_question == number]
            if notes:
                used += [p for n in notes for p in n.pages]
                parts.append(f"## {sub}\n\n" + "\n".join(f"- {resolver.fix(n.text)}{_cite(n.pages)}" for n in notes))
    if work.missing:
        parts.append("## Not answered by the wiki\n\n" + "\n".join(f"- {m}" for m in work.missing))
    if work.fetch:
        parts.append("## Sources worth adding\n\nSuggested, not fetched; add one with `kbc ingest URL`:\n\n"
                     + "\n".join(f"- {url}" for url in work.fetch))
    sources = list(dict.fromkeys(used)) or list(noted.values())
    parts.append("## Sources\n\n" + "\n".join(f"- [[{s}]]" for s in sources))
    parts.append(_research_log(work))
    return "\n\n".join(parts) + "\n", sources


def _research_log(work) -> str:
    lines = ["## Research log", "", "Plan:", ""]
    lines += [f"{n}. {sub}" for n, sub in enumerate(work.sub_questions, start=1)]
    lines += ["", "| step | searches | pages read | prompt | cached | completion |", "|---|---|---|---|---|---|"]
    for step in work.steps:
        searches = "; ".join(step.queries).replace("|", "/")
        lines.append(f"| {step.kind} | {searches} | {len(step.pages)} | {step.prompt_tokens:,} | "
                     f"{step.cached_tokens:,} | {step.completion_tokens:,} |")
    lines += ["", f"Total {work.tokens:,} tokens of a {work.budget:,} budget (ledger run `{work.run_id}`). "
              f"Stopped reading: {work.stopped or 'done'}."]
    return "\n".join(lines)


def file_report(vault: Vault, work, model: str, prompt_version: str) -> str:
    body, sources = report_body(vault, work)
    name = page_name(f"{work.question.rstrip('?')} (research)")[:150]
    path = vault.wiki_dir / "outputs" / f"{name}.md"
    props = {"title": f"{work.question} (research)", "kind": "report", "question": work.question,
             "sources": [f"[[{s}]]" for s in sources], "created": today(), "tags": ["research"],
             "kbc_prompt": prompt_version, "kbc_model": model}
    write_page(vault, path, props, body, "report", prompt_version, model)
    refresh_wiki(vault)
    return vault.rel(path)
