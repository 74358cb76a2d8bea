"""Serve speed: render time of a page on a generated 100-page wiki (links, backlinks,
front matter), median and p95 over every page, and search API latency.

Run: .venv/bin/python benchmarks/serve.py
"""
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kbc.serve import Site  # noqa: E402
from kbc.vault import Vault, init_vault  # noqa: E402


def main() -> None:
    rng = random.Random(3)
    words = [f"word{n}" for n in range(3000)]
    names = [f"Concept {n}" for n in range(100)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        init_vault(root)
        (root / "wiki" / "concepts").mkdir()
        for name in names:
            paragraphs = []
            for _ in range(12):
                text = " ".join(rng.choices(words, k=80))
                links = " ".join(f"[[{n}]]" for n in rng.sample(names, 3))
                paragraphs.append(f"{text} {links}.")
            (root / "wiki" / "concepts" / f"{name}.md").write_text(
                f"---\ntitle: {name}\nkind: concept\ntags: [concept]\n---\n\n# {name}\n\n" + "\n\n".join(paragraphs) + "\n")
        site = Site(Vault(root, env={}))
        started = time.perf_counter()
        site.page(names[0])
        first = (time.perf_counter() - started) * 1000
        times = []
        for name in names:
            started = time.perf_counter()
            status, _ = site.page(name)
            assert status == 200
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        searches = []
        for _ in range(100):
            started = time.perf_counter()
            site.search_json(" ".join(rng.choices(words, k=2)))
            searches.append((time.perf_counter() - started) * 1000)
        searches.sort()
        words_total = 100 * 12 * 80
        print(f"wiki: {len(names)} pages, {words_total:,} words, 3,600 links")
        print(f"first page (builds the link graph): {first:.1f} ms")
        print(f"page render: median {statistics.median(times):.1f} ms, p95 {times[94]:.1f} ms, max {times[-1]:.1f} ms")
        print(f"search API: median {statistics.median(searches):.1f} ms, p95 {searches[94]:.1f} ms")


if __name__ == "__main__":
    main()
