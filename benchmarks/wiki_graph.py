"""A compiled wiki read from its files, as Obsidian would: pages, aliases, links, and the concept graph.

Independent of kbc's compiler on purpose (only the front-matter reader is shared), so the
benchmark measures what lands on disk. Also maps the fixtures' concept ids back to pages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from kbc.vault.frontmatter import split
from tests.fixture_data import Fixture, NumberedText, best_fixture, name_key

LINK = re.compile(r"(!?)\[\[([^\[\]|#^]*)(?:[#^][^\[\]|]*)?(?:\|[^\[\]]*)?\]\]")
BACKLINKS = re.compile(r"<!-- kbc:backlinks -->.*?<!-- /kbc:backlinks -->", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
REDIRECT_KINDS = {"redirect", "alias"}
KBC_SUFFIX = re.compile(r"\s*\((?:concept|source)(?: \d+)?\)$")


def link_key(name: str) -> str:
    name = name.strip().replace("\\", "/").split("/")[-1]
    return (name[:-3] if name.lower().endswith(".md") else name).casefold()


def is_file(target: str) -> bool:
    name = target.rsplit("/", 1)[-1]
    return bool(re.search(r"\.[A-Za-z0-9]{1,5}$", name)) and not name.lower().endswith(".md")


@dataclass
class Page:
    name: str  # file stem: what [[links]] name
    path: Path
    props: dict
    body: str

    @property
    def kind(self) -> str:
        return str(self.props.get("kind") or "")

    @property
    def title(self) -> str:
        return str(self.props.get("title") or self.name)

    @property
    def aliases(self) -> list[str]:
        value = self.props.get("aliases") or []
        return [str(a) for a in (value if isinstance(value, list) else [value])]

    def links(self, own_only: bool = True) -> list[tuple[str, bool]]:
        """(target, is_embed) of each link; own_only leaves out the code-made backlinks section."""
        text = BACKLINKS.sub("", self.body) if own_only else self.body
        text = CODE.sub("", text)
        return [(m.group(2).strip(), bool(m.group(1))) for m in LINK.finditer(text)]

    def sources(self) -> list[str]:
        value = self.props.get("sources") or []
        return [link_key(m) for s in (value if isinstance(value, list) else [value])
                for m in re.findall(r"\[\[([^\]|#]+)", str(s))]


@dataclass
class Wiki:
    root: Path
    pages: dict[str, Page] = field(default_factory=dict)  # link_key(name) -> page (wiki/ only)
    names: dict[str, str] = field(default_factory=dict)  # link key of page, note or alias -> link key of page
    files: set[str] = field(default_factory=set)  # every file name in the vault, casefolded
    summary_of: dict[str, str] = field(default_factory=dict)  # fixture stem -> summary page key

    @classmethod
    def read(cls, root: Path, fixtures: dict[str, Fixture]) -> "Wiki":
        wiki = cls(root)
        notes = {}
        for path in sorted(root.rglob("*")):
            if ".kbc" in path.parts or not path.is_file():
                continue
            wiki.files.add(path.name.casefold())
            if path.suffix != ".md":
                continue
            props, body = split(path.read_text(encoding="utf-8"))
            if (root / "wiki") in path.parents:
                wiki.pages[link_key(path.stem)] = Page(path.stem, path, props or {}, body)
            else:
                notes[link_key(path.stem)] = body
                wiki.names.setdefault(link_key(path.stem), link_key(path.stem))
        for key in wiki.pages:
            wiki.names[key] = key
        for key, page in wiki.pages.items():
            for alias in page.aliases:
                wiki.names.setdefault(link_key(alias), key)
        stem_of_note = {}
        for key, body in notes.items():
            numbered = "\n".join(f"{i}| {line}" for i, line in enumerate(body.split("\n"), 1))
            fixture = best_fixture(fixtures, NumberedText.parse(numbered))
            if fixture:
                stem_of_note[key] = fixture.stem
        for key, page in wiki.pages.items():
            source = re.findall(r"\[\[([^\]|#]+)", str(page.props.get("source") or ""))
            if page.kind == "source-summary" and source and link_key(source[0]) in stem_of_note:
                wiki.summary_of[stem_of_note[link_key(source[0])]] = key
        return wiki

    def resolve(self, target: str) -> str | None:
        """The page (link key) a link lands on, following redirect pages; None if dangling."""
        key = self.names.get(link_key(target))
        for _ in range(3):
            page = self.pages.get(key) if key else None
            if page is None or not (page.kind in REDIRECT_KINDS or page.props.get("redirect")):
                return key
            nxt = [t for t, _ in page.links() if not is_file(t)]
            key = self.names.get(link_key(nxt[0])) if nxt else key
        return key

    def concepts(self) -> dict[str, Page]:
        return {k: p for k, p in self.pages.items() if p.kind == "concept"}

    def concept_edges(self) -> dict[str, set[str]]:
        """Concept page -> the other concept pages its own text links to."""
        concepts = self.concepts()
        edges = {}
        for key, page in concepts.items():
            targets = {self.resolve(t) for t, embed in page.links() if not embed and not is_file(t)}
            edges[key] = {t for t in targets if t in concepts and t != key}
        return edges

    def dangling(self) -> list[tuple[str, str]]:
        out = []
        for page in self.pages.values():
            for target, _ in page.links(own_only=False):
                if is_file(target):
                    if target.rsplit("/", 1)[-1].casefold() not in self.files:
                        out.append((page.name, target))
                elif not target or self.resolve(target) is None:
                    out.append((page.name, target))
        return out

    def source_stems(self, page: Page) -> set[str]:
        stems = {key: stem for stem, key in self.summary_of.items()}
        return {stems[s] for s in page.sources() if s in stems}

    def page_of(self, concept_id: str, generic: dict[str, str]) -> str | None:
        """The concept page a fixture concept landed on: its name (or gold name) among the page's
        title, file name and aliases, and its source among the page's sources."""
        stem, name = concept_id.split("::", 1)
        wanted = {name_key(name)} | ({name_key(generic[concept_id])} if concept_id in generic else set())
        pages = self.concepts()

        def names_of(page: Page) -> set[str]:
            return {name_key(page.title), name_key(KBC_SUFFIX.sub("", page.name))} | \
                {name_key(a) for a in page.aliases}

        from_source = [k for k, p in pages.items() if stem in self.source_stems(p)]
        exact = [k for k in from_source if wanted & names_of(pages[k])]
        if exact:
            return min(exact, key=lambda k: (name_key(pages[k].title) not in wanted, len(k)))
        words = re.compile(rf"\b{re.escape(name)}\b", re.I)
        within = [k for k in from_source if words.search(pages[k].title)]
        if within:
            return min(within, key=len)
        anywhere = [k for k, p in pages.items() if wanted & names_of(p)]
        return anywhere[0] if len(anywhere) == 1 else None
