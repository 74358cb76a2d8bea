"""Hangs and tracebacks: damaged databases, wrong config values, hostile YAML and JSON, bad
items among good ones, template and file-system errors. Each ends as one line."""
from __future__ import annotations

import os
import time

from tests.attacks import Lab, attack, intact, one_error, snapshot


def _compiled(lab: Lab):
    root = lab.vault()
    done = lab.kbc(root, "compile")
    assert done.returncode == 0, done.stderr
    return root


@attack("database: half-truncated, junk, and a missing WAL")
def damaged_db(lab: Lab) -> None:
    for damage in ("truncate", "junk", "wal"):
        root = lab.vault(f"vault-{damage}")
        assert lab.kbc(root, "compile").returncode == 0
        before = snapshot(root)
        db = root / ".kbc" / "kbc.db"
        if damage == "truncate":
            data = db.read_bytes()
            db.write_bytes(data[: len(data) // 2])
            (root / ".kbc" / "kbc.db-wal").unlink(missing_ok=True)
        elif damage == "junk":
            db.write_bytes(os.urandom(8192))
        else:
            (root / ".kbc" / "kbc.db-wal").unlink(missing_ok=True)
        for command in (("stats",), ("search", "Paxos"), ("compile",)):
            done = lab.kbc(root, *command)
            if done.returncode != 0:
                one_error(done.stderr, "damaged", "kbc doctor --rebuild")
        fixed = lab.kbc(root, "doctor", "--rebuild")
        assert fixed.returncode == 0 and "rebuilt" in fixed.stdout, fixed.stderr
        assert damage == "wal" or "response cache" in fixed.stdout or "salvaged" in fixed.stdout
        assert lab.kbc(root, "doctor").returncode == 0
        search = lab.kbc(root, "search", "Paxos")
        assert search.returncode == 0 and "[[" in search.stdout, search.stderr
        assert lab.kbc(root, "compile").returncode == 0
        intact({k: v for k, v in before.items() if k.startswith("raw/")}, root, ("raw",))
        assert (root / "wiki" / "index.md").exists()


@attack("config: every wrong value is one line naming its key")
def bad_config(lab: Lab) -> None:
    root = lab.vault()
    cases = {
        "[llm]\nbudget = 0.5\n": "llm.budget",
        "prices = 5\n": "prices",
        "[prices]\ngpt = 5\n": "prices.gpt",
        '[prices."m"]\nprompt = "cheap"\n': "prices.m.prompt",
        "[llm]\nconcurrency = 0\n": "llm.concurrency",
        '[llm]\nconcurrency = "four"\n': "llm.concurrency",
        '[llm]\nbase_url = "localhost:8000"\n': "llm.base_url",
        "[llm]\nvision = 3\n": "llm.vision",
        "[llm]\nmodle = 'x'\n": "llm.modle",
        "[llm\n": "not valid TOML",
        "llm = 3\n": "llm",
    }
    for text, key in cases.items():
        (root / "kbc.toml").write_text(text)
        done = lab.kbc(root, "compile")
        assert done.returncode == 1, (text, done.stdout)
        one_error(done.stderr, key)
    (root / "kbc.toml").write_bytes(b"[llm]\nmodel = '\xff'\n")
    one_error(lab.kbc(root, "stats").stderr, "kbc.toml")
    (root / "kbc.toml").write_text("")
    done = lab.kbc(root, "stats", env=lab.env(root, KBC_BUDGET="1.5"))
    one_error(done.stderr, "KBC_BUDGET")


@attack("ingest: YAML billion laughs, deep YAML, 100,000-deep JSON")
def hostile_yaml_json(lab: Lab) -> None:
    root = lab.vault(sample=False)
    before = snapshot(root, ("raw",))
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))
    inputs = lab.tmp / "inputs"
    inputs.mkdir()
    (inputs / "laughs.md").write_text(f"---\n{laughs}---\n\n# Laughs\n\nText.\n")
    (inputs / "deep.md").write_text("---\nx: " + "[" * 50_000 + "\n---\n\n# Deep\n\nText.\n")
    (inputs / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (inputs / "big.md").write_text("---\n" + "k: " + "v" * 200_000 + "\n---\n\n# Big\n\nText.\n")
    for name, words in (("laughs.md", "aliases"), ("deep.md", "nested"), ("deep.json", "nested"),
                        ("big.md", "KiB")):
        started = time.monotonic()
        done = lab.kbc(root, "ingest", str(inputs / name), timeout=60)
        assert done.returncode == 1 and time.monotonic() - started < 20, done.stderr
        one_error(done.stderr, name, words)
    intact(before, root, ("raw",))


@attack("bad items: a 238-character title, a bad date, a symlink loop under wiki/")
def bad_items(lab: Lab) -> None:
    root = _compiled(lab)
    notes = lab.tmp / "notes"
    notes.mkdir()
    (notes / "long.md").write_text(f"---\ntitle: {'Consensus ' * 23}and more words\n---\n\n"
                                   "# Long\n\nA long-titled note about Paxos and Quorum.\n")
    (notes / "wide.md").write_text(f"---\ntitle: {'共识算法' * 60}\n---\n\n# Wide\n\nA note about Raft.\n")
    (notes / "dated.md").write_text("---\npublished: 2026-13-45\ndate: 2026-02-30\n---\n\n"
                                    "# Dated\n\nA note about Leases and Chubby.\n")
    done = lab.kbc(root, "ingest", str(notes))
    assert done.returncode == 0, done.stderr
    (root / "wiki" / "loop").symlink_to(root / "wiki")
    (root / "wiki" / "self.md").symlink_to(root / "wiki" / "self.md")
    (root / "raw" / "Dated by hand.md").write_text("---\nupdated: 2026-99-99\n---\n\n# Hand\n\nAbout Paxos.\n")
    for command in (("compile",), ("lint",), ("search", "Paxos"), ("stats",)):
        done = lab.kbc(root, *command)
        assert "Traceback" not in done.stderr
    mark = lab.server.requests[:]
    done = lab.kbc(root, "compile")
    assert done.returncode == 0, done.stderr
    assert len(lab.server.requests) == len(mark), "a rerun with nothing changed paid again"


@attack("funnel: broken prompt templates, an unwritable wiki/, --debug")
def funnel(lab: Lab) -> None:
    root = lab.vault()
    prompts = root / "templates" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "extract.j2").write_text("{% if %}broken{{ \n")
    done = lab.kbc(root, "compile")
    assert done.returncode != 0
    one_error(done.stderr, "template")
    (prompts / "extract.j2").unlink()
    assert lab.kbc(root, "compile").returncode == 0
    (prompts / "slides.j2").write_text("{{ topic | nosuchfilter }}")
    done = lab.kbc(root, "slides", "Paxos")
    one_error(done.stderr, "template")
    debug = lab.kbc(root, "--debug", "slides", "Paxos")
    lab.tracebacks.clear()  # --debug is meant to show it
    assert "Traceback" in debug.stderr and debug.stderr.rstrip().splitlines()[-1].startswith("kbc: error:"), debug.stderr
    (prompts / "slides.j2").unlink()
    (root / "raw" / "More.md").write_text("# More\n\nMore about Paxos and Quorum systems.\n")
    os.chmod(root / "wiki", 0o500)
    try:
        if os.access(root / "wiki", os.W_OK):  # running as root: permissions do not bind
            return
        done = lab.kbc(root, "compile")
        assert done.returncode != 0
        assert "Traceback" not in done.stderr and "kbc: error:" in done.stderr, done.stderr
    finally:
        os.chmod(root / "wiki", 0o755)
    assert lab.kbc(root, "compile").returncode == 0
