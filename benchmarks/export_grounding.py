"""How strict the finetune export's support check is, on real text: a strong model's claims
(its own paraphrase) checked against the source lines they came from, and against lines of
another concept. Paraphrase is harder than what the export asks for (answers built from the
page's own sentences), so the accept rate is a lower bound; the cross rate is a false-accept
rate. Also prints the pairs the scripted model's export of the sample vault yields.

Run: .venv/bin/python benchmarks/export_grounding.py [VAULT]   (VAULT: also export a copy of that
vault, e.g. the corpus vault benchmarks/research_recall.py builds)
"""
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kbc.export.grounding import Sentence, check_pair  # noqa: E402
from tests.fixture_data import load_fixtures  # noqa: E402


def verdict(name: str, answer: str, quote: str) -> str:
    evidence = [Sentence(1, name, quote, ["source"])]
    return check_pair(f"What is {name}?", answer, evidence, {name: [name]}, None)[0]


def sample_export(existing: Path | None) -> None:
    import shutil

    from kbc.compile import compile_vault
    from kbc.export import export_finetune
    from kbc.vault import init_vault
    from tests.conftest import make_llm, open_vault, templates
    from tests.scripted import ScriptedServer

    with tempfile.TemporaryDirectory() as tmp, ScriptedServer() as server:
        root = Path(tmp) / "vault"
        if existing:
            shutil.copytree(existing, root)
        else:
            init_vault(root)
            for note in (REPO / "raw").glob("*.md"):
                shutil.copy(note, root / "raw" / note.name)
        vault = open_vault(root, server)
        if not existing:
            compile_vault(vault, make_llm(vault, server), templates(vault))
        llm = make_llm(vault, server)
        report = export_finetune(vault, llm, templates(vault))
        print(f"{existing or 'sample vault'} export (scripted model, which invents one answer per concept "
              f"on purpose): {report.concepts} concepts, {report.accepted} pairs accepted ({report.train} train, "
              f"{report.heldout} held out), {report.unsupported} rejected as unsupported, {report.vague} too vague, "
              f"{report.duplicates} duplicates, {report.cross_split} compare pairs across the split dropped; "
              f"{llm.totals.tokens:,} tokens in {llm.totals.requests} requests")


def main() -> None:
    claims = [(concept["name"], claim["text"], claim["quote"])
              for fixture in load_fixtures().values() for concept in fixture.concepts
              for claim in concept["claims"] if claim.get("quote") and len(claim["quote"].split()) >= 4]
    accepted = sum(not verdict(name, text, quote) for name, text, quote in claims)
    rng = random.Random(7)
    crossed = 0
    for name, text, _ in claims:
        other = rng.choice([c for c in claims if c[0] != name])
        crossed += not verdict(name, text, other[2])
    padded = 0  # an own claim with another concept's claim appended: half of it unsupported
    for name, text, quote in claims:
        other = rng.choice([c for c in claims if c[0] != name])
        padded += not verdict(name, f"{text} {other[1]}", quote)
    print(f"{len(claims)} real claims: accepted against their own source lines {accepted / len(claims):.1%}; "
          f"accepted against another concept's lines {crossed / len(claims):.1%}; accepted with another "
          f"claim appended {padded / len(claims):.1%}")
    sample_export(Path(sys.argv[1]) if len(sys.argv) > 1 else None)


if __name__ == "__main__":
    main()
