import shutil
from pathlib import Path

import pytest

from kbc.llm import LLM, OpenAIBackend, Templates
from kbc.vault import Vault, init_vault
from tests.scripted import ScriptedServer

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture
def server():
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def vault_dir(tmp_path):
    root = tmp_path / "vault"
    init_vault(root)
    return root


@pytest.fixture
def sample_vault(vault_dir):
    """A vault holding the repo's own sample notes."""
    for note in (REPO / "raw").glob("*.md"):
        shutil.copy(note, vault_dir / "raw" / note.name)
    return vault_dir


def endpoint_env(server) -> dict:
    return {"KBC_BASE_URL": server.base_url, "KBC_MODEL": "scripted", "OPENAI_API_KEY": "test"}


@pytest.fixture
def env(server, monkeypatch, vault_dir):
    values = endpoint_env(server)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KBC_VAULT", str(vault_dir))
    return values


def open_vault(root: Path, server, **overrides) -> Vault:
    return Vault(root, env=endpoint_env(server), overrides=overrides)


def make_llm(vault: Vault, server, budget: int = 0) -> LLM:
    backend = OpenAIBackend(server.base_url, "scripted", "test", max_retries=3)
    return LLM(backend, vault.db, vault.db_lock, budget=budget, prices=vault.settings.prices,
               concurrency=vault.settings.concurrency)


def templates(vault: Vault) -> Templates:
    return Templates([vault.root / "templates"])
