"""Web extraction quality and speed: ingest the 40 pages of ../shared/corpus/web, render each
note's Markdown to plain text, score with ../shared/tools/extraction_f1.py; then time bare
trafilatura (the same call and options kbc makes, nothing else) on the same pages in the same
run (before and after kbc, the faster of the two), and print kbc's time as a multiple of it (issue 14: at most 1.5x).

Run: .venv/bin/python benchmarks/ingest_web.py
"""
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trafilatura

from kbc.ingest import Ingester
from kbc.ingest.web import TRAFILATURA_OPTIONS
from kbc.vault import Vault, init_vault
from kbc.vault.frontmatter import split
from kbc.vault.markdown import to_plain_text

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "web"
SCORER = REPO.parent / "shared" / "tools" / "extraction_f1.py"


def main() -> None:
    truth = json.loads((CORPUS / "truth.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        init_vault(tmp / "vault")
        vault = Vault(tmp / "vault", env={})
        pages = tmp / "pages"
        pages.mkdir()
        for key in truth:
            (pages / f"{key}.html").write_bytes(gzip.decompress((CORPUS / f"{key}.html.gz").read_bytes()))
        files = [pages / f"{key}.html" for key in truth]
        bare = bare_trafilatura(files)  # first, so kbc does not pay trafilatura's warm-up alone
        ingester = Ingester(vault)
        out = tmp / "text"
        out.mkdir()
        started = time.perf_counter()
        failed = 0
        for key in truth:
            [result] = ingester.ingest(str(pages / f"{key}.html"))
            if result.status == "failed":
                failed += 1
                print("failed:", result.error)
                continue
            _, body = split((vault.root / result.note).read_text())
            body = body.split("\n", 2)[2] if body.startswith("# ") else body  # the title heading kbc adds
            (out / f"{key}.txt").write_text(to_plain_text(body))
        elapsed = time.perf_counter() - started
        score = subprocess.run([sys.executable, str(SCORER), str(CORPUS / "truth.json"), str(out)],
                               capture_output=True, text=True).stdout.strip().splitlines()[-1]
        bare = min(bare, bare_trafilatura(files))
        print(f"pages={len(truth)} failed={failed} seconds={elapsed:.2f} pages_per_second={len(truth) / elapsed:.1f}")
        print(score)
        print(f"bare trafilatura seconds={bare:.2f}  kbc ingest / bare = {elapsed / bare:.2f}x")


def bare_trafilatura(files: list[Path]) -> float:
    """Seconds for trafilatura alone to turn the pages into Markdown, as kbc.ingest.web calls it."""
    started = time.perf_counter()
    for path in files:
        trafilatura.extract_with_metadata(path.read_text(errors="replace"), **TRAFILATURA_OPTIONS)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
