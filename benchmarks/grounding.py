"""How often write-time grounding rejects good prose, and how much degenerate text it catches.

Good prose: for each concept a strong real model extracted from the corpus
(../shared/corpus/extractions), the paragraphs such a model would write from it: its
definition and claims, paraphrased (framing words, a connective, synonyms for common verbs)
and, separately, joined verbatim. Evidence is what compile sends: the concept's definition
and claims; names are the request's concept names, aliases and source title.

Degenerate: repetition loops (long and short), paragraphs of another concept (another source,
and the same source), good prose with an off-topic sentence added, with an invented name, and
with a link to a page not in the request. Also the committed demo wiki's concept paragraphs.

    .venv/bin/python benchmarks/grounding.py [--show N]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kbc.compile.grounding import ungrounded  # noqa: E402
from kbc.vault.frontmatter import split  # noqa: E402

EXTRACTIONS = REPO.parent / "shared" / "corpus" / "extractions"

SYNONYMS = {
    "uses": "employs", "use": "employ", "used": "employed", "shows": "demonstrates",
    "makes": "produces", "gets": "obtains", "large": "big", "big": "large", "fast": "quick",
    "quickly": "rapidly", "relies": "depends", "needs": "requires", "requires": "needs",
    "ensures": "guarantees", "allows": "lets", "lets": "allows", "important": "significant",
    "many": "numerous", "often": "frequently", "helps": "aids", "begins": "starts",
    "starts": "begins", "simple": "straightforward", "hard": "difficult", "difficult": "hard",
    "gives": "provides", "keeps": "maintains", "finds": "discovers", "chooses": "selects",
    "picks": "selects", "small": "little", "whole": "entire", "enough": "sufficient",
}
# A heavier rewording: more of the writer's own verbs and qualifiers, and a bridging clause.
REWORDING = {
    "is": "serves as", "has": "carries", "can": "is able to", "each": "every", "new": "fresh",
    "only": "solely", "never": "at no point", "when": "whenever", "before": "prior to",
    "after": "once", "because": "since", "so": "so that", "must": "has to", "first": "initially",
    "again": "once more", "holds": "keeps", "sends": "transmits", "asks": "requests",
    "returns": "hands back", "stores": "saves", "reads": "fetches", "writes": "records",
    "becomes": "turns into", "runs": "executes", "works": "functions", "takes": "needs",
    "wins": "obtains", "fails": "breaks down", "better": "superior", "slightly": "somewhat",
    "roughly": "approximately", "easier": "simpler", "standard": "conventional",
}
BRIDGES = [", which is central to how it behaves", ", a point the source makes explicitly",
           ", and this is what the design depends on", ", as the source explains in detail"]
CONNECTIVES = ["Moreover, ", "In addition, ", "According to the source, ", "Notably, ",
               "In practice, ", "As the source explains, ", "", "", "Furthermore, ", "Importantly, "]
INVENTED = ["It was first described by Leslie Lamport at Microsoft in 1998.",
            "Google adopted it widely in its Bigtable deployments.",
            "The approach was later standardised by the IETF as RFC 7231."]


@dataclass
class Case:
    kind: str  # "good:…" or "bad:…"
    text: str
    evidence: list[str]
    names: set[str]


def concepts() -> list[dict]:
    rows = []
    for path in sorted(EXTRACTIONS.glob("*.json")):
        data = json.loads(path.read_text())
        if "concepts" not in data:
            continue
        all_names = {c["name"] for c in data["concepts"]} | {a for c in data["concepts"] for a in c["aliases"]}
        for concept in data["concepts"]:
            rows.append({"source": data["title"], "name": concept["name"], "aliases": concept["aliases"],
                         "definition": concept["definition"],
                         "claims": [c["text"] for c in concept["claims"]],
                         "names": all_names | {data["title"]}})
    return rows


def sentences(concept: dict) -> list[str]:
    out = [concept["definition"]] + concept["claims"]
    return list(dict.fromkeys(" ".join(s.split()) for s in out if s.strip()))


def paraphrase(concept: dict, rng: random.Random) -> list[str]:
    """Paragraphs a strong model would write: the concept's sentences, reworded a little."""
    name = concept["name"]
    written = []
    for index, sentence in enumerate(sentences(concept)):
        sentence = sentence.rstrip()
        if not sentence.endswith((".", "!", "?")):
            sentence += "."
        if index == 0 and re.match(r"(A|An|The) ", sentence):
            sentence = f"{name} is {sentence[0].lower()}{sentence[1:]}"
        else:
            sentence = re.sub(r"^(It|This|They)\b", name, sentence)
            connective = rng.choice(CONNECTIVES)
            if connective and not _keeps_capital(sentence, concept):
                sentence = connective + sentence[0].lower() + sentence[1:]
            elif connective:
                sentence = connective + sentence
        sentence = re.sub(r"\b[a-z]+\b", lambda m: SYNONYMS.get(m.group(0), m.group(0))
                          if rng.random() < 0.7 else m.group(0), sentence)
        written.append(sentence)
    return [" ".join(written[i:i + 3]) for i in range(0, len(written), 3)]


def reword(paragraph: str, rng: random.Random) -> str:
    """The stress test: every common verb and qualifier swapped, and a bridging clause added."""
    text = re.sub(r"\b[a-z]+\b", lambda m: REWORDING.get(m.group(0), m.group(0)), paragraph)
    first_end = text.find(". ")
    cut = first_end if first_end > 0 else len(text.rstrip("."))
    return text[:cut] + rng.choice(BRIDGES) + text[cut:]


def _keeps_capital(sentence: str, concept: dict) -> bool:
    first = sentence.split()[0].strip(",.:;")
    return first.isupper() or any(first in n.split() for n in concept["names"])


def loops(concept: dict, rng: random.Random) -> list[Case]:
    """What a tiny model stuck in a loop writes (the demo wiki's SmolLM2 pages, issue 15)."""
    words = concept["definition"].split()
    head = " ".join(words[:rng.randint(6, 10)])
    long_loop = f"This is {head} " + " ".join([head] * 4)
    long_loop = " ".join(long_loop.split()[:45])
    short = f"{concept['name']} {concept['name'].lower()} {concept['name'].lower()}."
    again = " ".join([sentences(concept)[0]] * 2)
    cut = " ".join(concept["definition"].split()[:-2])
    evidence, names = evidence_of(concept), concept["names"]
    return [Case("bad:long loop", long_loop, evidence, names),
            Case("bad:short repetition", short, evidence, names),
            Case("bad:sentence repeated", again, evidence, names),
            Case("bad:cut off mid-sentence", cut, evidence, names)]


def evidence_of(concept: dict) -> list[str]:
    return [concept["definition"], *concept["claims"]]


def demo_wiki_cases() -> list[Case]:
    """The committed demo wiki's concept paragraphs against their source's extraction."""
    cases = []
    for page in sorted((REPO / "wiki" / "concepts").glob("*.md")):
        props, body = split(page.read_text())
        sources = [re.sub(r"^\[\[|\s*\(source\)\]\]$", "", s) for s in props.get("sources", [])]
        evidence, names = [], {props.get("title", page.stem), page.stem}
        for source in sources:
            fixture = EXTRACTIONS / f"{source}.json"
            if fixture.exists():
                data = json.loads(fixture.read_text())
                for c in data["concepts"]:
                    evidence += [c["definition"], *(cl["text"] for cl in c["claims"])]
                    names |= {c["name"], *c["aliases"]}
        prose = body.split("\n## Sources", 1)[0]
        for block in prose.split("\n\n"):
            block = block.strip()
            if not block or block.startswith(("#", "*")):
                continue
            block = re.sub(r"\s*\((?:\[\[[^\]]+\]\](?:, )?)+\)$", "", block)
            cases.append(Case("demo:" + page.stem, block, evidence, names))
    return cases


def build_cases(seed: int = 15) -> list[Case]:
    rng = random.Random(seed)
    rows = concepts()
    cases: list[Case] = []
    by_source = defaultdict(list)
    for row in rows:
        by_source[row["source"]].append(row)
    good_of = {}
    for row in rows:
        paragraphs = paraphrase(row, random.Random(row["name"]))
        good_of[row["name"], row["source"]] = paragraphs
        evidence, names = evidence_of(row), row["names"]
        cases += [Case("good:paraphrased", p, evidence, names) for p in paragraphs]
        cases += [Case("good:heavily reworded (stress)", reword(p, rng), evidence, names) for p in paragraphs]
        verbatim = sentences(row)
        cases += [Case("good:verbatim join", " ".join(verbatim[i:i + 3]), evidence, names)
                  for i in range(0, len(verbatim), 3)]
    for row in rows:
        evidence, names = evidence_of(row), row["names"]
        own = good_of[row["name"], row["source"]][0]
        other = rng.choice([r for r in rows if r["source"] != row["source"]])
        far = good_of[other["name"], other["source"]][0]
        cases.append(Case("bad:another source's concept", far, evidence, names))
        siblings = [r for r in by_source[row["source"]] if r["name"] != row["name"]]
        if siblings:
            sib = rng.choice(siblings)
            cases.append(Case("bad:same source, other concept", good_of[sib["name"], sib["source"]][0],
                              evidence, names))
        far_sentence = re.split(r"(?<=\.) ", far)[0]
        cases.append(Case("bad:good + off-topic sentence", f"{own} {far_sentence}", evidence, names))
        told = " ".join(evidence) + " " + " ".join(names)
        invented = [s for s in INVENTED if not any(w in told for w in re.findall(r"\b[A-Z]\w+", s)[1:])]
        cases.append(Case("bad:good + invented name", f"{own} {rng.choice(invented)}", evidence, names))
        unknown = rng.choice([r["name"] for r in rows if r["name"] not in names])
        cases.append(Case("bad:link not in request", f"{own} See also [[{unknown}]].", evidence, names))
        cases += loops(row, rng)
    return cases + demo_wiki_cases()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=3, help="Examples to print per row with a miss.")
    args = parser.parse_args()
    if not EXTRACTIONS.is_dir():
        sys.exit(f"benchmark needs the corpus extractions at {EXTRACTIONS}")
    cases = build_cases()
    start = time.perf_counter()
    verdicts = [(case, ungrounded(case.text, case.evidence, case.names)) for case in cases]
    elapsed = time.perf_counter() - start
    rows = defaultdict(list)
    for case, reason in verdicts:
        rows[case.kind if not case.kind.startswith("demo:") else "demo: committed wiki (SmolLM2)"].append((case, reason))
    print(f"{'case':<36} {'n':>4} {'rejected':>9}")
    totals = {"good": [0, 0], "bad": [0, 0]}
    for kind in sorted(rows):
        items = rows[kind]
        rejected = sum(bool(r) for _, r in items)
        print(f"{kind:<36} {len(items):>4} {rejected / len(items):>9.1%}")
        group = kind.split(":")[0]
        if group in totals:
            totals[group][0] += rejected
            totals[group][1] += len(items)
        wrong = [(c, r) for c, r in items if bool(r) != (group != "good")]
        for case, reason in wrong[:args.show]:
            print(f"    {'REJECTED' if reason else 'PASSED'}: {case.text[:400]!r}" + (f"\n      why: {reason}" if reason else ""))
    good, bad = totals["good"], totals["bad"]
    print(f"\nfalse rejects on good prose: {good[0]}/{good[1]} = {good[0] / good[1]:.1%}")
    print(f"caught degenerate text:      {bad[0]}/{bad[1]} = {bad[0] / bad[1]:.1%}")
    print(f"{len(cases)} paragraphs checked in {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    main()
