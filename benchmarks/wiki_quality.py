"""Wiki quality on the corpus, compiled with a real model's extractions and a perfect consolidator.

Compiles the 15 corpus sources (benchmarks/corpus_vault.py) against the scripted server with
the fixture model (tests/fixture_model.py), then scores the wiki on disk against
../shared/corpus/extractions/gold.json and gold_mentions.json (kbc never reads those):

- same merged: gold same-concept groups whose members all landed on one page, and pairs;
- distinct apart: gold hard negatives on two different pages;
- related linked: gold related pairs whose pages link in either direction (aliases and
  redirects resolved; code-made backlinks sections ignored), all and cross-source;
- multi-source: gold concepts discussed by 2+ sources (fixture extractions + gold mentions)
  whose page's `sources` front matter names every one of them;
- generic titles: gold too-generic names still a page's title;
- orphans: concept pages that no other concept page links to; dangling: links anywhere in
  wiki/ that land nowhere; lint: `kbc lint`'s problems on the fresh compile, by check;
- tokens: prompt tokens per source token by request kind, from the ledger in .kbc/kbc.db;
- mention lines: the lines of other sources added to articles' evidence, by their heading in
  the write prompt: how many, their tokens, and how many are on a source gold says discusses
  the concept and near a gold line there (benchmarks/mention_quality.py);
- candidate recall: of gold same / part_of / related pairs, the share the code put in front
  of the model in a consolidation request (as a pair asked, or for same pairs also as one
  concept already merged), recorded by the fixture model;
- claims judged: the claims of other sources the consolidation requests asked about (is this
  claim about that concept?), how many the model accepted, their prompt tokens per source token,
  the accepted ones gold_mentions supports (all, with the perfect fixture model: it accepts
  exactly those), and the code's share: of gold mention passages, those a claim within a line
  of them was asked about for their concept at all (and those any claim of that source's
  extraction lies within a line of: what asking could reach);
- a no-change rerun's requests, and the requests of adding one source to a compiled vault.

Notes. A claim filed under one concept that names another of its source is that one's too
(kbc/compile/extract.py naming_claims, at most 5 a concept, none restating one it has): related
pairs linked 75 -> 76 of 79, cross-source 28 -> 29 of 29, multi-source and claims judged unchanged
(31/34, 14 accepted, once claim judging asks such a claim once), 34 of 98 pages gain evidence
(Paxos Acceptor: its proposer's and chosen value's claims), prompt tokens per source token
1.385 -> 1.403 (write 0.238 -> 0.257), 38 requests (was 37), no-change rerun 0. Without the
restatement check, two pages repeated a claim in other words and fell back to their claims.

Run: .venv/bin/python benchmarks/wiki_quality.py [--json]
"""
from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import tempfile
from collections import Counter
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.corpus_vault import build_corpus_vault, compile_at, corpus_sources, ingest, lint_at  # noqa: E402
from benchmarks.mention_quality import score_mentions  # noqa: E402
from benchmarks.wiki_graph import Wiki  # noqa: E402
from kbc.vault.frontmatter import split  # noqa: E402
from tests.fixture_data import Gold, line_set, near_lines  # noqa: E402
from tests.fixture_model import FixtureModel  # noqa: E402
from tests.scripted import ScriptedServer, count_tokens  # noqa: E402

ADDED = "paxos-made-simple.pdf"
KINDS = {"source_extraction": "extract", "concept_decisions": "consolidate", "concept_articles": "write"}


def stage_kind(stage: str) -> str:
    stage = stage.lower()
    if "extract" in stage:
        return "extract"
    if any(w in stage for w in ("consol", "merge", "decid", "identity", "same")):
        return "consolidate"
    if any(w in stage for w in ("write", "article")):
        return "write"
    return "other"


def request_kinds(requests: list[dict]) -> dict[str, int]:
    titles = [((b.get("response_format") or {}).get("json_schema") or {}).get("schema", {}).get("title")
              for b in requests]
    return dict(Counter(KINDS.get(t, "other") for t in titles))


def ratio(hit: int, total: int) -> dict:
    return {"hit": hit, "total": total, "share": round(hit / total, 3) if total else 0.0}


# -- scoring the wiki ----------------------------------------------------------------------

def score_merges(wiki: Wiki, gold: Gold, page) -> dict:
    groups_full, pairs_hit, pairs_total = 0, 0, 0
    for group in gold.same:
        pages = [page(i) for i in group["ids"]]
        groups_full += None not in pages and len(set(pages)) == 1
        for a, b in combinations(pages, 2):
            pairs_total += 1
            pairs_hit += a is not None and a == b
    apart, unmapped, merged = 0, 0, []
    for pair in gold.distinct:
        a, b = page(pair["a"]), page(pair["b"])
        unmapped += a is None or b is None
        if a is not None and a == b:
            merged.append(f"{pair['a']} = {pair['b']}")
        else:
            apart += 1
    return {"same_groups_merged": ratio(groups_full, len(gold.same)),
            "same_pairs_merged": ratio(pairs_hit, pairs_total),
            "distinct_kept_apart": ratio(apart, len(gold.distinct)),
            "distinct_unmapped": unmapped, "distinct_merged": merged}


def score_links(wiki: Wiki, gold: Gold, page) -> dict:
    edges = wiki.concept_edges()
    found = {"all": [0, 0], "cross": [0, 0]}
    missing, folded = [], 0
    for pair in gold.related:
        a, b = page(pair["a"]), page(pair["b"])
        linked = a is not None and b is not None and a != b and (b in edges.get(a, ()) or a in edges.get(b, ()))
        folded += a is not None and a == b
        for scope in ("all", "cross") if pair.get("cross_source") else ("all",):
            found[scope][0] += linked
            found[scope][1] += 1
        if not linked:
            missing.append(f"{pair['a']} -- {pair['b']}")
    # Related sections: the share of their entries gold lists as related, part of or one concept
    # (gold is not exhaustive, so this is a lower bound on their precision).
    gold_pairs = {frozenset((page(p["a"]), page(p["b"]))) for p in gold.related}
    gold_pairs |= {frozenset((page(p["child"]), page(p["parent"]))) for p in gold.part_of}
    judged = {page(i) for p in [*gold.related] for i in (p["a"], p["b"])} | \
        {page(i) for p in gold.part_of for i in (p["child"], p["parent"])}
    entries = listed = 0
    for key, concept in wiki.concepts().items():
        section = concept.body.split("## Related", 1)[1].split("\n## ", 1)[0] if "## Related" in concept.body else ""
        for target in re.findall(r"\[\[([^\]|#]+)", section):
            other = wiki.resolve(target.strip())
            if other in edges and other != key and key in judged and other in judged:
                entries += 1
                listed += frozenset((key, other)) in gold_pairs
    incoming = Counter(t for targets in edges.values() for t in targets)
    orphans = sorted(wiki.concepts()[k].name for k in edges if not incoming[k])
    return {"related_linked": ratio(*found["all"]), "cross_source_linked": ratio(*found["cross"]),
            "related_entries_in_gold": ratio(listed, entries),
            "related_on_one_page": folded, "related_missing": missing,
            "concept_pages": len(edges), "orphans": ratio(len(orphans), len(edges)), "orphan_pages": orphans}


def score_sources(wiki: Wiki, gold: Gold, fixtures, page) -> dict:
    mentions = {m["concept"]: {d["source"] for d in m["also_discussed_in"]} for m in gold.mentions}
    units = {}
    for fixture in fixtures.values():
        for concept in fixture.concepts:
            rep = gold.representative(fixture.concept_id(concept))
            units.setdefault(rep, set()).add(fixture.stem)
    full, short = 0, []
    multi = {rep: stems | mentions.get(rep, set()) for rep, stems in units.items()
             if len(stems | mentions.get(rep, set())) >= 2}
    for rep, stems in sorted(multi.items()):
        key = page(rep)
        have = wiki.source_stems(wiki.pages[key]) if key else set()
        if stems <= have:
            full += 1
        else:
            short.append(f"{rep}: {len(stems & have)}/{len(stems)}, lacks {'; '.join(sorted(stems - have))}")
    generic_left, generic_unmapped = [], 0
    for concept_id in gold.generic:
        key = page(concept_id)
        generic_unmapped += key is None
        name = concept_id.split("::", 1)[1]
        if key and name.casefold() in (wiki.pages[key].title.casefold(), wiki.pages[key].name.casefold()):
            generic_left.append(wiki.pages[key].name)
    return {"multi_source_complete": ratio(full, len(multi)), "multi_source_short": short,
            "generic_titles_left": ratio(len(generic_left), len(gold.generic)),
            "generic_titles": sorted(set(generic_left)), "generic_unmapped": generic_unmapped}


def candidate_recall(model: FixtureModel, gold: Gold) -> dict:
    asked, listed = set(), []
    for request in model.consolidations:
        listed.extend(request.concepts.values())
        for _, a, b in request.pairs:
            asked.add((request.concepts.get(a, frozenset()), request.concepts.get(b, frozenset())))

    def seen(x: str, y: str, closure: bool) -> bool:
        gx = gold.group_of(x) if closure else {x}
        gy = gold.group_of(y) if closure else {y}
        return any((gx & a and gy & b) or (gy & a and gx & b) for a, b in asked)

    same = [(a, b) for g in gold.same for a, b in combinations(g["ids"], 2)]
    same_hit = sum(seen(a, b, False) or any({a, b} <= ids for ids in listed) for a, b in same)
    part_missed = [f"{p['child']} < {p['parent']}" for p in gold.part_of if not seen(p["child"], p["parent"], True)]
    related = sum(seen(r["a"], r["b"], True) for r in gold.related)
    return {"same": ratio(same_hit, len(same)), "part_of": ratio(len(gold.part_of) - len(part_missed),
                                                                  len(gold.part_of)),
            "related": ratio(related, len(gold.related)), "part_of_missed": part_missed,
            "requests": len(model.consolidations), "pairs_asked": sum(len(r.pairs) for r in model.consolidations),
            "unmapped_concept_lines": sum(len(r.unmapped) for r in model.consolidations)}


def claims_judged(model: FixtureModel, gold: Gold, source_tokens: int, wiki: Wiki, page) -> dict:
    asked = model.claims_asked
    accepted = [a for a in asked if a.about]
    passages = [(m["concept"], d["source"], line_set(d["lines"]))
                for m in gold.mentions for d in m["also_discussed_in"]]

    def supports(passage, a) -> bool:
        concept, stem, lines = passage
        return bool(gold.group_of(concept) & gold.closure(a.concept)) and a.source == stem \
            and near_lines(a.lines, lines)

    supported = [a for a in accepted if any(supports(p, a) for p in passages)]
    tokens = sum(count_tokens(a.text) + 6 for a in asked)

    def reachable(stem: str, lines: set) -> bool:
        fixture = model.fixtures.get(stem)
        return bool(fixture) and any(near_lines(line_set(c["lines"]), lines)
                                     for concept in fixture.concepts for c in concept["claims"])

    put = [p for p in passages if any(supports(p, a) for a in asked)]
    def needed(concept: str, stem: str) -> bool:
        """The concept's page lacks the source, or has it only through an accepted claim."""
        key = page(gold.representative(concept))
        if key is None or stem not in wiki.source_stems(wiki.pages[key]):
            return True
        return any(a.about and a.source == stem and gold.group_of(concept) & gold.closure(a.concept) for a in accepted)

    wanted = [p for p in passages if needed(p[0], p[1])]
    missed = [f"{c} <- {s} l.{','.join(map(str, sorted(lines)))}" for c, s, lines in wanted
              if reachable(s, lines) and (c, s, lines) not in put]
    return {"asked": len(asked), "accepted": len(accepted), "accepted_in_gold": ratio(len(supported), len(accepted)),
            "prompt_tokens": tokens,
            "prompt_per_source_token": round(tokens / source_tokens, 3) if source_tokens else 0,
            "gold_passages_asked": ratio(len(put), len(passages)),
            "gold_passages_reachable": sum(reachable(s, lines) for _, s, lines in passages),
            "needed_passages_asked": ratio(sum(p in put for p in wanted), len(wanted)),
            "needed_passages_reachable": sum(reachable(s, lines) for _, s, lines in wanted),
            "gold_passages_missed": missed,
            "accepted_claims": [f"{'+'.join(sorted(a.concept))} <- {a.source}: {a.text}" for a in accepted]}


def token_use(root: Path) -> dict:
    source_tokens = 0
    for path in (root / "raw").rglob("*.md"):
        if "attachments" not in path.relative_to(root / "raw").parts:
            source_tokens += (len(split(path.read_text(encoding="utf-8"))[1]) + 3) // 4
    db = sqlite3.connect(root / ".kbc" / "kbc.db")
    rows = db.execute("select stage, count(*), sum(prompt_tokens), sum(completion_tokens) from requests "
                      "where from_cache = 0 group by stage").fetchall()
    db.close()
    kinds: dict[str, dict] = {}
    for stage, n, prompt, completion in rows:
        entry = kinds.setdefault(stage_kind(stage), {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                     "stages": []})
        entry["requests"] += n
        entry["prompt_tokens"] += prompt or 0
        entry["completion_tokens"] += completion or 0
        entry["stages"].append(stage)
    for entry in kinds.values():
        entry["prompt_per_source_token"] = round(entry["prompt_tokens"] / source_tokens, 3)
    total = sum(e["prompt_tokens"] for e in kinds.values())
    return {"source_tokens": source_tokens, "kinds": kinds,
            "prompt_per_source_token": round(total / source_tokens, 3)}


# -- the runs ------------------------------------------------------------------------------

def measure(tmp: Path, add_one: bool = True) -> dict:
    model = FixtureModel()
    with ScriptedServer(model) as server:
        root = build_corpus_vault(tmp / "corpus", server)
        first = len(server.requests)
        wiki = Wiki.read(root, model.fixtures)
        tokens = token_use(root)
        lint = Counter(p.get("check", "?") for p in lint_at(root, server))
        compile_at(root, server)
        rerun = len(server.requests) - first
    gold = model.gold
    cache: dict[str, str | None] = {}

    def page(concept_id: str):
        if concept_id not in cache:
            cache[concept_id] = wiki.page_of(concept_id, gold.generic)
        return cache[concept_id]

    result = {"sources": len(wiki.summary_of), "requests": first, "rerun_requests": rerun,
              **score_merges(wiki, gold, page), **score_links(wiki, gold, page),
              **score_sources(wiki, gold, model.fixtures, page),
              "dangling": len(wiki.dangling()), "dangling_links": [f"{a} -> {b}" for a, b in wiki.dangling()][:40],
              "lint_problems": dict(lint), "tokens": tokens, "candidate_recall": candidate_recall(model, gold),
              "claims": claims_judged(model, gold, tokens["source_tokens"], wiki, page),
              "unmapped_fixture_concepts": sorted(i for i, k in cache.items() if k is None),
              "unmatched_sources": model.unmatched_sources,
              **score_mentions(model.evidence, wiki, gold, model.fixtures, root, page, tokens["source_tokens"])}
    if add_one:
        result["add_one"] = add_one_source(tmp / "add")
    return result


def add_one_source(root: Path) -> dict:
    """Compile the corpus without ADDED, then add it: what that second run sends, by kind."""
    sources = corpus_sources()
    added = next(s for s in sources if s.name == ADDED)
    with ScriptedServer(FixtureModel()) as server:
        build_corpus_vault(root, server, [s for s in sources if s != added])
        before = len(server.requests)
        ingest(root, [added])
        report = compile_at(root, server)
        sent = server.requests[before:]
    return {"source": ADDED, "requests": len(sent), "by_kind": request_kinds(sent),
            "pages_written": len(set(report.get("written", [])))}


def show(r: dict) -> None:
    def frac(d):
        return f"{d['hit']}/{d['total']} ({d['share']:.0%})"

    cr = r["candidate_recall"]
    rows = [
        ("same-concept groups merged", frac(r["same_groups_merged"])),
        ("same-concept pairs merged", frac(r["same_pairs_merged"])),
        ("distinct pairs kept apart", frac(r["distinct_kept_apart"])
         + (f"  [{r['distinct_unmapped']} with an unmapped side]" if r["distinct_unmapped"] else "")),
        ("related pairs linked", frac(r["related_linked"])),
        ("  cross-source", frac(r["cross_source_linked"])),
        ("Related entries gold lists (both judged)", frac(r["related_entries_in_gold"])),
        ("multi-source concepts drawing on all", frac(r["multi_source_complete"])),
        ("too-generic titles left", frac(r["generic_titles_left"])),
        ("concept pages without incoming concept link", frac(r["orphans"])),
        ("dangling links (whole wiki)", str(r["dangling"])),
        ("lint problems after a fresh compile", str(sum(r["lint_problems"].values()))
         + "".join(f"  {k} {v}" for k, v in sorted(r["lint_problems"].items()))),
        ("candidate recall: same pairs", frac(cr["same"])),
        ("candidate recall: part_of pairs", frac(cr["part_of"])),
        ("candidate recall: related pairs", frac(cr["related"])),
        ("consolidation requests / pairs asked", f"{cr['requests']} / {cr['pairs_asked']}"),
    ]
    c = r["claims"]
    rows += [
        ("claims judged: asked / accepted", f"{c['asked']} / {c['accepted']}  ({c['prompt_tokens']:,} prompt tokens, "
         f"{c['prompt_per_source_token']:.3f}/source token)"),
        ("  accepted that gold_mentions supports", frac(c["accepted_in_gold"])),
        ("candidate recall: gold mention passages", frac(c["gold_passages_asked"])
         + f"  [{c['gold_passages_reachable']} within a line of a claim of that source]"),
        ("  on a source the page lacks without them", frac(c["needed_passages_asked"])
         + f"  [{c['needed_passages_reachable']} within a line of a claim]"),
    ]
    for heading, m in sorted(r["mention_lines"].items()):
        label = "naming it" if "name it" in heading else heading
        rows.append((f"mention lines {label[:30]}", f"{m['lines']} lines, {m['tokens']:,} tokens "
                     f"({m['tokens_per_source_token']:.3f}/source token)"))
        rows.append(("  on a source gold says discusses it", f"{m['discussing_source']}/{m['lines']} "
                     f"({m['source_precision']:.0%})"))
        rows.append(("  near a gold line of that source", f"{m['near_gold_line']}/{m['lines']} "
                     f"({m['line_precision']:.0%})"))
    t = r["tokens"]
    for kind in ("extract", "consolidate", "write", "other"):
        if kind in t["kinds"]:
            e = t["kinds"][kind]
            rows.append((f"prompt tokens / source token: {kind}",
                         f"{e['prompt_per_source_token']:.3f}  ({e['requests']} requests)"))
    rows.append(("prompt tokens / source token: total", f"{t['prompt_per_source_token']:.3f}  "
                 f"({t['source_tokens']:,} source tokens)"))
    rows.append(("compile requests / no-change rerun", f"{r['requests']} / {r['rerun_requests']}"))
    if "add_one" in r:
        a = r["add_one"]
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(a["by_kind"].items()))
        rows.append((f"add {a['source']}", f"{a['requests']} requests ({kinds})"))
    width = max(len(label) for label, _ in rows)
    print(f"corpus: {r['sources']} sources, {r['concept_pages']} concept pages")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    if r["unmapped_fixture_concepts"]:
        print(f"fixture concepts with no page found: {len(r['unmapped_fixture_concepts'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print every figure (and the misses) as JSON")
    parser.add_argument("--no-add", action="store_true", help="skip the add-one-source run (halves the time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(Path(tmp), add_one=not args.no_add)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        show(result)


if __name__ == "__main__":
    main()
