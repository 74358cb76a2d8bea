"""kbc serve: the wiki in a browser, with search, ask and the token ledger. Read-only but for
`ask`; every byte of page content is escaped; nothing outside the vault can be read."""
from __future__ import annotations

import html
import json
import os
import threading
import time
import traceback
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, unquote, urlparse

import jinja2

from kbc.errors import KbcError
from kbc.llm.ledger import usage_by_stage
from kbc.llm.prompts import package_template_dir
from kbc.search import Searcher
from kbc.serve.graph import build_graph, graph_page
from kbc.serve.render import heading_id, renderer
from kbc.serve.security import (PAGE_CSP, SOCKET_TIMEOUT, Guard, Refused, file_headers, read_json_body,
                                static_file)
from kbc.vault import Vault
from kbc.vault.bookkeeping import is_navigation
from kbc.vault.frontmatter import FrontMatterError, split
from kbc.vault.link_graph import inbound_lists, load_graph, wiki_stamp
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import WIKILINK, is_file_link, link_key
from kbc.vault.page_index import PageRecord, page_record
from kbc.vault.pages import own_body

SERVABLE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
            ".webp": "image/webp", ".svg": "image/svg+xml", ".pdf": "application/pdf"}
ASK_INTERVAL = 2.0  # seconds between two questions: each one costs tokens
MARK_START, MARK_END = "\x02", "\x03"


FULL_CHECK = 2.0  # seconds between checks for pages edited in place


def folder_stamp(folder: Path) -> tuple:
    """(folder, mtime) of the wiki folder and every folder under it."""
    stamp = []
    for current, _, _ in os.walk(folder):  # lists entries without a stat per file
        try:
            stamp.append((current, os.stat(current).st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(stamp))


@dataclass
class Site:
    vault: Vault
    # question -> kbc.ask.Answer; called with session= for a follow-up in that conversation
    ask: Callable[..., object] | None = None

    def __post_init__(self):
        self.guard: Guard | None = None  # set by make_server: it knows the address
        folders = [self.vault.root / "templates", package_template_dir()]
        self.pages_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders if f.is_dir()]),
            autoescape=True, undefined=jinja2.StrictUndefined)
        self.searcher = Searcher(self.vault)
        self._lock = threading.Lock()
        self._last_ask = 0.0
        self._graph_stamp = None
        self._graph: dict[str, list[str]] = {}
        self._files: dict[str, Path] | None = None  # file name -> file: read at the first file link
        self._pages: dict[str, Path] = {}
        self._indexes: list[str] = []  # the index pages' names, for every page's navigation
        self._folders: tuple = ()
        self._checked = 0.0

    # -- link graph and file names, rebuilt when the wiki changes ----------------------------

    def _refresh(self) -> None:
        # A page made, renamed or removed (kbc writes by rename) changes its folder's mtime:
        # those few stats are cheap per request. A page edited in place changes no folder, so
        # every file is stat'ed too, but at most every FULL_CHECK seconds.
        now = time.monotonic()
        if self._folders and now - self._checked < FULL_CHECK and self._same_folders():
            return
        self._folders, self._checked = folder_stamp(self.vault.wiki_dir), now
        pages = self.vault.wiki_pages()
        stamp = wiki_stamp(self.vault, pages)
        if stamp == self._graph_stamp:
            return
        self._pages = pages
        self._indexes = sorted((p.stem for p in pages.values() if p.stem == "index" or p.stem.startswith("Index of ")),
                               key=str.casefold)
        saved = load_graph(self.vault, stamp)  # as the last compile left the wiki: nothing to read
        if saved:
            resolver = LinkResolver(self.vault.note_names(pages), saved.aliases)
            self._graph = saved.inbound
        else:
            records = self._read(self.vault, pages)  # for its aliases and its links
            aliases = self.vault.page_aliases({name: record.props for name, record in records.items()})
            resolver = LinkResolver(self.vault.note_names(pages), aliases)
            self._graph = inbound_lists(self._inbound(records, resolver))
        self._resolver = resolver
        self._files = None
        self._graph_stamp = stamp

    def _same_folders(self) -> bool:
        """The folders known are as they were (a stat each: a new folder changes its parent's
        mtime), without listing every page as a walk of the wiki does."""
        try:
            return all(os.stat(folder).st_mtime_ns == mtime for folder, mtime in self._folders)
        except OSError:
            return False

    @staticmethod
    def _read(vault: Vault, pages: dict[str, Path]) -> dict[str, PageRecord]:
        """Page name -> the record of every page that can be read, from the page index: only
        pages changed since kbc last read them are read (a person's edit voids the saved graph)."""
        records = {}
        for path in pages.values():
            record = page_record(vault, path)
            if record is not None and record.readable:  # None: removed meanwhile
                records[path.stem] = record
        return records

    @staticmethod
    def _inbound(records: dict[str, PageRecord], resolver: LinkResolver) -> dict[str, set[str]]:
        inbound: dict[str, set[str]] = {}
        reached: dict[str, str] = {}  # a link as written -> the key of the page it reaches ('' none)
        for name, record in records.items():
            if is_navigation(name):
                continue
            own = link_key(name)
            for link in set(record.links):  # those of its own body, its backlinks aside
                key = reached.get(link)
                if key is None:
                    target = WIKILINK.match(link)["target"].strip()
                    resolved = resolver.resolve(target) if target else None
                    key = reached[link] = link_key(resolved) if resolved else ""
                if key and key != own:
                    inbound.setdefault(key, set()).add(name)
        return inbound

    def _inside(self, path: Path) -> bool:
        try:
            rel = path.resolve().relative_to(self.vault.root)
        except ValueError:
            return False
        return not any(part.startswith(".") for part in rel.parts)

    # -- rendering --------------------------------------------------------------------------

    def markdown(self, text: str) -> str:
        return renderer(self._render_link).render(text)

    def _render_link(self, meta: dict) -> str:
        target, shown = meta["target"], meta["shown"]
        if is_file_link(target):
            if self._files is None:
                self._files = {p.name.casefold(): p for p in self.vault.root.rglob("*")
                               if p.suffix.lower() in SERVABLE and self._inside(p)}
            found = self._files.get(target.rsplit("/", 1)[-1].casefold())
            if found is None:
                return f'<span class="missing">{html.escape(target)}</span>'
            url = "/file/" + quote(self.vault.rel(found))
            if meta["embed"] and found.suffix.lower() != ".pdf":
                width = f' width="{int(shown)}"' if shown.isdigit() else ""
                return f'<img src="{url}" alt="{html.escape(found.name)}"{width}>'
            return f'<a href="{url}">{html.escape(shown or found.name)}</a>'
        resolved = self._resolver.resolve(target) if target else None
        label = html.escape(shown or target or meta["anchor"])
        if not target and meta["anchor"]:  # [[#Heading]]: a heading of this page
            return f'<a class="wikilink" href="#{quote(heading_id(meta["anchor"]))}">{label}</a>'
        if resolved is None:
            return f'<a class="missing" title="no such page">{label}</a>'
        anchor = f"#{quote(heading_id(meta['anchor']))}" if meta["anchor"] else ""
        return f'<a class="wikilink" href="/page/{quote(resolved)}{anchor}">{label}</a>'

    def layout(self, title: str, content: str, backlinks: list[str] | None = None) -> str:
        indexes = self._indexes
        return self.pages_env.get_template("pages/layout.html.j2").render(
            title=title, content=jinja2.utils.markupsafe.Markup(content), indexes=indexes,
            backlinks=backlinks, token=self.guard.token if self.guard else "")

    def page(self, name: str) -> tuple[int, str]:
        with self.vault.db_lock:
            self._refresh()
        path = self._pages.get(link_key(name))
        if path is None:
            return 404, self.error_page(404, f"No page named {name!r}.")
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:  # removed or replaced by a compile at this very moment
            return 404, self.error_page(404, f"No page named {name!r}.")
        try:
            props, body = split(text)
        except FrontMatterError as exc:
            props, body = {"front matter": str(exc)}, text
        rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_prop(v))}</td></tr>"
                       for k, v in props.items() if not str(k).startswith("kbc_hash"))
        table = f'<table class="props">{rows}</table>' if rows else ""
        content = table + self.markdown(own_body(body))
        return 200, self.layout(str(props.get("title") or path.stem), content,
                                self._graph.get(link_key(path.stem), []))

    def graph(self) -> dict:
        with self.vault.db_lock:
            self._refresh()
            return build_graph(self._pages, self._graph)

    def error_page(self, status: int, message: str) -> str:
        return self.layout(f"Error {status}", f"<h1>Error {status}</h1><p>{html.escape(message)}</p>")

    def search_json(self, query: str) -> list[dict]:
        if not query.strip():
            return []
        with self.vault.db_lock:  # one SQLite connection serves every request thread
            hits = self.searcher.search(query, limit=10, marks=(MARK_START, MARK_END))
        return [{**hit.to_dict(), "snippet": hit.snippet.replace(MARK_START, "").replace(MARK_END, ""),
                 "snippet_html": html.escape(hit.snippet).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")}
                for hit in hits]

    def ask_page(self) -> str:
        return self.layout("Ask", self.pages_env.get_template("pages/ask.html.j2").render())

    def answer(self, question: str, session: str = "") -> tuple[int, dict]:
        if self.ask is None:
            return 503, {"error": "asking is not available: no model configured"}
        if not question.strip():
            return 400, {"error": "the question is empty"}
        with self._lock:
            wait = ASK_INTERVAL - (time.monotonic() - self._last_ask)
            if wait > 0:
                return 429, {"error": f"one question at a time: try again in {wait:.1f} s"}
            self._last_ask = time.monotonic()
        try:
            question = question.strip()[:2000]
            answer = self.ask(question, session=session[:40]) if session else self.ask(question)
        except KbcError as exc:
            return 502, {"error": str(exc)}
        with self.vault.db_lock:
            self._refresh()
        return 200, {**answer.to_dict(), "html": self.markdown(answer.text)}

    def stats_page(self) -> str:
        with self.vault.db_lock:
            return self._stats_page()

    def _stats_page(self) -> str:
        usage = usage_by_stage(self.vault.db)
        rows = list(usage["stages"].items()) + [("total", usage["total"])]
        table = "<table><tr><th>stage</th><th>requests</th><th>from cache</th><th>prompt</th><th>cached</th>" \
                "<th>hit rate</th><th>completion</th><th>cost $</th></tr>"
        for stage, row in rows:
            table += (f"<tr><td>{html.escape(stage)}</td><td>{row['requests']}</td><td>{row['cache_hits']}</td>"
                      f"<td>{row['prompt_tokens']:,}</td><td>{row['cached_tokens']:,}</td>"
                      f"<td>{row['cache_hit_rate']:.1%}</td><td>{row['completion_tokens']:,}</td>"
                      f"<td>{row['cost']:.4f}</td></tr>")
        table += "</table>"
        # By day; by hour while the ledger spans two days or less.
        spread = self.vault.db.execute("select count(distinct substr(time, 1, 10)) from requests").fetchone()[0]
        width = 13 if spread <= 2 else 10
        periods = list(self.vault.db.query(
            f"select substr(time, 1, {width}) as day, sum(prompt_tokens) as prompt, sum(cached_tokens) as cached, "
            "sum(completion_tokens) as completion from requests group by day order by day"))
        return self.layout("Stats", f"<h1>Tokens</h1>{table}<h2>Over time</h2>{_svg_chart(periods)}")

    def file(self, rel: str) -> tuple[int, bytes, str]:
        """A file of the vault by its path; anything outside it, hidden, or not a servable
        type is not found (the same answer, so nothing about the disk leaks)."""
        candidate = (self.vault.root / rel).resolve()
        if not self._inside(candidate) or candidate.suffix.lower() not in SERVABLE or not candidate.is_file():
            return 404, b"", ""
        return 200, candidate.read_bytes(), SERVABLE[candidate.suffix.lower()]


def _prop(value) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _svg_chart(days: list[dict]) -> str:
    """Prompt (cached part shaded) and completion tokens per period, as an inline SVG."""
    if not days:
        return "<p>No requests yet.</p>"
    width, height, gap = 640, 200, 4
    top = max(d["prompt"] + d["completion"] for d in days) or 1
    bar = min(max((width - gap * len(days)) / len(days), 2), 48)
    parts = [f'<svg id="usage-chart" width="{width}" height="{height + 30}" role="img" aria-label="tokens per day">']
    for i, d in enumerate(days):
        x = i * (bar + gap)
        total = (d["prompt"] + d["completion"]) / top * height
        cached = d["cached"] / top * height
        parts.append(f'<rect x="{x:.1f}" y="{height - total:.1f}" width="{bar:.1f}" height="{total:.1f}" fill="#9db4dc"/>')
        parts.append(f'<rect x="{x:.1f}" y="{height - cached:.1f}" width="{bar:.1f}" height="{cached:.1f}" fill="#2456a6"/>')
        label = d["day"][5:].replace("T", " ") + (":00" if "T" in d["day"] else "")
        parts.append(f'<text x="{x:.1f}" y="{height + 15}" font-size="10">{html.escape(label)}</text>')
    parts.append("</svg><p class=\"tokens\">Dark: cached prompt tokens; light: the rest.</p>")
    return "".join(parts)


class Handler(BaseHTTPRequestHandler):
    site: Site

    def log_message(self, *args):
        pass

    timeout = SOCKET_TIMEOUT  # a client that announces more body than it sends frees its thread

    def _send(self, status: int, body: bytes | str, content_type: str = "text/html; charset=utf-8",
              headers: dict | None = None):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in ({"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY"}
                            | (headers or {})).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, data) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False), "application/json; charset=utf-8")

    def do_GET(self):
        self._guarded(self._get)

    def do_POST(self):
        self._guarded(self._post)

    def _guarded(self, handler):
        try:
            if self.site.guard:
                self.site.guard.check_host(self.headers.get("Host"))
            handler()
        except Refused as refused:
            self._json(refused.status, {"error": str(refused)})
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client went quiet or away: nothing to answer
        except Exception:  # a bug must show as an error page, never a traceback in the browser
            traceback.print_exc()
            self._send(500, self.site.error_page(500, "Something went wrong on the server."))

    def _get(self):
        url = urlparse(self.path)
        path = unquote(url.path)
        site = self.site
        if path in ("/", "/index"):
            status, body = site.page("index")
            if status == 404:
                status, body = 200, site.layout("kbc", "<h1>kbc</h1><p>No wiki yet: run <code>kbc compile</code>.</p>")
            self._send(status, body)
        elif path.startswith("/page/"):
            self._send(*site.page(path[len("/page/"):]))
        elif path.startswith("/file/"):
            status, data, kind = site.file(path[len("/file/"):])
            if status == 200:
                self._send(200, data, kind, file_headers(Path(path).suffix, Path(path).name))
            else:
                self._send(404, site.error_page(404, "No such file."))
        elif path.startswith("/static/") and static_file(path[len("/static/"):]):
            self._send(200, *static_file(path[len("/static/"):]))
        elif path == "/api/search":
            self._json(200, site.search_json(parse_qs(url.query).get("q", [""])[0]))
        elif path == "/ask":
            self._send(200, site.ask_page())
        elif path == "/stats":
            self._send(200, site.stats_page())
        elif path == "/graph":
            self._send(200, site.layout("Graph", graph_page(site.graph())))
        elif path == "/api/graph":
            self._json(200, site.graph())
        else:
            self._send(404, site.error_page(404, "No such page."))

    def _post(self):
        if urlparse(self.path).path != "/api/ask":
            self._send(404, self.site.error_page(404, "No such page."))
            return
        if self.site.guard:
            self.site.guard.check_ask(self.headers)
        payload = read_json_body(self.headers, self.rfile)
        question, session = str(payload.get("question", "")), str(payload.get("session") or "")
        self._json(*self.site.answer(question, session))


def make_server(site: Site, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    handler = type("SiteHandler", (Handler,), {"site": site})
    server = ThreadingHTTPServer((host, port), handler)
    site.guard = Guard(host, server.server_port)
    server.daemon_threads = True
    return server

