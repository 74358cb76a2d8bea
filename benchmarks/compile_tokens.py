"""Compile token figures: the corpus (six papers, six blog posts) against the scripted server.

Prints, per stage and in total: requests per source, prompt tokens per source token,
uncached prompt tokens per source token, the share of each request's non-item part that is
byte-identical to the previous request of its stage, the tokens of a no-change rerun, and
the cost of adding one source to the compiled corpus against compiling it alone.

Run: .venv/bin/python benchmarks/compile_tokens.py
"""
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kbc.compile import compile_vault  # noqa: E402
from kbc.compile.sources import scan_sources  # noqa: E402
from kbc.ingest import Ingester  # noqa: E402
from kbc.llm import LLM, OpenAIBackend, Templates, estimate_tokens  # noqa: E402
from kbc.vault import Vault, init_vault  # noqa: E402
from tests.scripted import ScriptedServer  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
ADDED = "paxos-made-simple.pdf"


class RecordingLLM(LLM):
    """Keeps each request's non-item part, to measure what a prefix cache can reuse."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stable_parts = defaultdict(list)

    def complete(self, request):
        self.stable_parts[request.stage].append(request.prompt.prefix_text())
        return super().complete(request)


def common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def make_vault(root: Path, sources: list[Path]) -> Vault:
    init_vault(root)
    vault = Vault(root, env={})
    ingester = Ingester(vault)
    for source in sources:
        [result] = ingester.ingest(str(source))
        assert result.status != "failed", result.error
    return vault


def compile_once(vault_root: Path, server) -> RecordingLLM:
    vault = Vault(vault_root, env={"KBC_BASE_URL": server.base_url, "KBC_MODEL": "scripted"})
    llm = RecordingLLM(OpenAIBackend(server.base_url, "scripted", "x"), vault.db, vault.db_lock,
                       concurrency=vault.settings.concurrency)
    report = compile_vault(vault, llm, Templates([]))
    assert not report.errors, report.errors
    return llm


def stage_rows(db, run_id):
    return list(db.query(
        "select stage, count(*) n, sum(prompt_tokens) p, sum(cached_tokens) c, sum(completion_tokens) o "
        "from requests where run_id = ? group by stage order by stage", [run_id]))


def main() -> None:
    sources = sorted((CORPUS / "papers").glob("*.pdf")) + sorted((CORPUS / "blog").glob("*.md"))
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        tmp = Path(tmp)
        vault = make_vault(tmp / "corpus", sources)
        notes, _ = scan_sources(vault)
        source_tokens = sum(estimate_tokens(n.body) for n in notes)
        llm = compile_once(tmp / "corpus", server)
        print(f"corpus: {len(notes)} sources, {source_tokens:,} source tokens (chars/4)")
        print(f"{'stage':<8} {'requests':>8} {'req/src':>8} {'prompt/src':>10} {'uncached/src':>12} "
              f"{'completion':>10} {'non-item shared':>15}")
        total = defaultdict(int)
        for row in stage_rows(vault.db, llm.run_id):
            parts = llm.stable_parts[row["stage"]]
            shares = [common_prefix(a, b) / len(b) for a, b in zip(parts, parts[1:]) if b]
            shared = sum(shares) / len(shares) if shares else 1.0
            print(f"{row['stage']:<8} {row['n']:>8} {row['n'] / len(notes):>8.2f} {row['p'] / source_tokens:>10.3f} "
                  f"{(row['p'] - row['c']) / source_tokens:>12.3f} {row['o']:>10,} {shared:>15.1%}")
            for key in ("n", "p", "c", "o"):
                total[key] += row[key]
        print(f"{'total':<8} {total['n']:>8} {total['n'] / len(notes):>8.2f} {total['p'] / source_tokens:>10.3f} "
              f"{(total['p'] - total['c']) / source_tokens:>12.3f} {total['o']:>10,}")

        rerun = compile_once(tmp / "corpus", server)
        print(f"no-change rerun: {rerun.totals.requests} requests, {rerun.totals.tokens} tokens")

        # Adding one source to the compiled corpus, against compiling it alone.
        others = [s for s in sources if s.name != ADDED]
        vault = make_vault(tmp / "without", others)
        with ScriptedServer() as engine:
            compile_once(tmp / "without", engine)
            Ingester(vault).ingest(str(CORPUS / "papers" / ADDED))
            added = compile_once(tmp / "without", engine).totals
        make_vault(tmp / "alone", [CORPUS / "papers" / ADDED])
        with ScriptedServer() as fresh:  # its own engine cache: nothing of the runs above in it
            alone = compile_once(tmp / "alone", fresh).totals
        def uncached(t):
            return t.prompt_tokens - t.cached_tokens
        print(f"add {ADDED} to the compiled corpus: {added.requests} requests, {added.tokens:,} tokens "
              f"({uncached(added):,} uncached prompt); alone: {alone.requests} requests, {alone.tokens:,} tokens "
              f"({uncached(alone):,} uncached prompt)")
        print(f"adding / alone: {added.tokens / alone.tokens:.2f}x tokens, "
              f"{uncached(added) / uncached(alone):.2f}x uncached prompt tokens")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
