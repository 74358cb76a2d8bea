"""The vault: a folder with kbc.toml, raw/, wiki/, .obsidian/ and .kbc/ (state)."""
from __future__ import annotations

import json
import os
import threading
from functools import cached_property
from pathlib import Path

from kbc.errors import VaultNotFound
from kbc.vault.agents import write_agent_files
from kbc.vault.config import DEFAULT_TOML, Settings, load_settings
from kbc.vault.db import open_db
from kbc.vault.files import atomic_write, walk_files, walk_stems
from kbc.vault.links import link_key
from kbc.vault.page_index import page_record

CONFIG_FILE = "kbc.toml"
ATTACHMENTS = "attachments"

OBSIDIAN_APP = {
    "attachmentFolderPath": f"raw/{ATTACHMENTS}",
    "newLinkFormat": "shortest",
    "useMarkdownLinks": False,
    "alwaysUpdateLinks": True,
}


class Vault:
    def __init__(self, root: Path, overrides: dict | None = None, env: dict | None = None):
        self.root = Path(root).resolve()
        self.raw_dir = self.root / "raw"
        self.wiki_dir = self.root / "wiki"
        self.state_dir = self.root / ".kbc"
        self.settings: Settings = load_settings(self.root / CONFIG_FILE, env=env, overrides=overrides)
        # One connection shared by worker threads; sqlite3 objects need serialised use.
        self.db_lock = threading.RLock()
        # Lines for the person at the end of a command (e.g. an edit kbc kept): never silent.
        self.notices: list[str] = []

    @cached_property
    def db(self):
        return open_db(self.state_dir / "kbc.db")

    @property
    def attachments_dir(self) -> Path:
        return self.raw_dir / ATTACHMENTS

    def rel(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def wiki_pages(self) -> dict[str, Path]:
        """Every Markdown page of the wiki by its link key (case-folded name)."""
        pages = {}
        # A page linked to outside the vault (or a link loop) is no page: never served or sent.
        for path in walk_files(self.wiki_dir, within=self.root, suffix=".md") if self.wiki_dir.is_dir() else []:
            pages[link_key(path.stem)] = path
        return pages

    def note_names(self, pages: dict[str, Path] | None = None) -> list[str]:
        """Names of every note a wikilink may point at: wiki pages (`pages`: wiki_pages(), if
        the caller has them) and raw notes."""
        if pages is not None:
            names = [p.stem for p in pages.values()]
        else:  # as wiki_pages() would list them, without a Path per page
            wiki = walk_stems(self.wiki_dir, within=self.root) if self.wiki_dir.is_dir() else []
            names = list({link_key(name): name for name in wiki}.values())
        if self.raw_dir.is_dir():
            names += walk_stems(self.raw_dir, within=self.root)
        return names

    def page_aliases(self, props: dict[str, dict] | None = None) -> dict[str, str]:
        """alias key -> page name, from the pages' front matter (`props`: page name -> its
        properties, when the caller has them; else the page index's)."""
        if props is None:
            records = {path.stem: page_record(self, path) for path in self.wiki_pages().values()}
            props = {name: record.props for name, record in records.items() if record is not None}
        aliases = {}
        for name, page in props.items():
            for alias in page.get("aliases") or []:
                if isinstance(alias, str):
                    aliases.setdefault(link_key(alias), name)
        return aliases


def init_vault(root: Path) -> list[str]:
    """Create the vault layout; rerunning only adds what is missing. Returns what was created."""
    root = Path(root)
    created = []
    for folder in ("raw", "wiki", ".kbc"):
        if not (root / folder).is_dir():
            (root / folder).mkdir(parents=True)
            created.append(folder + "/")
    if not (root / CONFIG_FILE).exists():
        atomic_write(root / CONFIG_FILE, DEFAULT_TOML)
        created.append(CONFIG_FILE)
    app = root / ".obsidian" / "app.json"
    if not app.exists():
        atomic_write(app, json.dumps(OBSIDIAN_APP, indent=2) + "\n")
        created.append(".obsidian/app.json")
    ignore = root / ".kbc" / ".gitignore"
    if not ignore.exists():
        atomic_write(ignore, "*\n")
    created += write_agent_files(root)  # AGENTS.md and CLAUDE.md: how an agent works here
    return created


def find_vault(start: Path | None = None, explicit: str | None = None) -> Path:
    """Like git: --vault / KBC_VAULT, else the nearest folder upward holding kbc.toml."""
    explicit = explicit or os.environ.get("KBC_VAULT")
    if explicit:
        root = Path(explicit)
        if not (root / CONFIG_FILE).is_file():
            raise VaultNotFound(f"{root}: not a kbc vault (no {CONFIG_FILE}); run `kbc init {root}`")
        return root.resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise VaultNotFound(f"{here}: no kbc vault here or above (no {CONFIG_FILE}); run `kbc init`")
