"""Prompt templates (Jinja2, versioned by content hash) and the stable-first prompt shape."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2


@dataclass(frozen=True)
class Prompt:
    """A prompt ordered from most to least stable, so requests of one stage share a prefix.

    messages = stable_messages + [user: context + item]. Everything but `item` is the stable
    prefix: instructions, schema, shared context (a catalogue, an earlier answer).
    """
    stable_messages: tuple = ()
    context: str = ""
    item: str = ""
    version: str = ""  # content hash of the template that built it
    images: tuple = ()  # data: URIs sent with the item, for models that read images

    def messages(self) -> list[dict]:
        text = self.context + self.item
        if not self.images:
            return [*self.stable_messages, {"role": "user", "content": text}]
        parts = [{"type": "text", "text": text}] + [{"type": "image_url", "image_url": {"url": url}}
                                                    for url in self.images]
        return [*self.stable_messages, {"role": "user", "content": parts}]

    def prefix_text(self) -> str:
        return text_of(list(self.stable_messages)) + self.context

    def prefix_hash(self) -> str:
        blob = json.dumps([list(self.stable_messages), self.context], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def package_template_dir() -> Path:
    """templates/ ships as kbc.templates in a wheel; in a source checkout it sits beside kbc/."""
    try:
        return Path(str(resources.files("kbc.templates")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "templates"


@dataclass
class Templates:
    """Looks in the vault's own templates/ first (user overrides), then the package's."""
    search_path: list[Path] = field(default_factory=list)

    def __post_init__(self):
        dirs = [p for p in self.search_path if p.is_dir()] + [package_template_dir()]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in dirs]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )

    def version(self, name: str) -> str:
        source, _, _ = self.env.loader.get_source(self.env, name)
        return hashlib.sha256(source.encode()).hexdigest()[:12]

    def render(self, name: str, /, **values) -> str:
        return self.env.get_template(name).render(**values)

    def prompt(self, name: str, /, **values) -> Prompt:
        """Render a prompt template's three blocks: `system`, `context` (stable) and `item`."""
        template = self.env.get_template(name)
        context = template.new_context(values)

        def block(block_name: str) -> str:
            if block_name not in template.blocks:
                return ""
            # Control tags leave blank lines behind; a model pays for each, so runs are one.
            return BLANK_RUN.sub("\n\n", "".join(template.blocks[block_name](context))).strip("\n")

        system, shared, item = block("system"), block("context"), block("item")
        stable = ({"role": "system", "content": system},) if system else ()
        return Prompt(stable, shared + "\n\n" if shared else "", item, self.version(name))


BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){2,}")
IMAGE_TOKENS = 800  # what one image costs a vision model, roughly, for budgets and estimates


def text_of(messages: list[dict]) -> str:
    """The text of messages whose content may be a list of parts (text and images)."""
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append(content)
        else:
            out += [part.get("text", "") for part in content]
    return "".join(out)


def pack(items: list, cost, max_items: int, max_tokens: int) -> list[list]:
    """Consecutive items grouped into batches of at most max_items and about max_tokens
    (by `cost(item)`), for stages that ask about several items in one request."""
    batches, current, size = [], [], 0
    for item in items:
        weight = cost(item)
        if current and (len(current) >= max_items or size + weight > max_tokens):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += weight
    return batches + ([current] if current else [])


def stable_json(value) -> str:
    """JSON that is byte-identical each time for the same value (prefix caches need this)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
