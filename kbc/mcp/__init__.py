"""kbc as any agent's memory: the wiki's tools, served over the Model Context Protocol (stdio).

`WikiTools` is the library (plain methods returning text, usable and testable without MCP);
`serve_stdio` registers them on the official SDK's server. The SDK is imported only here and
only when serving, so other commands start fast.
"""
from __future__ import annotations

import functools
import json
from typing import Callable

from kbc.errors import KbcError
from kbc.vault import Vault

CONTEXT_BUDGET = 4000
LIST_LIMIT = 200
READ_LIMIT = 200_000  # characters of one page or note returned at once

INSTRUCTIONS = """\
This server is a kbc wiki: sources (raw/) compiled into linked concept and source pages (wiki/).
Start with `context` for a question: it returns the pages that matter, whole, with their links,
citations and the cited source lines, in a few thousand tokens, instead of reading files.
`search` finds pages, `read_page` reads one in full, `list_concepts` and `list_sources` show what
the wiki holds. `ask` answers from the wiki with citations (uses the configured model). `ingest`
adds a URL or file to raw/; `compile_status` says whether `kbc compile` has work to do.
Saved answers (kind: answer) are not evidence; cite concept and source pages."""


def _json(data) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True)


class WikiTools:
    def __init__(self, vault: Vault, make_llm: Callable[[], object] | None = None):
        from kbc.search.context import Retriever

        self.vault = vault
        self._make_llm = make_llm
        self._llm = None
        self.retriever = Retriever(vault)

    def search(self, query: str, limit: int = 10) -> str:
        with self.vault.db_lock:
            hits = self.retriever.searcher.search(query, max(1, min(limit, 50)))
        return _json([h.to_dict() for h in hits])

    def read_page(self, name: str) -> str:
        from kbc.vault.linkcheck import LinkResolver
        from kbc.vault.links import link_key

        pages = self.vault.wiki_pages()
        notes = {}
        if self.vault.raw_dir.is_dir():
            notes = {link_key(p.stem): p for p in sorted(self.vault.raw_dir.rglob("*.md"))}
        resolved = LinkResolver([p.stem for p in pages.values()] + [p.stem for p in notes.values()],
                                self.vault.page_aliases()).resolve(name.strip().strip("[]"))
        path = (pages.get(link_key(resolved)) or notes.get(link_key(resolved))) if resolved else None
        if path is None:
            raise KbcError(f"no page or note named {name!r}: use search or list_concepts")
        text = path.read_text(encoding="utf-8", errors="replace")
        more = f"\n\n[cut at {READ_LIMIT:,} of {len(text):,} characters]" if len(text) > READ_LIMIT else ""
        return f"<!-- {self.vault.rel(path)} -->\n" + text[:READ_LIMIT] + more

    def context(self, query: str, budget: int = CONTEXT_BUDGET) -> str:
        from kbc.llm.backends import estimate_tokens
        from kbc.search.context import LINES_FIRST

        with self.vault.db_lock:
            pack = self.retriever.pack(query, max(500, min(budget, 32_000)), estimate_tokens,
                                       lines_first=LINES_FIRST)
        if not pack.pages:
            return "The wiki holds nothing on this yet." + (
                " See also: " + ", ".join(f"[[{n}]]" for n in pack.see_also) if pack.see_also else "")
        return pack.render()

    def ask(self, question: str, session: str = "") -> str:
        from kbc.ask import ask
        from kbc.llm import Templates

        if self._make_llm is None:
            raise KbcError("asking needs a model: configure one in kbc.toml or KBC_BASE_URL")
        if self._llm is None:
            self._llm = self._make_llm()
        answer = ask(self.vault, self._llm, Templates([self.vault.root / "templates"]), question,
                     session=session or None, origin="mcp", retriever=self.retriever)
        cited = ", ".join(f"[[{s}]]" for s in answer.sources) or "none"
        return (f"{answer.text}\n\nSources: {cited}\nSession: {answer.session} "
                "(pass it as `session` for a follow-up)")

    def list_concepts(self, offset: int = 0) -> str:
        return self._list("concept", offset)

    def list_sources(self, offset: int = 0) -> str:
        return self._list("source-summary", offset)

    def _list(self, kind: str, offset: int) -> str:
        from kbc.search.pageinfo import PageCache

        cache = PageCache(self.vault)
        cache.refresh()
        rows = []
        for key in cache.keys():
            info = cache.get(key)
            if info and info.kind == kind:
                row = {"name": info.name, "description": info.description}
                if kind == "source-summary":
                    row["note"] = info.note
                elif info.aliases:
                    row["aliases"] = info.aliases
                rows.append(row)
        offset = max(offset, 0)
        page = rows[offset:offset + LIST_LIMIT]
        more = {"next_offset": offset + LIST_LIMIT} if offset + LIST_LIMIT < len(rows) else {}
        return _json({"total": len(rows), "items": page, **more})

    def ingest(self, source: str) -> str:
        from kbc.ingest import Ingester
        from kbc.search import refresh_index

        results = Ingester(self.vault).ingest_all([source])
        with self.vault.db_lock:
            refresh_index(self.vault, ("raw",))
        failed = [r for r in results if r.status == "failed"]
        if failed and len(failed) == len(results):
            raise KbcError("; ".join(str(r.error) for r in failed))
        return _json({"results": [r.to_dict() for r in results],
                      "next": "run `kbc compile` (see compile_status) to bring it into the wiki"})

    def compile_status(self) -> str:
        from kbc.compile.status import compile_status

        return _json(compile_status(self.vault).to_dict())


TOOLS = {
    "search": "Full-text search of the wiki (BM25, titles and aliases first, typos forgiven). "
              "Returns pages with the matching heading and a snippet.",
    "read_page": "The whole text of one wiki page or raw note, by name or alias (as in [[links]]).",
    "context": "The context pack for a question: the pages that matter, whole, with their links, "
               "citations and cited source lines, within `budget` tokens. Use it instead of reading files.",
    "ask": "Answer a question from the wiki with [[citations]] (uses the vault's model). Pass the "
           "session id it returns to ask a follow-up.",
    "list_concepts": "The wiki's concept pages with their one-line descriptions (200 at a time).",
    "list_sources": "The wiki's source pages and the raw notes they summarise (200 at a time).",
    "ingest": "Add a URL or a local file (web page, PDF, image, note, dataset) to raw/. "
              "Compile afterwards to bring it into the wiki.",
    "compile_status": "Sources new, changed or removed since the last compile, and pages by kind.",
}


def build_server(tools: WikiTools):
    """The MCP server with each WikiTools method as a tool; kbc errors become tool errors."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("kbc", instructions=INSTRUCTIONS)

    def guarded(method):
        @functools.wraps(method)  # the SDK reads the tool's parameters from the signature
        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except KbcError as exc:
                raise ToolError(str(exc)) from None

        return call

    for name, description in TOOLS.items():
        server.add_tool(guarded(getattr(tools, name)), name=name, description=description,
                        structured_output=False)
    return server


def serve_stdio(vault: Vault, make_llm: Callable[[], object] | None = None) -> None:
    build_server(WikiTools(vault, make_llm)).run("stdio")
