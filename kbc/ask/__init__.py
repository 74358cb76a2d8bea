"""Ask: answer a question from the wiki within a token budget, citing only pages that exist."""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from kbc.llm import LLM, Prompt, Request, Templates
from kbc.llm.prompts import text_of
from kbc.search import gather
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.files import page_name
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import find_links
from kbc.vault.pages import today, write_page

ASK_TEMPLATE = "prompts/ask.j2"
ANSWER_TOKENS = 1024
NOTHING_FOUND = "The wiki holds nothing on this question yet."


@dataclass
class Answer:
    question: str
    text: str
    sources: list[str] = field(default_factory=list)  # pages the answer cites
    read: list[str] = field(default_factory=list)  # pages it was given
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    context_tokens: int = 0
    saved: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def ask(vault: Vault, llm: LLM, templates: Templates, question: str,
        follow_up: bool = False) -> Answer:
    budget = vault.settings.ask_context_tokens
    history = _last_session(vault) if follow_up else None
    stable: tuple = ()
    exclude: set[str] = set()
    if history:
        # The earlier exchange, byte for byte, is the prefix: the engine's cache holds it.
        stable = tuple(history["messages"])
        exclude = set(history["pages"])
        budget -= llm.count_tokens(text_of(list(stable)))
    instructions = templates.prompt(ASK_TEMPLATE, pages=[], question="")
    overhead = llm.count_tokens(instructions.prefix_text() + question) + 50
    pages = gather(vault, question, max(budget - overhead - ANSWER_TOKENS, 0), llm.count_tokens, exclude)
    if not pages and not history:
        return Answer(question, NOTHING_FOUND)
    built = templates.prompt(ASK_TEMPLATE, pages=pages, question=question)
    if history:
        # A follow-up adds only the new pages and the question after the earlier exchange.
        built = Prompt(stable, built.context, built.item, built.version)
    result = llm.complete(Request("ask", built, None, ANSWER_TOKENS, label=f"question {question[:60]!r}"))
    resolver = LinkResolver([p.stem for p in vault.wiki_pages().values()], vault.page_aliases())
    text = resolver.fix(result.text.strip())
    cited = list(dict.fromkeys(link.target for link in find_links(text) if not link.embed))
    all_pages = [p["name"] for p in pages] + (history["pages"] if history else [])
    _save_session(vault, built.messages() + [{"role": "assistant", "content": result.text}], all_pages)
    return Answer(question, text, sources=cited, read=[p["name"] for p in pages],
                  prompt_tokens=result.prompt_tokens, cached_tokens=result.cached_tokens,
                  completion_tokens=result.completion_tokens,
                  context_tokens=sum(llm.count_tokens(p["text"]) for p in pages))


def save_answer(vault: Vault, answer: Answer, model: str, prompt_version: str) -> str:
    """File the answer in wiki/answers/ and bring indexes, links and search up to date."""
    name = page_name(answer.question.rstrip("?"))[:120]
    path = vault.wiki_dir / "answers" / f"{name}.md"
    props = {
        "title": answer.question,
        "kind": "answer",
        "question": answer.question,
        "date": today(),
        "sources": [f"[[{s}]]" for s in answer.sources],
        "tags": ["answer"],
        "kbc_prompt": prompt_version,
        "kbc_model": model,
    }
    write_page(vault, path, props, f"# {answer.question}\n\n{answer.text}\n", "answer", prompt_version, model)
    refresh_wiki(vault)
    return vault.rel(path)


def _last_session(vault: Vault):
    with vault.db_lock:
        rows = list(vault.db.query("select * from ask_sessions order by id desc limit 1"))
    if not rows:
        return None
    return {"messages": json.loads(rows[0]["messages"]), "pages": json.loads(rows[0]["pages"])}


def _save_session(vault: Vault, messages: list[dict], pages: list[str]) -> None:
    with vault.db_lock:
        vault.db["ask_sessions"].insert({
            "created": dt.datetime.now().replace(microsecond=0).isoformat(),
            "messages": json.dumps(messages, ensure_ascii=False),
            "pages": json.dumps(pages, ensure_ascii=False),
        }, pk="id")
