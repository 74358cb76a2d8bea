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


def _pdf(text_pages: int = 0) -> bytes:
    import io

    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(max(text_pages, 1)):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@attack("hand-made bad files: broken PDFs, false images, binary notes, odd names")
def bad_files(lab: Lab) -> None:
    from tests.conftest import png_bytes

    root = lab.vault(sample=False)
    before = snapshot(root, ("raw",))
    bad = lab.tmp / "bad"
    bad.mkdir()
    blank = _pdf()
    files = {
        "blank.pdf": blank,  # no text at all
        "truncated.pdf": blank[: len(blank) // 2],
        "header-only.pdf": b"%PDF-1.7\n",
        "junk.pdf": b"%PDF-1.4\n" + os.urandom(4000),
        "fake.png": b"\x89PNG\r\n\x1a\nnot really",
        "text.jpg": b"hello, I am text",
        "nul.md": b"# Title\n\x00\x00binary",
        "latin1.md": "# Caf\xe9\n\nna\xefve text\n".encode("latin-1"),
        "empty.md": b"",
        "spaces.md": b"   \n\n  ",
        "scalar.json": b"42",
        "ragged.csv": b"a,b\n1,2,3,4\n\"unclosed\n",
        "weird.xyz": b"what is this",
        "only-front-matter.md": b"---\ntitle: X\n---\n",
        "list-front-matter.md": b"---\n- a\n- b\n---\n\nBody.\n",
    }
    for name, data in files.items():
        (bad / name).write_bytes(data)
    good = {"new\nline.md": b"# Newline name\n\nA note about Paxos.\n",
            "colon: name.md": b"# Colon name\n\nA note about Raft.\n",
            "real.png": png_bytes()}
    for name, data in good.items():
        (bad / name).write_bytes(data)
    done = lab.kbc(root, "ingest", str(bad))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("kbc: error:")]
    refused = {name for name in files if any(name in line for line in errors)}
    ingested = done.stdout.count("created")
    assert ingested + len(refused) == len(files) + len(good), (sorted(set(files) - refused), done.stdout)
    assert len(errors) == len(refused), done.stderr
    assert refused == set(files) - {"ragged.csv", "scalar.json"}, sorted(refused)
    assert {"raw/Colon name.md", "raw/Newline name.md", "raw/real.md"} <= {
        p.relative_to(root).as_posix() for p in (root / "raw").glob("*.md")}
    for path in (root / "raw").rglob("*"):
        if path.is_file() and path.relative_to(root).as_posix() not in before:
            assert path.stat().st_size > 0
    assert lab.kbc(root, "compile").returncode == 0


@attack("LLM faults: 500s, 429s, bad JSON, cut-offs, empty answers; then a rerun")
def llm_faults(lab: Lab) -> None:
    from tests.attacks import answered, last_request_id, paid_since

    root = lab.vault()
    lab.server.script = [
        {"status": 500}, {"status": 429}, {"content": "not json at all"},
        {"content": '{"title": "x"', "finish_reason": "length"}, {"content": ""},
        {"content": "```json\n{\"broken\": }\n```"}, {"status": 400, "message": "context length exceeded"},
    ]
    done = lab.kbc(root, "compile")
    assert "Traceback" not in done.stderr
    paid, mark = answered(root), last_request_id(root)
    lab.server.script = []
    again = lab.kbc(root, "compile")
    assert again.returncode == 0, again.stderr
    assert not paid_since(root, paid, mark), "answers kept through the faults were paid again"
    assert (root / "wiki" / "index.md").exists()
    assert "in 0 requests" in lab.kbc(root, "compile").stdout


@attack("serve: the port is taken")
def port_taken(lab: Lab) -> None:
    import socket

    root = lab.vault(sample=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = lab.kbc(root, "serve", "--port", str(taken.getsockname()[1]), timeout=30)
    assert done.returncode == 1
    one_error(done.stderr, "in use")
