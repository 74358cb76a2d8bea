"""A vault holding the whole corpus, compiled with the fixture model: for quality benchmarks.

    from benchmarks.corpus_vault import build_corpus_vault
    from tests.fixture_model import FixtureModel
    from tests.scripted import ScriptedServer

    with ScriptedServer(FixtureModel()) as server:
        root = build_corpus_vault(tmp / "corpus", server)   # wiki in root / "wiki"

The corpus is its 6 papers (PDF) and 6 blog posts (Markdown, with their assets) plus the
repo's 3 sample notes in raw/. Everything goes through kbc's own command line (`kbc init`,
`kbc ingest`, `kbc compile`) in subprocesses pointed at the server, so the benchmark keeps
working whatever the compiler's internals become. Nothing is cached between runs except
what kbc itself keeps in the vault. `compile_at(root, server)` recompiles an existing vault
(e.g. after `ingest(root, [path])`) and returns kbc's JSON report.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("KBC_TEST_CORPUS") or REPO.parent / "shared" / "corpus")


class KbcFailed(RuntimeError):
    pass


def corpus_sources() -> list[Path]:
    """The 15 sources, papers first: 6 PDFs, 6 blog posts, the repo's 3 sample notes."""
    return (sorted((CORPUS / "papers").glob("*.pdf")) + sorted((CORPUS / "blog").glob("*.md"))
            + sorted((REPO / "raw").glob("*.md")))


def kbc(root: Path, *args: str, server=None, ok=(0,)) -> subprocess.CompletedProcess:
    """Run `python -m kbc --vault root ARGS`, at the scripted server if one is given; an exit
    code outside `ok` raises KbcFailed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
    if server is not None:
        env.update(KBC_BASE_URL=server.base_url, KBC_MODEL="scripted", OPENAI_API_KEY="test")
    done = subprocess.run([sys.executable, "-m", "kbc", "--vault", str(root), *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode not in ok:
        raise KbcFailed(f"kbc {' '.join(args[:2])} exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    return done


def init(root: Path) -> Path:
    root.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "kbc", "init", str(root)], cwd=REPO, check=True,
                   capture_output=True, text=True)
    return root


def ingest(root: Path, sources: list[Path]) -> None:
    if sources:
        kbc(root, "ingest", *map(str, sources))


def compile_at(root: Path, server) -> dict:
    """`kbc compile --json` on the vault; its report (with a `tokens` entry)."""
    done = kbc(root, "compile", "--json", server=server)
    return json.loads(done.stdout)


def lint_at(root: Path, server) -> list[dict]:
    """`kbc lint --json`'s problems (structural checks only: no request is sent)."""
    done = kbc(root, "lint", "--json", server=server, ok=(0, 1))
    return json.loads(done.stdout)["problems"]


def build_corpus_vault(dest: Path, server, sources: list[Path] | None = None) -> Path:
    """Init a vault at dest, ingest the corpus (or `sources`), compile it at the server; return dest."""
    init(dest)
    ingest(dest, corpus_sources() if sources is None else sources)
    compile_at(dest, server)
    return dest
