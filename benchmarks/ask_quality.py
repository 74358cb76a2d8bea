"""Ask quality: does retrieval put the evidence in front of the model, and at what price?

The corpus compiled from a strong real model's extractions (benchmarks/corpus_vault.py with
tests/fixture_model.py), then the 14 questions of ../shared/corpus/extractions/questions.json.
Per question and in total:
- evidence recall: each gold concept page given to the model, each key fact's quote (letters and
  digits, case-folded) present in the prompt `kbc ask` sent;
- prompt tokens and pages read;
- the agent comparison: tokens of the whole raw notes holding the facts (what an agent reads
  without kbc) against `kbc context` for the same question; "equal recall" adds, for each fact
  the pack misses, the raw note holding it (the agent would have to read it after all);
- a second pass after saving every answer: no answer may use a saved answer as evidence;
- PARAPHRASES: each question reworded, asked before any answer is saved and printed last, to
  catch ranking fitted to the original wording.

Notes (retrieval as of claim votes): of the facts still missed, five sit in lines no page or
claim cites ("walking the ring clockwise" for "how does Dynamo use consistent hashing"), the
rest in lines a less relevant concept page cites, outranked by sentences matching the
question's most written-about side. Tried and rejected (no gain on either wording, or a gain on
one only): taking turns between citing pages or between claims' concepts, a question word
counting less once a chosen sentence holds it, dropping near-duplicate sentences (the dropped
one was the quoted one), more pages voting, a page's vote spread over the sentences it cites,
linked concepts' claims voting, rewarding short sentences, pages' names and descriptions as
extra query terms, compact description-only pages; a sentence index over all notes (BM25 from
the question alone ranks a fact's sentence in the top 100 of the 4,228 for 0.50 of the facts,
0.34 reworded) and a static embedding model shipped with its weights on PyPI (wordllama
l2_supercat: 0.39 / 0.30 alone; as an extra signal in packs no gain on either wording).
Then (issue 12, second pass): kept a sentence opening with a back-reference ("This", "Thus",
"To do so") brought with the one before it, running heads dropped, the question's words at half
the votes' weight, pages at most a fifth of a small pack, deterministic typo correction (the same
question gave different packs in different processes). Rejected by measurement: a claim's vote
only for the sentence it restates best (or scaled by it), the restated sentence of each claim
boosted, a bonus for sentences opening with a phrase of the question, a back-reference reaching
into the previous paragraph, a continuation ("So ...") lifted to its predecessor's score, other
weights (claims, page prior and vote, sources, page count, named-page bonus, links) moved either
way: each helped one wording or budget and cost another. Of the facts no page or claim cites,
three lie inside what the real model's claims cited (Dynamo 333-359, random trees 75-81, Forward
Pass 22-41): tests/fixture_model.py narrows a claim to where its truncated quote ends
(333-337, 75, 22-34); a fixture keeping the stated span (start where the quote sits) lifts a 4K
pack from 0.914 to 0.943 (reworded 0.871 to 0.886) and leaves two facts uncited.
Then (issue 12, third pass: a pack that stops when the evidence is there). Packs keep to their
budget now (they ran 50-90 tokens over; the honest 1K pack holds 0.657, reworded 0.600, in 980
tokens, was 0.686 / 0.643 in 1,091). Stop rules simulated on the ranked sentences of an 8K pack,
against the budget curve at equal tokens, all within 3 facts of 70 of it on either wording: a
relative score floor alone (0.3-0.5 of the best, no vouching), an absolute floor (0.6-1.2), the
knee of the sorted score curve (+0-100%), a floor per source (0.4-0.6 of its best), a share of
the score mass (0.5-0.85), every weighted question term (or every one some candidate holds) in
1-5 chosen sentences (+0-100%). Scores fall smoothly (the 40th sentence still scores about half
the best) and facts sit at 0.22-1.0 of the best, so a floor saves tokens at the rate a smaller
budget does, and drops facts at that rate too. Measured, before the budget fix: a floor without
the pages' vouching (0.3 of the best): ask 0.943 / reworded 0.886 at 3.4K / 4.5K prompt tokens
(was 0.971 / 0.943 at 5.3K / 5.8K); an absolute floor of 1.0: a 4K pack 0.943 in 2.7K tokens
(5.5x raw@pack) but reworded 0.843, ask 0.943 / 0.871; after it, the floor at 0.4 or 0.45 of the
best, vouching kept: ask 0.957 at 4.6K / 4.3K. Kept: 0.35 (was 0.3), vouching kept: no fact lost
at any budget or wording, a 6K pack 4,582 tokens (was 4,837; reworded 5,076, was 5,188), ask
4.9K / 5.5K prompt tokens (were 5.2K / 5.7K). No stop rule reaches 10x: a floor binds only at
3K and up, and at 1-1.5K, where raw@pack is near 10x, the budget binds first; 10x at recall 0.94
needs the facts in the first ~1.5K tokens of the ranking (they lie within the first ~4K). At 1K
a quarter of a pack is headers, link and citation lists, note names and the query (233 of 981).
Then (issue 12, fourth pass: a denser pack, kbc/search/packformat.py). Kept: each quoted source
gets a short id ([S1]) given once on its block beside its note; pages say "cites [S1]" and their
text's links to it read [S1]; excerpts read "12-13: text"; a page's links are only the pages the
question also matches; no "# Title" under the block's header; the query is not repeated. A
pack's first 1,500 tokens are all source lines (page text, 100-300 tokens of a small pack, held
fewer facts per token than the lines it displaced); the pages that get no room are named in one
line ("Pages on this, not given here: [[Chubby]] (cites [S1], [S2])"). Sentences are picked again
in what the last pick left or overran, so a pack spends its budget (denser, it ran 40-60 under).
At 1K the scaffolding is 149 of 991 tokens (was 233 of 981, plus 101 of page text); a 1K pack
holds 0.700 / reworded 0.686 of the facts, 12.5x / 12.1x raw@pack (was 0.671 / 0.600, 11.8x /
8.7x); 1.5K 0.814 / 0.757, 9.3x / 8.2x (was 0.743 / 0.686, 9.1x / 8.1x); 2K 0.871 / 0.771;
4K and 6K unchanged (0.943 / 0.886, 0.971 / 0.943). Page text's share of a small pack measured
at 0.05-0.3 of the budget and from the first 1,000, 1,500 and 2,000 tokens (2,000 lost a fact at
3K). Rejected by measurement (each within one or two facts of the above, up on one wording or
budget and down on another): a sentence's score decayed by 0.93-0.97 for each sentence before it
from the same source (turns between sources: down 1-8 facts), its paragraph's BM25 added to its
own (0.3, 0.6), its paragraph's best other sentence's score added (0.15, 0.3), the question's
terms weighted by their presence in the best 2-8 pages (pseudo-relevance feedback: graded with a
floor of 0.3-0.5, by page score, or present in any), a term's weight within a source's sentences
by its rarity there (the title's words say nothing about which of a paper's sentences matters;
mixed 0.5 and 1.0), a term's wiki weight times (or the geometric mean with) its rarity among the
raw notes, against instruction words the wiki lacks ("define", "explain"): reworded 4K 0.929 and
6K 0.957, but 1-1.5K down 2-3 facts on both wordings; a concept's aliases in its claims' words
(down 1-2 facts at 1-2K). Still short of 10x at 1.5K: raw@pack there is 13.6K / 11.9K of 16.3K, so
the multi-source questions miss their second source's facts (Dynamo's ring and its partitioning
strategies, Chubby's master lease and 12s extension rank 60-120th), and a reworded question's
instruction words ("define", "explain", "role") are rare in the wiki and weigh most.
Then (issue 12, fifth pass: instruction words by general English, kbc/search/generality.py).
Kept: a question term's wiki IDF times min(1, its wiki frequency / its English frequency)^2
(wordfreq's list; 0.1 occurrence credited to a word the wiki lacks; a word English lacks is a
topic word): "define" 4.77 -> 0.2, "explain" 3.41 -> 0.3, "help" 2.87 -> 0.4, "lease" and
"Chubby" unchanged. Original wording: 1K 0.714 (was 0.700), 4K 0.957 at 4.6x raw@pack (was
0.943, 4.2x), other budgets unchanged; reworded unchanged at every budget (1K 0.686 12.1x, 1.5K
0.757 8.2x, 4K 0.886 3.8x); ask at 5.5K 0.971 in 3,812 prompt tokens (was 0.957 in 3,817),
reworded 0.900; at 8K 0.971 in 4,938 (was 4,976), reworded 0.943 in 5,559 (5,604). One fact
each, within noise, but none lost anywhere. Rejected: the wiki's share of a word's frequency,
wiki / (wiki + English), as the factor (0.5 occurrence credited; squared or not): it weighs
down words the wiki uses often too ("changes": the linear-classifier question lost "tiny
changes" at 1.5K, 0.786, down 2 facts), though squared it lifts a reworded 4K to 0.914; the
capped ratio unsquared, or crediting 0.5: reworded 1.5K down one. The reworded questions'
misses are not their instruction words: they use other words for the facts' ("step size" for
learning rate, "writable" for writes, "stay available" for "always writeable").
Rejected for the second source (Dynamo's ring facts rank 62nd, 86th and 565th of the sentences
for the consistent-hashing question, Chubby's 12s extension 40th): each topic term (weighing at
least 0.5 or 0.7 of the heaviest) not in the page text first brings its best sentence: 1K down
one fact on each wording, 1.5K and 4K unchanged; each source holding a topic term no better
source holds first brings its best two sentences: 1.5K down one, the rest unchanged. The facts
of a second source are not its best-matching sentences, so covering it first buys other lines.
Then (issue 12, sixth pass: the ask budget is the session's, kbc/ask evidence_room). A first
question leaves room for one follow-up: its instructions, its answer and 1,000 tokens of new
pages (FOLLOW_UP_TOKENS, the smallest pack benchmarked); before, a first question could read
6.8K of 8K and its follow-up got no new pages at all. At the default 8K: ask 0.971 in 3,958
prompt tokens (was 0.971 in 4,938), reworded 0.943 in 4,186 (was 0.943 in 5,559); packs
unchanged. Not chosen: half the budget for a first question's pages (generic too, but a 4K
pack: reworded 0.886, below the 0.900 of --ask-budget 5500). Ask budgets before it, asking
the original wording first (one fact less at 5,500 than the benchmark's order): 5,000 0.957 /
0.886 in 3.4K / 3.5K prompt tokens; 5,500 0.957 / 0.900 in 3.8K / 4.0K; 6,000 0.957 / 0.943
in 4.1K / 4.4K.
Rejected for packs (budgets 1K / 1.5K / 4K, original then reworded; before: 0.714 / 0.814 /
0.957, 0.686 / 0.757 / 0.886): a source block named for its note ("X (source)" for raw/X.md)
naming only the note's folder, not the title again (10-30 tokens a block): 0.700 / 0.829 /
0.957, 0.686 / 0.743 / 0.886, the ratios unchanged (the tokens buy other lines); the concept
graph, a page linking two or more of the pages the question names (Virtual Node for Dynamo and
consistent hashing) joining the voters with its score times 1.15-1.5: reworded 4K 0.914
(4.1x), original 1.5K up to 0.843, but reworded 1K 0.671 (10.8x raw@pack, was 12.1x) at every
weight: hubs (Chubby, linear classifier) link both names from a dozen pages. Not tried: the
page index's aliases as query expansion: the wiki has 44, spelling variants ("Paxos
algorithm", "RNN"), and none bridges a reworded gap ("step size", "writable").
Then (issue 12, seventh pass: a real model's reading, ../shared/tools/relay_llm.py with a helper
as the model, six questions not in questions.json). Kept, each a general rule: a sentence a PDF's
page or column break cut (the paragraph left open, the next one going on in lower case, with a
page marker, a line printed on every page, a figure's letterless text or a short label between;
a word hyphenated across) is read whole: original 1.5K 0.829 (was 0.814), every other budget and
wording unchanged; a follow-up is looked up with the question it follows at half weight; "see
also" keeps only saved answers citing a page the question reads (an RNN question listed the
Chubby and Dynamo answers); an answer's sources are the pages it was given. The ask prompt now
says what a "(source)" page holds (the model was told lines come at a page's end): worded in 819
characters instead of 613 it cost the reworded ask three facts (0.900, its pages' room 50 tokens
less); the kept wording is 596 characters: ask 0.971 in 3,950 prompt tokens, reworded 0.943 in
4,185, after saving 0.957 (question 1, at its budget's edge, lost one fact of its second source).
Then (issue 12, eighth pass: a relay run on three unseen news pages, two questions). Kept: a page
given whole goes without its Related and Sources lists, as a cut page did (the model took them
for pages it was given): recall unchanged, gold pages read 11 -> 12, reworded 3K 0.857 -> 0.843.
Rejected: citations left out of the search index (there, every page citing a source matched its
title's words, and a question about Apple and the enterprise got the page of the man who
introduced Tim Cook): ask 0.971 -> 0.957, reworded 0.943 -> 0.886, a 1.5K pack 0.829 -> 0.800; on
the papers a cited source's title ("Dynamo") is how its concept pages are found.
Then (issue 12, ninth pass, kept for what the wiki gains, not for retrieval): a quotation comes
with the sentence naming its speaker and a quoted passage the splitter cut comes whole (packs
within a fact of 70 at every budget: 1K 50 -> 49, 2K 61 -> 62); compile files a claim that names a
second concept of its source under that one too (extract.naming_claims: the relay run's Tim Cook
page lacked his own words, filed under Apple Inc.), and such a claim votes once in retrieval (as
its own concept's; voting twice cost two more facts at 1.5K). Together, against the eighth pass:
ask 0.971 -> 0.957 in 3,998 prompt tokens (was 3,951; the Paxos pages are longer), after saving
0.957 -> 0.943, reworded 0.943 -> 0.957; packs original 1K 0.714, 1.5K 0.829 -> 0.786, 2K 0.871 ->
0.886, 4K 0.957; reworded 1K 0.686 -> 0.657, 1.5K 0.757, 4K 0.886 -> 0.914.

Run: .venv/bin/python benchmarks/ask_quality.py [--vault DIR] [--budget 4000]
(--vault reuses a corpus vault built earlier, e.g. by a previous run with --keep DIR.)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.corpus_vault import CORPUS, build_corpus_vault  # noqa: E402
from kbc.ask import ask, save_answer  # noqa: E402
from kbc.llm import LLM, OpenAIBackend, Templates, estimate_tokens  # noqa: E402
from kbc.search import refresh_index  # noqa: E402
from kbc.search.context import build_context  # noqa: E402
from kbc.search.pageinfo import PageCache  # noqa: E402
from kbc.vault import Vault  # noqa: E402
from kbc.vault.frontmatter import split  # noqa: E402
from tests.fixture_data import name_key, norm  # noqa: E402
from tests.fixture_model import FixtureModel  # noqa: E402
from tests.scripted import ScriptedServer  # noqa: E402

QUESTIONS = CORPUS / "extractions" / "questions.json"
# The same 14 questions reworded (in questions.json's order, same gold pages and facts): a change
# to retrieval that helps only the original wording is fitted to it, not better.
PARAPHRASES = [
    "In what ways does Amazon's Dynamo depart from the consistent hashing scheme first proposed for web caching?",
    "Define a lease and explain the role leases play in Google's Chubby lock service.",
    'Explain how the Paxos protocol reaches agreement on one value and what guarantees that no two distinct values get chosen.',
    'Explain the end-to-end principle in system design using the example of transferring a file carefully.',
    'When buckets are added or removed, how does the hash-mod-R partitioning MapReduce uses by default behave compared to consistent hashing?',
    'What mechanisms let Dynamo stay writable and readable despite server failures?',
    'Why do popular web servers get swamped, and how do trees of caches chosen at random spread that load?',
    'How can tiny, invisible perturbations trick a linear image classifier, and is regularization a defence?',
    'What optimizer and step size does Karpathy suggest starting with, and in which cases does plain SGD do better?',
    'How do you train a network that contains parts you cannot differentiate through, like hard attention?',
    'Describe how the Pong agent learns from screen pixels using policy gradients.',
    "What does the AI narrator of the short story 'Forward Pass' come to understand about itself?",
    'According to Karpathy, how will large pretrained foundation models and prompts change how we use neural nets?',
    "What sanity checks does Karpathy's recipe for training neural networks recommend, and why is such care needed?",
]


def gold_pages(vault: Vault, concept_ids: list[str]) -> dict[str, str | None]:
    """Gold concept id -> the wiki page that holds it: a concept page citing the source's summary
    whose title or an alias is the concept's name, else whose title contains its words."""
    cache = PageCache(vault)
    cache.refresh()
    infos = [cache.get(key) for key in cache.keys()]
    summaries = {name_key(i.note): i for i in infos if i and i.kind == "source-summary" and i.note}
    concepts = [i for i in infos if i and i.kind == "concept"]
    found = {}
    for concept_id in concept_ids:
        stem, name = concept_id.split("::", 1)
        summary = summaries.get(name_key(stem))
        citing = [c for c in concepts if summary and name_key(summary.name) in map(name_key, c.sources)]
        exact = [c for c in citing if name_key(name) in {name_key(n) for n in [c.title, *c.aliases]}
                 or name_key(name) == name_key(c.title.split(" (")[0])]
        words = set(norm_words(name))
        loose = sorted((c for c in citing if words <= set(norm_words(c.title))), key=lambda c: len(c.title))
        page = (exact or loose or [None])[0]
        found[concept_id] = page.name if page else None
    return found


def norm_words(text: str) -> list[str]:
    return [w.rstrip("s") for w in "".join(c if c.isalnum() else " " for c in text.casefold()).split()]


def note_texts(vault: Vault) -> dict[str, str]:
    """Raw note body by name key of its stem (the source stems of questions.json)."""
    out = {}
    for path in sorted(vault.raw_dir.rglob("*.md")):
        out[name_key(path.stem)] = split(path.read_text(encoding="utf-8"))[1]
    return out


def evaluate(vault, llm, templates, server, questions, budget, save: bool) -> list[dict]:
    notes = note_texts(vault)
    rows = []
    for number, item in enumerate(questions, start=1):
        answer = ask(vault, llm, templates, item["q"])
        prompt = "".join(m["content"] for m in server.requests[-1]["messages"]) if answer.prompt_tokens else ""
        given = norm(prompt)
        pages = gold_pages(vault, item["concepts"])
        wanted = sorted({p for p in pages.values() if p})
        read = set(answer.read)
        facts = [norm(f["quote"]) in given for f in item["facts"]]
        pack = build_context(vault, item["q"], budget, estimate_tokens)
        packed = pack.render()
        in_pack = [norm(f["quote"]) in norm(packed) for f in item["facts"]]
        holders = sorted({name_key(f["source"]) for f in item["facts"]})
        raw_tokens = sum(estimate_tokens(notes.get(h, "")) for h in holders)
        raw_recall = [norm(f["quote"]) in norm(notes.get(name_key(f["source"]), "")) for f in item["facts"]]
        missed_notes = sorted({name_key(f["source"]) for f, hit in zip(item["facts"], in_pack) if not hit})
        used_answers = [s for s in answer.sources if s in {p.name for p in _answers(vault)}]
        rows.append({
            "n": number, "q": item["q"], "pages_read": len(answer.read), "read": answer.read,
            "gold_pages": wanted, "gold_read": [p for p in wanted if p in read],
            "unmapped": [c for c, p in pages.items() if not p],
            "facts": facts, "prompt_tokens": answer.prompt_tokens,
            "context_tokens": estimate_tokens(packed), "context_facts": in_pack,
            "raw_tokens": raw_tokens, "raw_facts": raw_recall,
            "equal_recall_tokens": estimate_tokens(packed) + sum(estimate_tokens(notes[h]) for h in missed_notes),
            "cites_saved_answer": used_answers,
            "see_also": answer.see_also,
        })
        if save:
            save_answer(vault, answer, llm.model, templates.version("prompts/ask.j2"))
    refresh_index(vault)
    return rows


def _answers(vault: Vault):
    cache = PageCache(vault)
    cache.refresh()
    return [i for key in cache.keys() if (i := cache.get(key)) and i.kind == "answer"]


def share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else 1.0


def report(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    print(f"{'#':>2} {'gold pages':>10} {'facts':>6} {'prompt':>7} {'pages':>5} | {'context':>7} {'facts':>6} "
          f"{'raw':>7} {'ratio':>6} {'eq.recall':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['n']:>2} {len(r['gold_read']):>4}/{len(r['gold_pages']):<5} {sum(r['facts']):>3}/{len(r['facts']):<2} "
              f"{r['prompt_tokens']:>7,} {r['pages_read']:>5} | {r['context_tokens']:>7,} "
              f"{sum(r['context_facts']):>3}/{len(r['context_facts']):<2} {r['raw_tokens']:>7,} "
              f"{r['raw_tokens'] / max(r['context_tokens'], 1):>5.1f}x {r['equal_recall_tokens']:>9,} "
              f"{r['raw_tokens'] / max(r['equal_recall_tokens'], 1):>5.1f}x")
        missed = [i + 1 for i, hit in enumerate(r["facts"]) if not hit]
        if missed or r["unmapped"] or len(r["gold_read"]) < len(r["gold_pages"]):
            print(f"   missed facts {missed}; gold pages not read {sorted(set(r['gold_pages']) - set(r['gold_read']))}"
                  + (f"; gold concepts with no page {r['unmapped']}" if r["unmapped"] else ""))
    facts = [f for r in rows for f in r["facts"]]
    pack_facts = [f for r in rows for f in r["context_facts"]]
    raw_facts = [f for r in rows for f in r["raw_facts"]]
    gold = sum(len(r["gold_pages"]) for r in rows)
    n = len(rows)
    raw, ctx, equal = (sum(r[k] for r in rows) for k in ("raw_tokens", "context_tokens", "equal_recall_tokens"))
    print(f"total: evidence recall {share(facts):.3f} of key facts ({sum(facts)}/{len(facts)}) in the ask prompt; "
          f"gold pages read {sum(len(r['gold_read']) for r in rows)}/{gold}; "
          f"prompt tokens {sum(r['prompt_tokens'] for r in rows) / n:,.0f} per question on average "
          f"(max {max(r['prompt_tokens'] for r in rows):,}); pages read {sum(r['pages_read'] for r in rows) / n:.1f} on average")
    print(f"agents: reading the raw notes {raw / n:,.0f} tokens per question (recall {share(raw_facts):.3f}); "
          f"kbc context {ctx / n:,.0f} (recall {share(pack_facts):.3f}): {raw / max(ctx, 1):.1f}x fewer; "
          f"at equal recall (context + the notes of missed facts) {equal / n:,.0f}: {raw / max(equal, 1):.1f}x fewer")
    cited = [r for r in rows if r["cites_saved_answer"]]
    print(f"answers citing a saved answer as a source: {len(cited)}")


def sweep(vault: Vault, wordings: dict[str, list[dict]], budgets: list[int]) -> None:
    """`kbc context` at each budget, for each wording: evidence recall, tokens, and tokens at
    equal recall against reading the raw notes (no model involved)."""
    notes = note_texts(vault)
    print("\nkbc context by budget, against reading the notes: all that hold the facts (raw), the fewest\n"
          "tokens of whole notes holding as many facts as the pack (raw@pack), or the pack plus the notes\n"
          "of the facts it missed (pack+missed)")
    print(f"{'wording':>9} {'budget':>6} {'recall':>6} {'tokens':>7} {'raw':>7} {'ratio':>6} "
          f"{'raw@pack':>8} {'ratio':>6} {'pack+missed':>11} {'ratio':>6}")
    for label, questions in wordings.items():
        for budget in budgets:
            hits, tokens, equal, raw, matched = [], 0, 0, 0, 0
            for item in questions:
                packed = build_context(vault, item["q"], budget, estimate_tokens).render()
                found = [norm(f["quote"]) in norm(packed) for f in item["facts"]]
                hits += found
                used = estimate_tokens(packed)
                missed = {name_key(f["source"]) for f, hit in zip(item["facts"], found) if not hit}
                held = {}
                for f in item["facts"]:
                    held[name_key(f["source"])] = held.get(name_key(f["source"]), 0) + 1
                cost = {h: estimate_tokens(notes.get(h, "")) for h in held}
                tokens += used
                equal += used + sum(cost[h] for h in missed)
                raw += sum(cost.values())
                matched += min(sum(cost[h] for h in subset) for subset in _subsets(sorted(held))
                               if sum(held[h] for h in subset) >= sum(found))
            n = len(questions)
            print(f"{label:>9} {budget:>6,} {share(hits):>6.3f} {tokens / n:>7,.0f} {raw / n:>7,.0f} "
                  f"{raw / max(tokens, 1):>5.1f}x {matched / n:>8,.0f} {matched / max(tokens, 1):>5.1f}x "
                  f"{equal / n:>11,.0f} {raw / max(equal, 1):>5.1f}x")


def _subsets(items: list[str]) -> list[list[str]]:
    out = [[]]
    for item in items:
        out += [subset + [item] for subset in out]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vault", type=Path, help="a corpus vault built before (copied, not changed)")
    parser.add_argument("--keep", type=Path, help="keep the built corpus vault here")
    parser.add_argument("--budget", type=int, default=4000, help="kbc context budget (tokens)")
    parser.add_argument("--ask-budget", type=int, help="kbc ask's context_tokens (default: kbc.toml's)")
    parser.add_argument("--sweep", default="1000,1500,2000,3000,4000,6000",
                        help="kbc context budgets to compare with reading the notes ('' for none)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(FixtureModel()) as server:
        root = Path(tmp) / "corpus"
        if args.vault:
            shutil.copytree(args.vault, root)
        else:
            build_corpus_vault(root, server)
            if args.keep:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(root, args.keep)
        vault = Vault(root, env={"KBC_BASE_URL": server.base_url, "KBC_MODEL": "scripted",
                                 "OPENAI_API_KEY": "test"},
                      overrides={"ask_context_tokens": args.ask_budget} if args.ask_budget else None)
        llm = LLM(OpenAIBackend(server.base_url, "scripted", "test"), vault.db, vault.db_lock)
        templates = Templates([root / "templates"])
        refresh_index(vault)
        # Reworded first, so both wordings meet the same wiki (no saved answers yet).
        reworded = [dict(item, q=text) for item, text in zip(questions, PARAPHRASES, strict=True)]
        third = evaluate(vault, llm, templates, server, reworded, args.budget, save=False)
        budgets = [int(b) for b in args.sweep.split(",") if b.strip()]
        if budgets:
            sweep(vault, {"original": questions, "reworded": reworded}, budgets)
        first = evaluate(vault, llm, templates, server, questions, args.budget, save=True)
        report(first, f"{len(questions)} questions, ask budget {vault.settings.ask_context_tokens:,} tokens, "
                      f"kbc context budget {args.budget:,}")
        second = evaluate(vault, llm, templates, server, questions, args.budget, save=False)
        report(second, "again, with every answer saved in wiki/answers/ (saved answers must not be evidence)")
        report(third, "the same questions reworded (PARAPHRASES), before any answer was saved")
        if args.json:
            print(json.dumps({"first": first, "second": second, "reworded": third}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
