"""Ask token figures: questions against the compiled corpus wiki (scripted server). Prints
prompt tokens per question and the share of the wiki each question read.

Run: .venv/bin/python benchmarks/ask_tokens.py
"""
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.compile_tokens import CORPUS, compile_once, make_vault  # noqa: E402
from kbc.ask import ask  # noqa: E402
from kbc.llm import LLM, OpenAIBackend, Templates, estimate_tokens  # noqa: E402
from kbc.vault import Vault  # noqa: E402
from kbc.vault.bookkeeping import is_navigation  # noqa: E402
from kbc.vault.pages import own_body, read_page  # noqa: E402
from tests.scripted import ScriptedServer  # noqa: E402

QUESTIONS = [
    "How does Paxos choose a value?",
    "What is consistent hashing used for?",
    "How does Dynamo handle conflicting versions?",
    "What does Chubby provide to its clients?",
    "How does MapReduce deal with machine failures?",
    "What is the end-to-end argument?",
    "Why are recurrent neural networks effective?",
    "How can linear classifiers be fooled?",
    "What is a good recipe for training neural networks?",
    "What is a lease?",
]


def main() -> None:
    sources = sorted((CORPUS / "papers").glob("*.pdf")) + sorted((CORPUS / "blog").glob("*.md"))
    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        root = Path(tmp) / "corpus"
        make_vault(root, sources)
        compile_once(root, server)
        vault = Vault(root, env={})
        pages = [p for p in vault.wiki_pages().values() if not is_navigation(p.stem)]
        wiki_tokens = sum(estimate_tokens(own_body(read_page(p)[1])) for p in pages)
        print(f"wiki: {len(pages)} pages, {wiki_tokens:,} tokens")
        llm = LLM(OpenAIBackend(server.base_url, "scripted", "x"), vault.db, vault.db_lock)
        prompt_totals, shares = [], []
        for question in QUESTIONS:
            answer = ask(vault, llm, Templates([]), question)
            share = answer.context_tokens / wiki_tokens
            prompt_totals.append(answer.prompt_tokens)
            shares.append(share)
            print(f"{answer.prompt_tokens:>6} prompt tokens, {len(answer.read):>2} pages read "
                  f"({len(answer.read) / len(pages):.1%} of pages, {share:.1%} of wiki tokens)  {question}")
        print(f"mean {sum(prompt_totals) / len(prompt_totals):,.0f} prompt tokens per question, max {max(prompt_totals):,}; "
              f"mean share of the wiki read {sum(shares) / len(shares):.1%}, max {max(shares):.1%}")


if __name__ == "__main__":
    main()
