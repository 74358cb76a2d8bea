"""Ask: answer a question from the wiki within a token budget, citing only knowledge pages.

Retrieval is kbc.search.context (the same packs `kbc context` gives agents). Saved answers
and outputs are never evidence: the model sees them only as "see also", and an answer's
sources are the knowledge pages it cites.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kbc.ask.sessions import find_session, latest_session, new_session_id, save_exchange
from kbc.llm import LLM, Prompt, Request, Templates
from kbc.llm.prompts import text_of
from kbc.search.context import Retriever
from kbc.search.pageinfo import PageCache
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.files import page_name
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import find_links, link_key
from kbc.vault.pages import today, write_page

ASK_TEMPLATE = "prompts/ask.j2"
ANSWER_TOKENS = 1024
# A session's budget is for the whole conversation: a first question leaves room for one
# follow-up (its instructions and answer, and a pack of at least this many tokens of new
# evidence, the smallest `kbc context` pack worth reading).
FOLLOW_UP_TOKENS = 1000
NOTHING_FOUND = "The wiki holds nothing on this question yet."


@dataclass
class Answer:
    question: str
    text: str
    sources: list[str] = field(default_factory=list)  # knowledge pages the answer cites
    read: list[str] = field(default_factory=list)  # pages it was given
    see_also: list[str] = field(default_factory=list)  # saved answers shown, not evidence
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    context_tokens: int = 0
    session: str = ""
    saved: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def ask(vault: Vault, llm: LLM, templates: Templates, question: str, follow_up: bool = False,
        session: str | None = None, origin: str = "cli", retriever: Retriever | None = None) -> Answer:
    """`session` continues that conversation; `follow_up` the newest one begun from `origin`."""
    budget = vault.settings.ask_context_tokens
    history = find_session(vault, session) if session else latest_session(vault, origin) if follow_up else None
    stable: tuple = ()
    exclude: set[str] = set()
    if history:
        # The earlier exchange, byte for byte, is the prefix: the engine's cache holds it.
        stable = tuple(history.messages)
        exclude = set(history.pages)
        budget -= llm.count_tokens(text_of(list(stable)))
    session_id = history.id if history else new_session_id()
    instructions = templates.prompt(ASK_TEMPLATE, pages=[], see_also=[], question="")
    overhead = llm.count_tokens(instructions.prefix_text() + question) + 50
    room = max(budget - overhead - ANSWER_TOKENS, 0)
    if not history:
        room = evidence_room(room, overhead)
    retriever = retriever or Retriever(vault)
    # A follow-up is read with the question it follows: "that" in "and how does that compare?"
    earlier = history.questions[-1:] if history else []
    pack = retriever.pack(question, room, llm.count_tokens, exclude, follows=" ".join(earlier))
    if not pack.pages and not history:
        return Answer(question, NOTHING_FOUND, see_also=pack.see_also, session=session_id)
    built = templates.prompt(ASK_TEMPLATE, pages=pack.blocks(), see_also=pack.see_also, question=question)
    if history:
        # A follow-up adds only the new pages and the question after the earlier exchange.
        built = Prompt(stable, built.context, built.item, built.version)
    result = llm.complete(Request("ask", built, None, ANSWER_TOKENS, label=f"question {question[:60]!r}"))
    resolver = LinkResolver([p.stem for p in vault.wiki_pages().values()], vault.page_aliases())
    text = resolver.fix(result.text.strip())
    all_pages = pack.names() + (history.pages if history else [])
    save_exchange(vault, session_id, origin, built.messages() + [{"role": "assistant", "content": result.text}],
                  all_pages, (history.questions if history else []) + [question])
    # Its sources are the pages it was given and cites: a link it copied from a page's text is no evidence read.
    given = {link_key(name) for name in all_pages}
    sources = [name for name in knowledge_links(vault, text) if link_key(name) in given]
    return Answer(question, text, sources=sources, read=pack.names(),
                  see_also=pack.see_also, prompt_tokens=result.prompt_tokens,
                  cached_tokens=result.cached_tokens, completion_tokens=result.completion_tokens,
                  context_tokens=pack.tokens, session=session_id)


def evidence_room(room: int, overhead: int) -> int:
    """Of the `room` a first question could read (its own answer reserved), what leaves a
    follow-up its instructions, its answer and FOLLOW_UP_TOKENS of pages; never under
    FOLLOW_UP_TOKENS, or all of the room when that is smaller."""
    follow_up = overhead + ANSWER_TOKENS + FOLLOW_UP_TOKENS
    return max(room - follow_up, min(room, FOLLOW_UP_TOKENS))


def knowledge_links(vault: Vault, text: str) -> list[str]:
    """The pages a text links that are knowledge (not saved answers or outputs), in order."""
    pages = PageCache(vault)
    pages.refresh()
    found = []
    for link in find_links(text):
        info = None if link.embed else pages.get(link_key(link.target))
        if info is not None and info.evidence and info.name not in found:
            found.append(info.name)
    return found


def save_answer(vault: Vault, answer: Answer, model: str, prompt_version: str) -> str:
    """File the answer in wiki/answers/ and bring indexes, links and search up to date. Its
    sources are the knowledge pages it cites (or, citing none, was given), never an answer."""
    name = page_name(answer.question.rstrip("?"))[:120]
    path = vault.wiki_dir / "answers" / f"{name}.md"
    pages = PageCache(vault)
    pages.refresh()
    used = answer.sources or [n for n in answer.read
                              if (info := pages.get(link_key(n))) and info.evidence]
    props = {
        "title": answer.question,
        "kind": "answer",
        "question": answer.question,
        "date": today(),
        "sources": [f"[[{s}]]" for s in used if link_key(s) != link_key(name)],
        "tags": ["answer"],
        "kbc_prompt": prompt_version,
        "kbc_model": model,
    }
    write_page(vault, path, props, f"# {answer.question}\n\n{answer.text}\n", "answer", prompt_version, model)
    refresh_wiki(vault)
    return vault.rel(path)
