"""Claim questions against a real model's verdicts: rebuilds, offline, the consolidation
requests a first compile of a vault would send (its stored extractions, no model: a copy of
the vault with its decisions and claim verdicts dropped), and compares their Q lines with
those of a recorded request and the recorded answer's `about`: how many of the claims the
model accepted are still asked, how many of those it rejected are no longer asked.

Run: .venv/bin/python benchmarks/claim_questions_replay.py VAULT REQUEST ANSWER
  e.g. /tmp/relay-vault /tmp/relay-dir/req-0005.txt /tmp/relay-dir/resp-0005.txt
"""
from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kbc.compile import consolidate  # noqa: E402
from kbc.compile.claim_judging import ClaimQuestions  # noqa: E402
from kbc.compile.manifest import Manifest  # noqa: E402
from kbc.compile.sources import scan_sources  # noqa: E402
from kbc.compile.sync import Consolidator  # noqa: E402
from kbc.llm import Templates  # noqa: E402
from kbc.vault import Vault  # noqa: E402

C_LINE = re.compile(r"^(C\d+): (.+?)(?: \(also: .*?\))? \| from: ", re.M)
Q_LINE = re.compile(r"^(Q\d+): (C\d+) \| (.+)$", re.M)


def asked_in(text: str) -> dict[str, tuple[str, str]]:
    """Q label -> (concept name, claim text) of a consolidation request's text."""
    names = dict(C_LINE.findall(text))
    return {q: (names[c], claim) for q, c, claim in Q_LINE.findall(text)}


def rebuilt(vault_dir: Path) -> set[tuple[str, str]]:
    """(concept name, claim text) of every Q line a first compile of the vault would ask."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "vault"
        shutil.copytree(vault_dir, root)
        db = sqlite3.connect(root / ".kbc" / "kbc.db")
        db.executescript("update members set considered = 0; delete from decisions; delete from claim_judgements;")
        db.commit()
        db.close()
        vault = Vault(root, env={})
        templates = Templates([root / "templates"])
        manifest = Manifest(vault)
        sync = Consolidator(vault, None, templates, manifest, None, vault.settings.max_output_tokens)
        identity = sync.sync(None)
        members = {m.id: m for m in manifest.members()}
        titles = {path: row.title for path, row in manifest.sources().items()}
        near = consolidate.Neighbourhood()
        pairs = consolidate.candidate_pairs(identity.concepts, members, set(), titles, near)
        batches = consolidate.batches(pairs, list(identity.concepts), identity.concepts, members, titles, templates,
                                      vault.settings.max_output_tokens)
        ClaimQuestions(vault, None, templates, manifest, vault.settings.max_output_tokens).prepare(
            batches, near, identity, titles, scan_sources(vault)[0])
        out = set()
        for batch in batches:
            for _, key, q in batch.claims:
                out.add((identity.concepts[key].name, " ".join(q.claim.text.split())))
        return out


def main(vault_dir: Path, request: Path, answer: Path) -> None:
    recorded = asked_in(request.read_text(encoding="utf-8"))
    about = set(json.loads(answer.read_text(encoding="utf-8")).get("about", []))
    now = rebuilt(vault_dir)
    # The recorded lines are clipped at 240 characters: compare on the start of the text.
    starts = {(name, text[:200]) for name, text in now}
    kept = {q for q, (name, text) in recorded.items() if (name, text[:200]) in starts}
    accepted, rejected = about & recorded.keys(), recorded.keys() - about
    print(f"recorded request: {len(recorded)} asked, {len(accepted)} accepted by the model")
    tokens = sum((len(text) + 3) // 4 + 6 for _, text in now)  # a claim line, about four characters a token
    print(f"rebuilt now: {len(now)} asked (about {tokens} prompt tokens), {len(kept)} of them in the recorded request")
    print(f"accepted still asked: {len(accepted & kept)} / {len(accepted)}"
          f"  (dropped: {', '.join(sorted(accepted - kept, key=lambda q: int(q[1:]))) or 'none'})")
    print(f"rejected no longer asked: {len(rejected - kept)} / {len(rejected)}")
    for q in sorted(rejected & kept, key=lambda q: int(q[1:])):
        print(f"  still asked, rejected: {q} {recorded[q][0]} | {recorded[q][1][:90]}")
    recorded_pairs = {(name, text[:200]) for name, text in recorded.values()}
    for name, text in sorted(now):
        if (name, text[:200]) not in recorded_pairs:
            print(f"  new question: {name} | {text[:90]}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-2].strip())
    paths = [Path(a) for a in sys.argv[1:]]
    missing = [str(p) for p in paths if not p.exists()] + \
        ([f"{paths[0]}/.kbc/kbc.db (not a compiled vault)"] if paths[0].exists()
         and not (paths[0] / ".kbc" / "kbc.db").exists() else [])
    if missing:
        sys.exit(f"not found: {', '.join(missing)}")
    main(*paths)
