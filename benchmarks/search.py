"""Search speed: a generated wiki of 100 pages and about 400K words; full reindex time and
query latency (median, p95) over 300 queries.

Run: .venv/bin/python benchmarks/search.py
"""
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kbc.search import Searcher, reindex  # noqa: E402
from kbc.vault import Vault, init_vault  # noqa: E402

PAGES, WORDS_PER_PAGE, QUERIES = 100, 4000, 300


def make_words(rng: random.Random, count: int) -> list[str]:
    syllables = ["ka", "ro", "mi", "ten", "sa", "lo", "vi", "dra", "pe", "qu", "ex", "ul", "mon", "gri"]
    return ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(count)]


def main() -> None:
    rng = random.Random(7)
    vocabulary = make_words(rng, 20000)
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]  # Zipf-like
    titles = [" ".join(rng.sample(vocabulary[100:3000], 2)).title() for _ in range(PAGES)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        init_vault(root)
        words_total = 0
        for number, title in enumerate(titles):
            sections = []
            for section in range(8):
                words = rng.choices(vocabulary, weights=weights, k=WORDS_PER_PAGE // 8)
                words_total += len(words)
                sections.append(f"## Part {section}\n\n" + " ".join(words))
            (root / "wiki" / f"{title}.md").write_text(
                f"---\ntitle: {title}\nkind: concept\n---\n\n# {title}\n\n" + "\n\n".join(sections) + "\n")
        vault = Vault(root, env={})
        started = time.perf_counter()
        files = reindex(vault, ("wiki",))
        build = time.perf_counter() - started
        searcher = Searcher(vault)
        searcher.search("warm up")  # loads the typo vocabulary once
        queries = []
        for _ in range(QUERIES):
            kind = rng.random()
            if kind < 0.4:
                queries.append(rng.choice(titles))
            elif kind < 0.8:
                queries.append(" ".join(rng.choices(vocabulary[:5000], k=rng.randint(1, 3))))
            else:  # a typo
                word = rng.choice(vocabulary[100:3000])
                queries.append(word[:-2] + word[-1] + word[-2])
        latencies = []
        for query in queries:
            started = time.perf_counter()
            searcher.search(query, limit=10)
            latencies.append((time.perf_counter() - started) * 1000)
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"wiki: {files} pages, {words_total:,} words")
        print(f"full reindex: {build:.2f} s")
        print(f"queries: {len(latencies)}, median {statistics.median(latencies):.2f} ms, p95 {p95:.2f} ms, "
              f"max {latencies[-1]:.2f} ms")


if __name__ == "__main__":
    main()
