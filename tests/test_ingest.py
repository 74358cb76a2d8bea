"""Ingest real files from ../shared/corpus and real pages from a local HTTP server."""
import functools
import gzip
import json
import re
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from kbc.cli import cli
from kbc.ingest import Ingester
from kbc.vault import Vault
from kbc.vault.frontmatter import split
from tests.conftest import CORPUS, png_bytes

PAPERS = CORPUS / "papers"
BLOG = CORPUS / "blog"
WEB = CORPUS / "web"


class SiteHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow"):
            time.sleep(2)
        if self.path.startswith("/changing"):
            body = self.server.changing_body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The blog posts rendered to HTML pages, their images under /assets/, on 127.0.0.1."""
    root = tmp_path_factory.mktemp("site")
    if BLOG.is_dir():  # the error cases below need only the server, not the corpus
        (root / "assets").symlink_to(BLOG / "assets")
    md = MarkdownIt("commonmark", {"html": True})
    for post in BLOG.glob("*.md"):
        props, body = split(post.read_text())
        (root / f"{post.stem}.html").write_text(
            f"<html><head><title>{props['title']}</title></head><body><nav>Home | About</nav>"
            f"<article><h1>{props['title']}</h1>{md.render(body)}</article></body></html>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SiteHandler, directory=str(root)))
    server.changing_body = "<html><body><article><h1>Changing</h1><p>" + "First version of the text. " * 20 + "</p></article></body></html>"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def note_of(vault_dir, result):
    return split((vault_dir / result.note).read_text())


@pytest.mark.corpus
def test_blog_pages_come_back_with_every_image_local(vault_dir, site):
    _, base = site
    ingester = Ingester(Vault(vault_dir, env={}))
    for post in sorted(BLOG.glob("*.md")):
        [result] = ingester.ingest(f"{base}/{post.stem}.html")
        assert result.status == "created", result.error
        props, body = note_of(vault_dir, result)
        images = re.findall(r'<img src="/assets/([^"]+)"', post.read_text())
        embeds = re.findall(r"!\[\[([^\]]+)\]\]", body)
        assert len(embeds) == len(images), post.name
        for name in embeds:
            stored = vault_dir / "raw" / "attachments" / name
            assert stored.is_file() and stored.stat().st_size > 0
        assert props["source"] == f"{base}/{post.stem}.html" and props["kind"] == "web"
        assert set(props) >= {"title", "source", "author", "published", "created", "description",
                              "tags", "kind", "sha256"}
    # the pictures are the same bytes as the originals
    original = (BLOG / "assets" / "break" / "breakconv.png").read_bytes()
    assert any(p.read_bytes() == original for p in (vault_dir / "raw" / "attachments").iterdir())


@pytest.mark.corpus
def test_a_web_page_note_gives_its_title_once_and_no_pointers_to_other_articles(vault_dir, tmp_path):
    """Six of the 40 pages repeat their title as their own heading, under a section label or
    beside a byline: the note's first line is that title already. Three put one-line pointers
    to other articles of their site in the text ("**Read more:** [...]", "\\[Related: ...\\]")."""
    pages = []
    for packed in sorted(WEB.glob("*.html.gz")):
        pages.append(tmp_path / packed.name.removesuffix(".gz"))
        pages[-1].write_bytes(gzip.decompress(packed.read_bytes()))
    assert len(pages) == 40
    ingester = Ingester(Vault(vault_dir, env={}))
    words = lambda text: re.sub(r"\W+", " ", text).strip().casefold()  # noqa: E731
    for page in pages:
        [result] = ingester.ingest(str(page))
        assert result.status == "created", result.error
        props, body = note_of(vault_dir, result)
        headings = [h for h in re.findall(r"(?m)^#{1,6} +(.+)$", body) if words(h) == words(props["title"])]
        assert body.startswith(f"# {props['title']}\n") and len(headings) == 1, page.name
    text = next((vault_dir / "raw").glob("Google Bets on the Future*.md")).read_text()
    assert "[TECH](https://www.hollywoodreporter.com/tech)" in text  # the rest of the page's top stays
    notes = "\n".join(p.read_text() for p in (vault_dir / "raw").glob("*.md"))
    assert not re.search(r"(?im)^\W*(related|read more)\b\W*:", notes)
    assert "Alibaba" in notes and "Dreamforce" in notes  # the articles that had them are there


@pytest.mark.corpus
def test_reingest_is_idempotent_and_a_changed_page_updates(vault_dir, site):
    server, base = site
    ingester = Ingester(Vault(vault_dir, env={}))
    [first] = ingester.ingest(f"{base}/2019-04-25-recipe.html")
    before = snapshot(vault_dir / "raw")
    [again] = Ingester(Vault(vault_dir, env={})).ingest(f"{base}/2019-04-25-recipe.html")
    assert again.status == "unchanged" and snapshot(vault_dir / "raw") == before
    [one] = ingester.ingest(f"{base}/changing")
    server.changing_body = server.changing_body.replace("First version", "Second version")
    [two] = Ingester(Vault(vault_dir, env={})).ingest(f"{base}/changing")
    assert (one.status, two.status) == ("created", "updated") and one.note == two.note
    assert "Second version" in (vault_dir / two.note).read_text()


@pytest.mark.corpus
@pytest.mark.parametrize("paper,phrases", [
    ("paxos-made-simple.pdf", ["The Paxos algorithm, when presented in plain English, is very simple",
                               "Learning a Chosen Value", "distinguished proposer"]),
    ("dynamo-amazons-highly-available-key-value-store.pdf", ["consistent hashing", "vector clocks",
                                                             "sloppy quorum"]),
    ("mapreduce-simplified-data-processing-on-large-clusters.pdf", ["map and reduce", "Google"]),
])
def test_papers_ingest_with_readable_text(vault_dir, paper, phrases):
    [result] = Ingester(Vault(vault_dir, env={})).ingest(str(PAPERS / paper))
    assert result.status == "created", result.error
    props, body = note_of(vault_dir, result)
    flat = " ".join(body.split())
    for phrase in phrases:
        assert phrase.lower() in flat.lower(), phrase
    assert props["kind"] == "pdf" and props["pages"] == len(pdfium.PdfDocument(PAPERS / paper))


@pytest.mark.corpus
@pytest.mark.parametrize("paper", sorted(p.name for p in PAPERS.glob("*.pdf")) or ["(corpus missing)"])
def test_no_page_text_is_lost(vault_dir, paper):
    [result] = Ingester(Vault(vault_dir, env={})).ingest(str(PAPERS / paper))
    _, body = note_of(vault_dir, result)
    pages = re.split(r"<!-- page \d+ -->", body)[1:]
    pdf = pdfium.PdfDocument(PAPERS / paper)
    assert len(pages) == len(pdf)
    for number, (ours, page) in enumerate(zip(pages, pdf), start=1):
        theirs = page.get_textpage().get_text_range()
        words = set(re.findall(r"[a-z]{4,}", theirs.lower().replace("\ufffe", "")))
        kept = set(re.findall(r"[a-z]{4,}", ours.lower()))
        if words:
            assert len(words & kept) / len(words) >= 0.9, f"page {number}"


@pytest.mark.corpus
def test_two_columns_are_read_in_order(vault_dir):
    [result] = Ingester(Vault(vault_dir, env={})).ingest(str(PAPERS / "dynamo-amazons-highly-available-key-value-store.pdf"))
    _, body = note_of(vault_dir, result)
    flat = " ".join(body.split())
    # a sentence that runs down the left column is not interleaved with the right one
    assert "Reliability at massive scale is one of the biggest challenges we face at Amazon.com" in flat
    assert flat.index("ABSTRACT") < flat.index("INTRODUCTION")



@pytest.mark.corpus
def test_section_headings_stand_apart_from_the_text_under_them(vault_dir):
    """A heading set with a small gap under it was fused into the sentence it heads ("A too-real
    example An interesting example ..."); a short piece beside more text on its line is no heading."""
    vault = Vault(vault_dir, env={})
    [paper] = Ingester(vault).ingest(str(PAPERS / "end-to-end-arguments-in-system-design.pdf"))
    paragraphs = note_of(vault_dir, paper)[1].split("\n\n")
    for heading in ("A too-real example", "Performance aspects", "Delivery guarantees", "Acknowledgements"):
        assert heading in paragraphs, heading
    assert any(p.startswith("It would be too simplistic to conclude") for p in paragraphs)
    [hashing] = Ingester(vault).ingest(str(PAPERS / "consistent-hashing-and-random-trees.pdf"))
    flat = " ".join(note_of(vault_dir, hashing)[1].split("\n\n"))
    assert "Spread: Let" in flat and "Spread: Let\n" not in note_of(vault_dir, hashing)[1]

def make_encrypted_pdf(path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.encrypt("secret", algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)


def test_bad_inputs_fail_with_one_line_and_leave_raw_as_it_was(vault_dir, site, tmp_path):
    _, base = site
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fake.html").write_text("just some words, no markup at all\n")
    (bad / "junk.md").write_bytes(bytes(range(256)) * 4)
    (bad / "empty.txt").write_bytes(b"")
    (bad / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + b"garbage" * 100)
    (bad / "big.md").write_text("x" * 50000)
    make_encrypted_pdf(bad / "locked.pdf")
    good = tmp_path / "good.md"
    good.write_text("# Good note\n\nThis one is fine.\n")
    sources = [f"{base}/missing.html", f"{base}/slow", f"https://127.0.0.1:{site[0].server_port}/x.html",
               str(bad / "fake.html"), str(bad / "junk.md"), str(bad / "empty.txt"),
               str(bad / "latin1.txt"), str(bad / "corrupt.pdf"), str(bad / "locked.pdf"),
               str(bad / "big.md"), str(good)]
    before = snapshot(vault_dir / "raw")
    ingester = Ingester(Vault(vault_dir, env={}), max_bytes=40000, timeout=0.5)
    results = {r.source: r for s in sources for r in ingester.ingest(s)}
    expected = {
        f"{base}/missing.html": "HTTP 404",
        f"{base}/slow": "timed out",
        f"https://127.0.0.1:{site[0].server_port}/x.html": "TLS",
        str(bad / "fake.html"): "not an HTML page",
        str(bad / "junk.md"): "binary data",
        str(bad / "empty.txt"): "empty file",
        str(bad / "latin1.txt"): "not UTF-8",
        str(bad / "corrupt.pdf"): "corrupt or unreadable PDF",
        str(bad / "locked.pdf"): "encrypted PDF",
        str(bad / "big.md"): "over the 40,000-byte limit",
    }
    for source, reason in expected.items():
        result = results[source]
        assert result.status == "failed" and reason in result.error, (source, result.error)
        assert "\n" not in result.error and source.split("/")[-1] in result.error
    assert results[str(good)].status == "created"
    after = snapshot(vault_dir / "raw")
    assert set(after) - set(before) == {results[str(good)].note.removeprefix("raw/")}


def test_cli_ingest_reports_each_source_and_fails_on_bad_ones(vault_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KBC_VAULT", str(vault_dir))
    good = tmp_path / "a.md"
    good.write_text("# A\n\nText.\n")
    runner = CliRunner()
    result = runner.invoke(cli, ["ingest", str(good), str(tmp_path / "nope.pdf")])
    assert result.exit_code == 1
    assert "created" in result.output and "nope.pdf: no such file" in result.output
    assert "Traceback" not in result.output
    stdin = runner.invoke(cli, ["ingest", "--json", "-"], input=f"{good}\n")
    assert json.loads(stdin.output)[0]["status"] == "unchanged"


def test_other_kinds(vault_dir, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "table.csv").write_text("name,score\nada,3\nbob,5\ncy,\n")
    (folder / "rows.jsonl").write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    png = png_bytes()
    (folder / "figure.png").write_bytes(png)
    (folder / "pic.png").write_bytes(png)
    (folder / "clip.md").write_text("---\ntitle: Clipped\nsource: https://example.org/c\ntags: [clippings]\n---\n\nSee ![](pic.png) here.\n")
    repo = tmp_path / "proj"
    (repo / ".git").mkdir(parents=True)
    (repo / "README.md").write_text("# Proj\n\nA tool.\n")
    (repo / "main.py").write_text("print('hi')\n")
    (repo / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    ingester = Ingester(Vault(vault_dir, env={}))
    results = {Path(r.source).name: r for r in ingester.ingest(str(folder)) + ingester.ingest(str(repo))}
    assert all(r.status == "created" for r in results.values()), [r.error for r in results.values()]
    _, csv_body = note_of(vault_dir, results["table.csv"])
    assert "3 rows, 2 columns" in csv_body and "| score | number | 2 | 2 | 3 | 5 | 4 |" in csv_body
    _, jsonl_body = note_of(vault_dir, results["rows.jsonl"])
    assert "2 rows, 2 columns" in jsonl_body
    props, image_body = note_of(vault_dir, results["figure.png"])
    assert props["kind"] == "image" and props["width"] > 0 and "![[" in image_body
    props, clip_body = note_of(vault_dir, results["clip.md"])
    assert props["title"] == "Clipped" and props["source"] == "https://example.org/c"
    assert re.search(r"!\[\[pic-[0-9a-f]{10}\.png\]\]", clip_body)
    _, repo_body = note_of(vault_dir, results["proj"])
    assert "## README" in repo_body and "main.py" in repo_body and "pyproject.toml" in repo_body


def test_images_are_described_when_the_model_reads_images(vault_dir, server, tmp_path):
    from kbc.ingest import image_describer
    from tests.conftest import make_llm, open_vault, templates

    vault = open_vault(vault_dir, server)
    figure = tmp_path / "figure.png"
    figure.write_bytes(png_bytes())
    describe = image_describer(make_llm(vault, server), templates(vault))
    [result] = Ingester(vault, describe=describe).ingest(str(figure))
    props, body = note_of(vault_dir, result)
    assert "## Description" in body and "it shows a figure" in body and props["described_by"] == "model"
    parts = server.requests[0]["messages"][-1]["content"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
    row = next(vault.db.query("select * from requests"))
    assert row["stage"] == "ingest" and row["prompt_tokens"] > 0


@pytest.mark.corpus
def test_pdf_titles_and_authors_come_from_the_first_page():
    from kbc.ingest.pdf import convert_pdf

    titles = {}
    for paper in sorted(PAPERS.glob("*.pdf")):
        note = convert_pdf(paper.read_bytes(), str(paper), paper.stem)
        titles[paper.stem] = (note.title, note.author)
    assert titles["mapreduce-simplified-data-processing-on-large-clusters"] == (
        "MapReduce: Simplified Data Processing on Large Clusters", ["Jeffrey Dean", "Sanjay Ghemawat"])
    assert titles["paxos-made-simple"] == ("Paxos Made Simple", ["Leslie Lamport"])
    assert titles["dynamo-amazons-highly-available-key-value-store"][0] == \
        "Dynamo: Amazon’s Highly Available Key-value Store"
    assert titles["consistent-hashing-and-random-trees"][0].startswith("Consistent Hashing and Random Trees")
