import os
import shutil
import signal
import struct
import zlib
from pathlib import Path

import pytest

from kbc.llm import LLM, OpenAIBackend, Templates
from kbc.vault import Vault, init_vault
from tests.scripted import ScriptedServer

# A suite started with SIGINT ignored (a background job of a non-interactive shell) would hand
# the ignore on to every kbc process the Ctrl-C tests interrupt: they must get the default.
signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
# The real-data corpus is other people's writing: it lives beside the repository, never in it.
CORPUS = Path(os.environ.get("KBC_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
CORPUS_MISSING = f"real-data corpus not found at {CORPUS}: skipped"


def pytest_collection_modifyitems(config, items):
    """Tests marked `corpus` skip on a plain clone; under CI a missing corpus is an error."""
    if CORPUS.is_dir():
        return
    needing = [item for item in items if item.get_closest_marker("corpus")]
    if needing and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(f"CI is set but the real-data corpus is missing at {CORPUS} "
                                f"({len(needing)} tests need it)")
    for item in needing:
        item.add_marker(pytest.mark.skip(reason=CORPUS_MISSING))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The corpus folder, for fixtures that need it (tests themselves use the `corpus` marker)."""
    if not CORPUS.is_dir():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI is set but the real-data corpus is missing at {CORPUS}")
        pytest.skip(CORPUS_MISSING)
    return CORPUS


def png_bytes(width: int = 24, height: int = 16) -> bytes:
    """A real PNG (a colour gradient) made here, so image tests need no corpus file."""
    rows = b"".join(b"\x00" + b"".join(bytes((x * 10 % 256, y * 15 % 256, 128)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) \
        + chunk(b"IEND", b"")


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
