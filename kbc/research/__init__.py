"""Research: a multi-step agent over the wiki within a token budget.

Plan sub-questions (one request), then rounds of: retrieve for the open queries with the same
retrieval as `kbc ask` (pages already read are not read again), read the new pages into short
cited notes, decide what is missing (one request per round); stop when the notes answer the
question, nothing new is found, or the next round would not leave room for the report; then
write a cited report (one request) filed into wiki/outputs/. Every request is a ledger row of
stage `research`; the report lists each step with its tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from kbc.llm import LLM, BudgetExceeded, EndpointUnavailable, ItemFailed, Request, Templates
from kbc.llm.backends import BackendError
from kbc.llm.prompts import text_of
from kbc.llm.schema import BOOLEAN, INTEGER, TEXT, array, obj
from kbc.search import Searcher
from kbc.search.context import STOPWORDS, Retriever
from kbc.vault import Vault
from kbc.vault.bookkeeping import is_navigation
from kbc.vault.links import link_key

PLAN_TEMPLATE = "prompts/research_plan.j2"
READ_TEMPLATE = "prompts/research_read.j2"
WRITE_TEMPLATE = "prompts/research_write.j2"
DEFAULT_BUDGET = 40_000  # tokens, when neither --budget nor kbc.toml sets one
MAX_ROUNDS = 4
MAX_QUERIES = 4  # searches per round
QUERY_TOKENS = 1800  # pages one narrower search may add to a round
CATALOGUE_TOKENS = 1500  # page names the planner sees
RAW_HITS = 2  # source notes a narrower search reads lines of
RAW_TOKENS = 400  # and at most this much of each
PLAN_TOKENS, READ_TOKENS, WRITE_TOKENS = 500, 1200, 2500  # answer room per request, at most
READ_MIN, WRITE_MIN = 300, 600  # the least answer room worth asking for

PLAN_SCHEMA = obj("research_plan", sub_questions=array(obj(question=TEXT, query=TEXT), 1, 5))
READ_SCHEMA = obj("research_step", findings=array(obj(sub_question=INTEGER, text=TEXT, pages=array(TEXT)),
                                                  max_items=12),
                  missing=array(INTEGER), queries=array(TEXT, max_items=3), enough=BOOLEAN,
                  fetch=array(TEXT, max_items=3))
_WORD = re.compile(r"\w+")
WRITE_SCHEMA = obj("research_report", title=TEXT, sections=array(obj(
    heading=TEXT, paragraphs=array(obj(text=TEXT, pages=array(TEXT)), 1, 6)), 1, 8))


@dataclass
class Note:
    sub_question: int
    text: str
    pages: list[str]


@dataclass
class Step:
    kind: str  # plan, read, write
    queries: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)  # pages read in this step
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    note: str = ""  # why it ended, or what went wrong


@dataclass
class Research:
    question: str
    budget: int
    sub_questions: list[str] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    read: list[str] = field(default_factory=list)  # every page read, in order
    missing: list[str] = field(default_factory=list)
    fetch: list[str] = field(default_factory=list)  # sources the model suggests adding
    report: dict | None = None  # {"title", "sections"} from the model, or None (notes only)
    stopped: str = ""  # why reading stopped
    page: str = ""  # the report filed in wiki/outputs/
    run_id: str = ""

    @property
    def tokens(self) -> int:
        return sum(s.prompt_tokens + s.completion_tokens for s in self.steps)

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["notes"] = [n.__dict__ for n in self.notes]
        data["steps"] = [s.__dict__ for s in self.steps]
        data["tokens"] = self.tokens
        return data


class Researcher:
    def __init__(self, vault: Vault, llm: LLM, templates: Templates, budget: int = 0):
        self.vault, self.llm, self.templates = vault, llm, templates
        self.budget = budget or vault.settings.budget or DEFAULT_BUDGET
        self.retriever = Retriever(vault)
        self._seen: set[str] = set()  # lines already given to the model: never sent twice
        self._kinds: dict[str, str] = {}
        self.raw_search = Searcher(vault, "raw")

    def run(self, question: str, on_step=None) -> Research:
        """on_step(step) is called after each request, for progress."""
        work = Research(question, self.budget, run_id=self.llm.run_id)
        self.on_step = on_step or (lambda step: None)
        try:
            queries = self._plan(work)
            for number in range(1, MAX_ROUNDS + 1):
                if not queries:
                    work.stopped = "no open questions left"
                    break
                pages = self._retrieve(work, queries)
                if not pages:
                    work.steps[-1].note = "nothing new found"
                    work.stopped = "the wiki has nothing more on the open questions"
                    break
                request = self._read_request(work, pages)
                if request is None:
                    work.steps.pop()  # retrieved, never read
                    work.stopped = f"round {number} would not leave room for the report within the budget"
                    break
                queries = self._read(work, request, pages)
                if queries is None:
                    work.stopped = "the notes answer the question"
                    break
            else:
                work.stopped = f"{MAX_ROUNDS} rounds read"
            self._write(work)
        except (BudgetExceeded, EndpointUnavailable) as exc:
            work.stopped = str(exc)
        return work

    # -- the steps --------------------------------------------------------------------------

    def _plan(self, work: Research) -> list[str]:
        names, size = [], 0
        for path in sorted(self.vault.wiki_pages().values(), key=lambda p: p.stem.casefold()):
            if is_navigation(path.stem) or path.parent.name in ("outputs", "answers", "proposals"):
                continue
            size += self.llm.count_tokens(path.stem) + 1
            if size > CATALOGUE_TOKENS:
                break
            names.append(path.stem)
        prompt = self.templates.prompt(PLAN_TEMPLATE, page_names=names, question=work.question)
        step, plan = Step("plan"), []
        cost = self.llm.count_tokens(text_of(prompt.messages())) + PLAN_TOKENS
        if self._room() - cost < 2 * QUERY_TOKENS + READ_MIN + WRITE_MIN:
            step.note = "skipped: the budget leaves room for one round only"
        else:
            try:
                result = self._complete(Request("research", prompt, PLAN_SCHEMA, PLAN_TOKENS,
                                                label=f"research plan {work.question[:50]!r}"), step)
                plan = [s for s in result.data["sub_questions"] if s["question"].strip()]
            except (ItemFailed, BackendError) as exc:  # without a plan, the question is its own plan
                step.note = str(exc)
        work.steps.append(step)
        self.on_step(step)
        plan = plan or [{"question": work.question, "query": work.question}]
        work.sub_questions = [" ".join(s["question"].split()) for s in plan]
        # The whole question is searched too: its own words find the pages that join the parts.
        return list(dict.fromkeys([work.question] + [s["query"].strip() or s["question"] for s in plan]))

    def _retrieve(self, work: Research, queries: list[str]) -> list[dict]:
        pages, read = [], set(work.read)
        queries = queries[:MAX_QUERIES]
        # What the budget leaves for pages after this round's answer, the notes and the report.
        notes = sum(self.llm.count_tokens(n.text) + 20 for n in work.notes)
        spare = self._room() - READ_TOKENS - 1000 - notes - READ_TOKENS // 2 - WRITE_MIN
        for query in queries:
            # The question itself is read as `kbc ask` reads it; the narrower searches add to that.
            room = self.vault.settings.ask_context_tokens if query == work.question else QUERY_TOKENS
            room = min(room, spare // len(queries))
            if room < 200:
                continue
            # Source pages may come again: a narrower search brings other lines of their sources.
            done = {name for name in read if self._kinds.get(name) != "source-summary"}
            pack = self.retriever.pack(query, room, self.llm.count_tokens, exclude=done)
            for page in pack.pages:
                self._kinds[page.name] = page.kind
                lines = []
                for line in page.block().split("\n"):
                    if not line.strip() or line.strip() not in self._seen:
                        lines.append(line)
                        self._seen.add(line.strip())
                if any(line.strip() for line in lines):
                    read.add(page.name)
                    _add_block(pages, page.name, "\n".join(lines).strip())
        # A narrower search also reads the source notes themselves: lines the pages left out,
        # in what the budget still spares after the pages.
        left = spare - sum(self.llm.count_tokens(p["text"]) + 12 for p in pages)
        for query in queries:
            if query != work.question and left >= RAW_TOKENS:
                left -= self._add_source_lines(query, read, pages, left)
        work.steps.append(Step("read", queries=queries, pages=list(dict.fromkeys(p["name"] for p in pages))))
        return pages

    def _add_source_lines(self, query: str, read: set[str], pages: list[dict], room: int) -> int:
        """The lines of the best-matching source notes that name the query's words; returns
        the tokens they take."""
        terms = set(_WORD.findall(query.casefold())) - STOPWORDS
        spent = 0
        for hit in self.raw_search.search(query, limit=RAW_HITS):
            if spent + RAW_TOKENS > room:
                break
            paragraphs = [p for p in self.raw_search.section(hit).split("\n") if p.strip() not in self._seen]
            ranked = sorted(paragraphs, key=lambda p: -len(terms & set(_WORD.findall(p.casefold()))))
            kept, size = [], 0
            for paragraph in ranked:
                cost = self.llm.count_tokens(paragraph)
                if not terms & set(_WORD.findall(paragraph.casefold())) or size + cost > RAW_TOKENS:
                    break
                kept.append(paragraph)
                size += cost
            if kept:
                self._seen.update(p.strip() for p in kept)
                name = hit.page  # the raw note: a page Obsidian links like any other
                read.add(name)
                _add_block(pages, name, "\n".join(p for p in paragraphs if p in kept))
                spent += size + 12
        return spent

    def _room(self) -> int:
        return self.budget - self.llm.totals.tokens

    def _read_request(self, work: Research, pages: list[dict]) -> Request | None:
        """This round's request, its answer room cut to what the budget leaves after keeping
        enough for the report (which reads the notes, not the pages); None if too little."""
        prompt = self.templates.prompt(READ_TEMPLATE, question=work.question, sub_questions=work.sub_questions,
                                       notes=work.notes, pages=pages)
        notes = sum(self.llm.count_tokens(n.text) + 20 for n in work.notes)
        report = 400 + notes + READ_TOKENS // 2 + WRITE_MIN  # with the notes this round may add
        room = self._room() - self.llm.count_tokens(text_of(prompt.messages())) - report
        if room < READ_MIN:
            return None
        return Request("research", prompt, READ_SCHEMA, min(READ_TOKENS, room),
                       label=f"research read {work.question[:50]!r}")

    def _read(self, work: Research, request: Request, pages: list[dict]) -> list[str] | None:
        """Notes from the new pages; the next queries, or None when the question is answered."""
        step = work.steps[-1]
        work.read += [name for name in step.pages if name not in work.read]
        try:
            data = self._complete(request, step).data
        except (ItemFailed, BackendError) as exc:
            step.note = str(exc)
            self.on_step(step)
            return []
        given = {link_key(p["name"]): p["name"] for p in pages} | {link_key(n): n for n in work.read}
        for finding in data["findings"]:
            cited = list(dict.fromkeys(given[link_key(n)] for n in finding["pages"] if link_key(n) in given))
            text = " ".join(finding["text"].split())
            # A finding must name a page that was read: the report cites only what was read.
            if cited and text and 1 <= finding["sub_question"] <= len(work.sub_questions):
                work.notes.append(Note(finding["sub_question"], text, cited))
        work.missing = [work.sub_questions[n - 1] for n in dict.fromkeys(data["missing"])
                        if 1 <= n <= len(work.sub_questions)]
        work.fetch = list(dict.fromkeys(work.fetch + [u.strip() for u in data["fetch"]
                                                      if u.strip().startswith(("http://", "https://"))]))
        self.on_step(step)
        if data["enough"] and work.notes:
            return None
        queries = [q.strip() for q in data["queries"] if q.strip()]
        return queries or work.missing

    def _write(self, work: Research) -> None:
        step = Step("write")
        work.steps.append(step)
        if not work.notes:
            step.note = "no notes: nothing to write from"
            return
        prompt = self.templates.prompt(WRITE_TEMPLATE, question=work.question, sub_questions=work.sub_questions,
                                       notes=work.notes, missing=work.missing)
        room = self._room() - self.llm.count_tokens(text_of(prompt.messages())) - 16
        if room < WRITE_MIN // 2:
            step.note = "no room left in the budget; the report is the notes themselves"
            return
        try:
            work.report = self._complete(Request("research", prompt, WRITE_SCHEMA, min(WRITE_TOKENS, room),
                                                 label=f"research report {work.question[:50]!r}"), step).data
        except (ItemFailed, BackendError, BudgetExceeded) as exc:
            step.note = f"{exc}; the report is the notes themselves"
        self.on_step(step)

    def _complete(self, request: Request, step: Step):
        result = self.llm.complete(request)
        step.prompt_tokens += result.prompt_tokens
        step.cached_tokens += result.cached_tokens
        step.completion_tokens += result.completion_tokens
        return result


def _add_block(pages: list[dict], name: str, text: str) -> None:
    """One block per page in a round: more lines of a page already given join its block."""
    for page in pages:
        if page["name"] == name:
            page["text"] += "\n\n" + text
            return
    pages.append({"name": name, "text": text})


def research(vault: Vault, llm: LLM, templates: Templates, question: str, budget: int = 0,
             on_step=None) -> Research:
    """Research QUESTION and file the report in wiki/outputs/."""
    from kbc.research.report import file_report

    work = Researcher(vault, llm, templates, budget).run(question, on_step)
    if work.notes:
        work.page = file_report(vault, work, llm.model, templates.version(WRITE_TEMPLATE))
    return work
