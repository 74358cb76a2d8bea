"""Merge vs compiling the union: two vaults from overlapping halves of the corpus (fixture model,
real extractions), merged; printed: the merge's tokens as a fraction of the union's, and how
far the merged wiki is from the union's (pages, and links per page).

Run: .venv/bin/python benchmarks/merge_tokens.py [DIR]   (DIR: keep the three vaults there to look at)
"""
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.corpus_vault import build_corpus_vault, compile_at, corpus_sources, ingest, kbc  # noqa: E402
from kbc.vault import Vault  # noqa: E402
from kbc.vault.links import find_links  # noqa: E402
from kbc.vault.pages import read_page  # noqa: E402
from tests.fixture_model import FixtureModel  # noqa: E402
from tests.scripted import ScriptedServer  # noqa: E402


def tokens(root: Path) -> tuple[int, int]:
    db = Vault(root, env={}).db
    return db.execute("select coalesce(sum(prompt_tokens + completion_tokens), 0), count(*) "
                      "from requests").fetchone()


def decided(root: Path) -> dict[frozenset, str]:
    """Pairs of concept pages consolidation decided about, and how (renames left out)."""
    db = Vault(root, env={}).db
    page = dict(db.execute("select m.id, c.page from members m join concepts c on c.key = m.concept_key").fetchall())
    out = {}
    for a, b, relation in db.execute("select a, b, relation from decisions where relation != 'rename'"):
        if page.get(a) and page.get(b) and page[a] != page[b]:
            out[frozenset((page[a], page[b]))] = relation
    return out


def add_decisions_of(merged: Path, dest: Path) -> int:
    """Give the vault at dest the decisions the merged vault holds and it lacks (each half
    asked some pairs about its own concepts that compiling the union does not reach)."""
    mine = sqlite3.connect(dest / ".kbc" / "kbc.db")
    have = set(mine.execute("select a, b, relation from decisions"))
    with sqlite3.connect(merged / ".kbc" / "kbc.db") as theirs:
        extra = [row for row in theirs.execute("select a, b, relation, name, origin, decided_at from decisions")
                 if row[:3] not in have]
    with mine:
        mine.executemany("insert into decisions (a, b, relation, name, origin, decided_at) values (?, ?, ?, ?, ?, ?)",
                         extra)
    mine.close()
    return len(extra)


def shape(root: Path) -> dict[str, set[str]]:
    return {p.relative_to(root).as_posix(): {link.target for link in find_links(read_page(p)[1])} - {"log"}
            for p in sorted((root / "wiki").rglob("*.md")) if p.stem != "log"}


def main() -> None:
    sources = corpus_sources()
    half = (len(sources) + 1) // 2
    first, second = sources[: half + 2], sources[half - 2:]  # four sources in both
    with tempfile.TemporaryDirectory() as scratch, ScriptedServer(FixtureModel()) as server:
        tmp = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch)
        union = build_corpus_vault(tmp / "union", server, sources)
        ours = build_corpus_vault(tmp / "ours", server, first)
        theirs = build_corpus_vault(tmp / "theirs", server, second)
        union_tokens = tokens(union)
        print(f"union: {len(sources)} sources, {union_tokens[0]:,} tokens in {union_tokens[1]} requests")
        print(f"halves: {len(first)} and {len(second)} sources, {len(set(first) & set(second))} in both; "
              f"{tokens(ours)[0]:,} and {tokens(theirs)[0]:,} tokens")
        # For comparison: the other half's notes added to ours and compiled the ordinary way.
        shutil.copytree(ours, tmp / "incremental")
        ingest(tmp / "incremental", [s for s in second if s not in first])
        compile_at(tmp / "incremental", server)
        dry = json.loads(kbc(ours, "merge", str(theirs), "--dry-run", "--json", server=server).stdout)
        print(f"dry run: {sum(n['action'] != 'duplicate' for n in dry['notes'])} notes to add, "
              f"{len(dry['meeting'])} concepts would merge, about "
              f"{dry['estimate']['merge_prompt_tokens_about']:,} prompt tokens")
        before = tokens(ours)
        report = json.loads(kbc(ours, "merge", str(theirs), "--json", server=server).stdout)
        spent = tokens(ours)[0] - before[0]
        print(f"merge: {spent:,} tokens in {tokens(ours)[1] - before[1]} requests; "
              f"{len(report['compiled']['new'])} sources extracted again; consolidation asked "
              f"{report['replay']['asked']} of the union's {report['replay']['pairs']} candidate pairs")
        print(f"merge token fraction of compiling the union: {spent / union_tokens[0]:.1%}")
        a, b, c = shape(union), shape(ours), shape(tmp / "incremental")
        print(f"incremental (the other half's notes compiled into ours): {tokens(tmp / 'incremental')[0] - before[0]:,}"
              f" tokens; pages whose links differ from the union {sum(a.get(k) != c[k] for k in c)}, "
              f"pages not in the union {len(set(c) - set(a))}")
        for name in sorted(k for k in c if a.get(k) != c[k])[:20]:
            print(f"  incremental differs: {name}: union-only {sorted(a.get(name, set()) - c[name])[:4]}, "
                  f"incremental-only {sorted(c[name] - a.get(name, set()))[:4]}")
        differing = [k for k in set(a) & set(b) if a[k] != b[k]]
        print(f"pages: union {len(a)}, merged {len(b)}; only in union {len(set(a) - set(b))}, only merged "
              f"{len(set(b) - set(a))}; pages whose links differ {len(differing)}")
        for name in sorted(set(a) ^ set(b))[:10]:
            print(f"  {'union only ' if name in a else 'merged only'}: {name}")
        # A pair one vault decided about although compiling the union never asked it: the
        # merged vault knows more (a "different" keeps the two off each other's Related).
        du, dm = decided(union), decided(ours)
        extra = {pair: dm[pair] for pair in dm if du.get(pair) != dm[pair]}
        missing = {pair: du[pair] for pair in du if dm.get(pair) != du[pair]}
        print(f"page pairs decided: union {len(du)}, merged {len(dm)}; merged only {len(extra)}, "
              f"union only {len(missing)}")
        for pair, relation in sorted(extra.items(), key=lambda p: sorted(p[0])):
            print(f"  decided only in the merged vault: {' / '.join(sorted(pair))}: {relation}")
        for pair, relation in sorted(missing.items(), key=lambda p: sorted(p[0])):
            print(f"  decided only in the union: {' / '.join(sorted(pair))}: {relation}")
        shutil.copytree(union, tmp / "union with both halves' decisions")
        added = add_decisions_of(ours, tmp / "union with both halves' decisions")
        compile_at(tmp / "union with both halves' decisions", server)
        d = shape(tmp / "union with both halves' decisions")
        print(f"the union given the {added} decisions only the merged vault holds: pages whose links differ "
              f"from the merged vault {sum(d.get(k) != b[k] for k in b)}, pages not in the merged vault "
              f"{len(set(d) - set(b))}")
        touched = {Path(name).stem for pair in extra | missing for name in pair}
        for name in sorted(differing):
            why = " (a page of a pair decided on one side only)" if Path(name).stem in touched else ""
            print(f"  links differ: {name}: union-only {sorted(a[name] - b[name])[:4]}, "
                  f"merged-only {sorted(b[name] - a[name])[:4]}{why}")


if __name__ == "__main__":
    main()
