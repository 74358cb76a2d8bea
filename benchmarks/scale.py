"""Scale: kbc's own cost on vaults of N notes, against an instantly answering local server.

Notes are made from the corpus: every paragraph of at least 120 characters of the 40 web
pages' article text (web/truth.json), the 6 blog posts and the 6 papers (text of each PDF
page, split at blank lines) is numbered 0..P-1; note i joins paragraph i mod P with the one
(1 + i div P) places after it, under the title of the first paragraph's page and the note's
number, so no two notes are alike and names recur across notes as they do in real research.
Past the first P notes (cycle k = i div P >= 1) the letters of every capitalised word of the
paragraphs are shifted k places in the alphabet ("Paxos" -> "Qbypt" in cycle 1): another P notes
on as many other subjects, whose names are no near duplicates of the corpus's (an ending added
to a long name would be), so a concept gathers sources at the rate it does within the corpus,
not k + 1 times over (recycled names made per-source figures grow with N: 16.8 prompt tokens
per source token at N=3,000 against 8.3 at 1,000).

Per N it prints: compile wall and CPU (kbc's process only: the scripted server runs in this
process), CPU per source, peak memory, requests, prompt tokens per source token, the largest
request, then a no-change rerun and the +1 source figures, `kbc lint`, `kbc search` (wall of
the command) and serve (Site built + first page, then the median page).

Run: .venv/bin/python benchmarks/scale.py 100 1000 [--profile DIR]  (the profile: cProfile
of the first compile, the no-change rerun and the +1 source at the largest N, written as
DIR/first.prof, DIR/rerun.prof and DIR/plus1.prof: their CPU figures are then the profiled ones)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.scripted import ScriptedServer  # noqa: E402

CORPUS = Path(os.environ.get("KBC_TEST_CORPUS") or REPO.parent / "shared" / "corpus")


def paragraphs() -> list[tuple[str, str]]:
    """(page title, paragraph) for every paragraph of 120+ characters in the corpus."""
    import pypdfium2 as pdfium

    found = []
    truth = json.loads((CORPUS / "web" / "truth.json").read_text())
    for key, page in sorted(truth.items()):
        found += [(key, p.strip()) for p in page["articleBody"].split("\n") if len(p.strip()) >= 120]
    for post in sorted((CORPUS / "blog").glob("*.md")):
        body = re.sub(r"\A---\n.*?\n---\n", "", post.read_text(), flags=re.S)
        found += [(post.stem, " ".join(p.split())) for p in body.split("\n\n")
                  if len(p.strip()) >= 120 and not p.lstrip().startswith(("<", "```", "|"))]
    for paper in sorted((CORPUS / "papers").glob("*.pdf")):
        pdf = pdfium.PdfDocument(str(paper))
        for page in pdf:
            text = page.get_textpage().get_text_range().replace("\r", "")
            found += [(paper.stem, " ".join(p.split())) for p in re.split(r"\n\s*\n|\.\n", text)
                      if len(" ".join(p.split())) >= 120]
    return found


def shifted(word: str, cycle: int) -> str:
    """`word` with each letter `cycle` places on in the alphabet, case kept."""
    out = []
    for ch in word:
        base = ord("A") if ch.isupper() else ord("a")
        out.append(chr(base + (ord(ch) - base + cycle) % 26) if ch.isascii() and ch.isalpha() else ch)
    return "".join(out)


def write_notes(raw: Path, pool: list[tuple[str, str]], start: int, count: int) -> int:
    """Notes start..start+count-1 into raw/; returns their characters."""
    chars, total = 0, len(pool)
    for i in range(start, start + count):
        title, first = pool[i % total]
        second = pool[(i + 1 + i // total) % total][1]
        cycle = i // total
        if cycle % 26:
            first, second = (re.sub(r"\b[A-Z][A-Za-z]+\b", lambda m: shifted(m[0], cycle), p) for p in (first, second))
        name = f"{re.sub(r'[^A-Za-z0-9 -]+', ' ', title).strip()[:50]} note {i}"
        text = f"---\ntitle: {name}\nkind: note\n---\n# {name}\n\n{first}\n\n{second}\n"
        (raw / f"{name}.md").write_text(text)
        chars += len(text)
    return chars


def kbc(root: Path, server, *args: str, profile: Path | None = None) -> dict:
    """Run one kbc command in a child process; its wall time and output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KBC_")}
    env.update(KBC_BASE_URL=server.base_url, KBC_MODEL="scripted", OPENAI_API_KEY="test")
    prefix = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else []) + ["-m", "kbc"]
    started = time.perf_counter()
    child = subprocess.Popen([*prefix, "--vault", str(root), *args], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate()
    wall = time.perf_counter() - started
    if child.returncode not in (0, 1):
        raise SystemExit(f"kbc {' '.join(args)} exited {child.returncode}: {err.strip()[-1500:]}")
    return {"wall": wall, "out": out, "err": err}


class Meter:
    """CPU and peak memory of each child, from the kernel's per-child accounting."""

    def run(self, root: Path, server, *args: str, profile: Path | None = None) -> dict:
        import resource

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = kbc(root, server, *args, profile=profile)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result["peak_mb"] = after.ru_maxrss / 1024  # the largest child so far (Linux: KiB)
        return result


def ledger(root: Path, since_id: int) -> dict:
    import sqlite3

    db = sqlite3.connect(root / ".kbc" / "kbc.db")
    row = db.execute("select count(*), coalesce(sum(prompt_tokens), 0), coalesce(max(prompt_tokens), 0), "
                     "coalesce(max(id), 0) from requests where id > ? and from_cache = 0", [since_id]).fetchone()
    last = db.execute("select coalesce(max(id), 0) from requests").fetchone()[0]
    db.close()
    return {"requests": row[0], "prompt_tokens": row[1], "largest": row[2], "last_id": last}


def serve_times(root: Path) -> tuple[float, float]:
    """Seconds to build the site and render the first page; median seconds per page after."""
    code = (
        "import sys, time, statistics, json\n"
        "from kbc.serve import Site\nfrom kbc.vault import Vault\n"
        "t = time.perf_counter(); v = Vault(sys.argv[1], env={}); s = Site(v)\n"
        "names = sorted(p.stem for p in (v.wiki_dir / 'concepts').glob('*.md'))[:40]\n"
        "s.page(names[0]); first = time.perf_counter() - t\n"
        "times = []\n"
        "for n in names[1:]:\n"
        "    t = time.perf_counter(); s.page(n); times.append(time.perf_counter() - t)\n"
        "print(json.dumps([first, statistics.median(times)]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(root)], cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        return float("nan"), float("nan")
    first, median = json.loads(done.stdout)
    return first, median


def measure(n: int, pool, tmp: Path, profile: Path | None, window: int) -> None:
    root = tmp / f"vault-{n}"
    subprocess.run([sys.executable, "-m", "kbc", "init", str(root)], cwd=REPO, check=True, capture_output=True)
    config = root / "kbc.toml"
    config.write_text(re.sub(r"(?m)^context_window = 0$", f"context_window = {window}", config.read_text()))
    chars = write_notes(root / "raw", pool, 0, n)
    meter = Meter()
    with ScriptedServer() as server:
        first = meter.run(root, server, "compile", profile=profile / "first.prof" if profile else None)
        used = ledger(root, 0)
        again = meter.run(root, server, "compile", profile=profile / "rerun.prof" if profile else None)
        rerun = ledger(root, used["last_id"])
        steady = meter.run(root, server, "compile")  # the first rerun still settles backlinks
        write_notes(root / "raw", pool, n, 1)
        plus = meter.run(root, server, "compile", profile=profile / "plus1.prof" if profile else None)
        added = ledger(root, rerun["last_id"])
        lint = meter.run(root, server, "lint")
        search = meter.run(root, server, "search", "consensus leader election")
    serve_first, serve_page = serve_times(root)
    source_tokens = chars / 4
    pages = sum(1 for _ in (root / "wiki").rglob("*.md"))
    print(f"N={n:>6}: compile {first['wall']:.1f} s wall, {first['cpu']:.1f} s CPU "
          f"({first['cpu'] / n * 1000:.1f} ms CPU per source), peak {first['peak_mb']:.0f} MB, "
          f"{used['requests']} requests, {used['prompt_tokens'] / source_tokens:.2f} prompt tokens per "
          f"source token, largest request {used['largest']:,} prompt tokens (window {window:,}); {pages} pages")
    print(f"          no-change rerun {again['wall']:.1f} s wall, {again['cpu']:.1f} s CPU, "
          f"{rerun['requests']} requests (again: {steady['wall']:.1f} s wall, {steady['cpu']:.1f} s CPU); +1 source {plus['wall']:.1f} s wall, {plus['cpu']:.1f} s CPU, "
          f"{added['requests']} requests, {added['prompt_tokens']:,} prompt tokens")
    print(f"          lint {lint['wall']:.1f} s, search {search['wall']:.2f} s, serve first page "
          f"{serve_first:.2f} s, then {serve_page * 1000:.0f} ms per page", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--profile", type=Path, help="cProfile the rerun and +1 runs of the largest N here")
    parser.add_argument("--window", type=int, default=32768, help="the model's context window kbc is told")
    args = parser.parse_args()
    pool = paragraphs()
    print(f"{len(pool)} corpus paragraphs; note i = paragraph i mod {len(pool)} + the one "
          f"(1 + i div {len(pool)}) after it, capitalised words' letters shifted by i div {len(pool)}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            measure(n, pool, Path(tmp), args.profile if n == max(args.sizes) else None, args.window)


if __name__ == "__main__":
    main()
