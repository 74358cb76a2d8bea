"""Outputs filed back into the wiki: Marp slide decks, charts drawn by our own code, reports."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from kbc.errors import KbcError
from kbc.llm import LLM, Request, Templates
from kbc.llm.schema import BOOLEAN, NUMBER, TEXT, array, obj
from kbc.search.context import gather
from kbc.vault import Vault
from kbc.vault.bookkeeping import refresh_wiki
from kbc.vault.files import page_name
from kbc.vault.linkcheck import LinkResolver
from kbc.vault.links import WIKILINK, link_key
from kbc.vault.pages import read_page, today, write_page

SLIDES_TEMPLATE = "prompts/slides.j2"
CHART_TEMPLATE = "prompts/chart.j2"
REPORT_TEMPLATE = "prompts/report.j2"
CONTEXT_TOKENS = 6000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg")

SLIDES_SCHEMA = obj(
    "slide_deck", title=TEXT,
    slides=array(obj(title=TEXT, bullets=array(TEXT, max_items=6), image=TEXT), 3, 13))
CHART_SCHEMA = obj(
    "chart_data", found=BOOLEAN, chart_type={"type": "string", "enum": ["bar", "line", "scatter", "pie"]},
    title=TEXT, x_label=TEXT, y_label=TEXT,
    series=array(obj(name=TEXT, unit=TEXT, points=array(obj(label=TEXT, value=NUMBER, page=TEXT), max_items=40)),
                 max_items=6))
REPORT_SCHEMA = obj(
    "report", title=TEXT,
    sections=array(obj(heading=TEXT, paragraphs=array(obj(text=TEXT, pages=array(TEXT)), max_items=6)), 1, 10))


class NoData(KbcError):
    """The wiki holds nothing to build this output from."""


@dataclass
class Output:
    kind: str
    page: str  # path of the note, relative to the vault
    files: list[str] = field(default_factory=list)  # other files written (images, renders)
    sources: list[str] = field(default_factory=list)
    tokens: int = 0
    from_cache: bool = False

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class OutputMaker:
    def __init__(self, vault: Vault, llm: LLM, templates: Templates):
        self.vault, self.llm, self.templates = vault, llm, templates
        self.folder = vault.wiki_dir / "outputs"

    def _context(self, topic: str) -> list[dict]:
        # Outputs are made from knowledge, not from other outputs (or an earlier run of
        # this one): the same request against the same wiki stays the same request.
        earlier = {p.stem for p in self.folder.glob("*.md")} if self.folder.is_dir() else set()
        pages = gather(self.vault, topic, CONTEXT_TOKENS, self.llm.count_tokens, exclude=earlier)
        if not pages:
            raise NoData(f"{topic!r}: no data found: the wiki has no page about this yet")
        return pages

    def _resolver(self) -> LinkResolver:
        return LinkResolver([p.stem for p in self.vault.wiki_pages().values()], self.vault.page_aliases())

    def _save(self, kind: str, topic: str, body: str, sources: list[str], template: str,
              extra: dict | None = None) -> Path:
        name = page_name(f"{topic} ({kind})")
        path = self.folder / f"{name}.md"
        props = {"title": f"{topic} ({kind})", "kind": kind, "question": topic,
                 "sources": [f"[[{s}]]" for s in sources], "created": today(), **(extra or {}),
                 "kbc_prompt": self.templates.version(template), "kbc_model": self.llm.model}
        write_page(self.vault, path, props, body, kind, self.templates.version(template), self.llm.model)
        refresh_wiki(self.vault)
        return path

    # -- slides -----------------------------------------------------------------------------

    def slides(self, topic: str) -> Output:
        pages = self._context(topic)
        images = self._images(pages)
        prompt = self.templates.prompt(SLIDES_TEMPLATE, pages=pages, images=sorted(images), topic=topic)
        result = self.llm.complete(Request("slides", prompt, SLIDES_SCHEMA, 2500, label=f"slides {topic[:50]!r}"))
        resolver = self._resolver()
        deck_dir = self.folder
        sources = [p["name"] for p in pages]
        parts = [f"<!-- _class: lead -->\n\n# {_plain(result.data['title'])}\n\n{_plain(topic)}"]
        for slide in result.data["slides"]:
            text = f"## {_plain(slide['title'])}\n\n" + "\n".join(
                f"- {resolver.fix(_one_line(b))}" for b in slide["bullets"] if b.strip())
            image = images.get(slide["image"].strip())
            if image:
                rel = os.path.relpath(image, deck_dir).replace(os.sep, "/")
                text += f"\n\n![bg right:40% contain]({rel})"
            parts.append(text)
        parts.append("## Sources\n\n" + "\n".join(f"- [[{s}]]" for s in sources))
        props_marp = {"marp": True, "theme": "default", "paginate": True, "size": "16:9"}
        path = self._save("slides", topic, "\n\n---\n\n".join(parts) + "\n", sources, SLIDES_TEMPLATE, props_marp)
        return Output("slides", self.vault.rel(path), sources=sources,
                      tokens=result.prompt_tokens + result.completion_tokens, from_cache=result.from_cache)

    def _images(self, pages: list[dict]) -> dict[str, Path]:
        """Local images embedded in the pages used or in the raw notes they summarise."""
        texts = [p["text"] for p in pages]
        notes = {link_key(p.stem): p for p in self.vault.raw_dir.rglob("*.md")} if self.vault.raw_dir.is_dir() else {}
        for page in pages:
            path = self.vault.wiki_pages().get(link_key(page["name"]))
            source = str(read_page(path)[0].get("source", "")) if path else ""
            note = notes.get(link_key(source.strip("[]")))
            if note:
                texts.append(note.read_text(encoding="utf-8", errors="replace"))
        files = {p.name: p for p in self.vault.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                 and ".kbc" not in p.parts}
        found = {}
        for text in texts:
            for match in WIKILINK.finditer(text):
                name = match["target"].strip().rsplit("/", 1)[-1]
                if match["embed"] and name in files:
                    found[name] = files[name]
        return found

    def render(self, deck: Path, fmt: str) -> Path:
        marp = os.environ.get("KBC_MARP") or shutil.which("marp")
        if not marp:
            raise KbcError("marp-cli is not installed: `npm install -g @marp-team/marp-cli` "
                           "(PDF also needs Chromium: `apt-get install chromium`)")
        target = deck.with_suffix(f".{fmt}")
        command = [marp, str(deck), "-o", str(target), "--allow-local-files"]
        if fmt == "pdf":
            command.append("--pdf")
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0 or not target.exists():
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise KbcError(f"{deck.name}: marp failed ({last[0][:200]})")
        return target

    # -- chart ------------------------------------------------------------------------------

    def chart(self, question: str) -> Output:
        # Line references in a page's sources list are not data.
        pages = [p for p in self._context(question) if re.search(r"\d", p["text"].split("\n## Sources", 1)[0])]
        if not pages:
            raise NoData(f"{question!r}: no data found: the pages about this hold no numbers")
        prompt = self.templates.prompt(CHART_TEMPLATE, pages=pages, question=question)
        result = self.llm.complete(Request("chart", prompt, CHART_SCHEMA, 2000, label=f"chart {question[:50]!r}"))
        data = result.data
        texts = {link_key(p["name"]): p for p in pages}
        series, dropped = [], 0
        for entry in data["series"]:
            points = []
            for point in entry["points"]:
                page = texts.get(link_key(point["page"]))
                if page and _number_in(point["value"], page["text"]):
                    points.append({**point, "page": page["name"]})
                else:
                    dropped += 1  # a number its page does not hold is not drawn
            if points:
                series.append({**entry, "points": points})
        if not data["found"] or not series:
            raise NoData(f"{question!r}: no data found: the wiki holds no numbers on this question")
        name = page_name(f"{question} (chart)")
        image = self.folder / f"{name}.png"
        draw_chart(data["chart_type"], data["title"], data["x_label"], data["y_label"], series, image)
        sources = sorted({p["page"] for s in series for p in s["points"]}, key=str.casefold)
        rows = ["| series | label | value | unit | page |", "|---|---|---|---|---|"]
        for s in series:
            for p in s["points"]:
                rows.append(f"| {_cell(s['name'])} | {_cell(p['label'])} | {p['value']:g} | {_cell(s['unit'])} | [[{p['page']}]] |")
        body = (f"# {_plain(data['title'])}\n\n![[{image.name}]]\n\n## Data\n\n" + "\n".join(rows) + "\n"
                + (f"\n{dropped} values the model gave were not found on their pages and were left out.\n" if dropped else "")
                + "\n## Sources\n\n" + "\n".join(f"- [[{s}]]" for s in sources) + "\n")
        path = self._save("chart", question, body, sources, CHART_TEMPLATE, {"image": image.name})
        return Output("chart", self.vault.rel(path), files=[self.vault.rel(image)], sources=sources,
                      tokens=result.prompt_tokens + result.completion_tokens, from_cache=result.from_cache)

    # -- report -----------------------------------------------------------------------------

    def report(self, topic: str) -> Output:
        pages = self._context(topic)
        prompt = self.templates.prompt(REPORT_TEMPLATE, pages=pages, topic=topic)
        result = self.llm.complete(Request("report", prompt, REPORT_SCHEMA, 3000, label=f"report {topic[:50]!r}"))
        resolver = self._resolver()
        given = {link_key(p["name"]): p["name"] for p in pages}
        parts, used = [f"# {_plain(result.data['title'])}"], []
        for section in result.data["sections"]:
            paragraphs = []
            for paragraph in section["paragraphs"]:
                cited = [given[link_key(n)] for n in paragraph["pages"] if link_key(n) in given]
                used += cited
                text = resolver.fix(" ".join(paragraph["text"].split()))
                if text:
                    paragraphs.append(text + (" (" + ", ".join(f"[[{c}]]" for c in dict.fromkeys(cited)) + ")" if cited else ""))
            if paragraphs:
                parts.append(f"## {_plain(section['heading'])}\n\n" + "\n\n".join(paragraphs))
        sources = list(dict.fromkeys(used)) or [p["name"] for p in pages]
        parts.append("## Sources\n\n" + "\n".join(f"- [[{s}]]" for s in sources))
        path = self._save("report", topic, "\n\n".join(parts) + "\n", sources, REPORT_TEMPLATE)
        return Output("report", self.vault.rel(path), sources=sources,
                      tokens=result.prompt_tokens + result.completion_tokens, from_cache=result.from_cache)


def draw_chart(kind: str, title: str, x_label: str, y_label: str, series: list[dict], target: Path) -> None:
    """kbc's own plotting code: the model supplies numbers, never code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        if kind == "pie":
            first = series[0]["points"]
            axes.pie([p["value"] for p in first], labels=[p["label"] for p in first], autopct="%1.0f%%")
        else:
            labels = list(dict.fromkeys(p["label"] for s in series for p in s["points"]))
            width = 0.8 / len(series)
            for number, entry in enumerate(series):
                values = {p["label"]: p["value"] for p in entry["points"]}
                xs = [labels.index(label) for label in values]
                name = entry["name"] + (f" ({entry['unit']})" if entry["unit"] else "")
                if kind == "bar":
                    axes.bar([x + number * width - 0.4 + width / 2 for x in xs], list(values.values()),
                             width=width, label=name)
                elif kind == "line":
                    axes.plot(xs, list(values.values()), marker="o", label=name)
                else:
                    axes.scatter(xs, list(values.values()), label=name)
            axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 5 else 0, ha="right" if len(labels) > 5 else "center")
            axes.set_xlabel(x_label)
            axes.set_ylabel(y_label)
            if len(series) > 1:
                axes.legend()
        axes.set_title(title)
        figure.tight_layout()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp.png")
        figure.savefig(tmp, format="png")
        os.replace(tmp, target)
    finally:
        plt.close(figure)


def _number_in(value: float, text: str) -> bool:
    """Is this number written on the page (as 3, 3.0, 3,000 or 3000)?"""
    numbers = {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)
               if n.replace(",", "").replace(".", "", 1).isdigit()}
    return any(abs(n - value) <= 1e-9 * max(1.0, abs(value)) for n in numbers)


def _plain(text: str) -> str:
    return " ".join(WIKILINK.sub(lambda m: m["shown"] or m["target"], text).split()) or "Untitled"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _one_line(str(text)).replace("|", "\\|")
