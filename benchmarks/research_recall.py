"""Research vs ask: key-fact recall on the corpus's multi-source questions, and tokens.

The corpus is compiled with the fixture model (real extractions); ask and research then run
against the scripted server. A key fact counts as recalled when the evidence the model was
given holds its quote (the source's own words; a looser test, 70% of the fact's words, is
met by both nearly always): that is what an answer can be written from, and it does not
depend on how well the scripted model writes. For research, the notes it
kept (what its report is written from) are scored too.

Run: .venv/bin/python benchmarks/research_recall.py [VAULT]   (VAULT: build there once, reuse after)
"""
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.corpus_vault import CORPUS, build_corpus_vault  # noqa: E402
from kbc.ask import ask  # noqa: E402
from kbc.llm import LLM, OpenAIBackend, Templates  # noqa: E402
from kbc.research import research  # noqa: E402
from kbc.vault import Vault  # noqa: E402
from tests.fixture_data import norm  # noqa: E402
from tests.fixture_model import FixtureModel  # noqa: E402
from tests.scripted import ScriptedServer, text_of  # noqa: E402

BUDGET = 40_000


def recalled(fact: dict, text: str) -> bool:
    return norm(fact["quote"]) in norm(text)


def user_text(requests: list[dict]) -> str:
    return "\n".join(text_of(m) for r in requests for m in r["messages"] if m["role"] == "user")


def main() -> None:
    questions = [q for q in json.loads((CORPUS / "extractions" / "questions.json").read_text())
                 if len(q["sources"]) >= 2]
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer(FixtureModel()) as server:
        root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp) / "corpus"
        if not (root / "kbc.toml").exists():
            build_corpus_vault(root, server)
        vault = Vault(root, env={})
        totals = {"ask": [0, 0, 0], "research": [0, 0, 0], "notes": [0, 0, 0]}  # facts, recalled, tokens
        print(f"{len(questions)} multi-source questions; research budget {BUDGET:,} tokens")
        for q in questions:
            llm = LLM(OpenAIBackend(server.base_url, "scripted", "x"), vault.db, vault.db_lock)
            start = len(server.requests)
            answer = ask(vault, llm, Templates([]), q["q"])
            ask_text = user_text(server.requests[start:])
            llm = LLM(OpenAIBackend(server.base_url, "scripted", "x"), vault.db, vault.db_lock, budget=BUDGET)
            start = len(server.requests)
            work = research(vault, llm, Templates([]), q["q"], budget=BUDGET)
            research_text = user_text(server.requests[start:])
            notes_text = "\n".join(n.text for n in work.notes)
            facts = q["facts"]
            row = {}
            for key, text, tokens in (("ask", ask_text, answer.prompt_tokens + answer.completion_tokens),
                                      ("research", research_text, work.tokens), ("notes", notes_text, 0)):
                hits = sum(recalled(f, text) for f in facts)
                totals[key][0] += len(facts)
                totals[key][1] += hits
                totals[key][2] += tokens
                row[key] = hits
            print(f"  ask {row['ask']}/{len(facts)} facts, {answer.prompt_tokens + answer.completion_tokens:>6,} tokens"
                  f" | research {row['research']}/{len(facts)} facts (notes {row['notes']}), {work.tokens:>6,} tokens, "
                  f"{len(work.read)} pages, {sum(s.kind == 'read' and s.prompt_tokens > 0 for s in work.steps)} rounds"
                  f"  {q['q'][:60]}")
        for key, label in (("ask", "ask (evidence given)"), ("research", "research (evidence read)"),
                           ("notes", "research (notes kept)")):
            facts, hits, tokens = totals[key]
            cost = f", {tokens / len(questions):,.0f} tokens per question" if key != "notes" else ""
            print(f"{label:<26} key-fact recall {hits}/{facts} = {hits / facts:.1%}{cost}")


if __name__ == "__main__":
    main()
