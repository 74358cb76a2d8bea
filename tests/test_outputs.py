"""Slides, charts and reports from a compiled wiki (scripted server), filed back with sources."""

import pytest
from matplotlib import image as mpimg

from kbc.compile import compile_vault
from kbc.output import NoData, OutputMaker, draw_chart
from kbc.search import Searcher
from kbc.vault.frontmatter import split
from kbc.vault.links import find_links, link_key
from tests.conftest import REPO, make_llm, open_vault, png_bytes, templates

MARP = REPO / "node_modules" / ".bin" / "marp"


@pytest.fixture
def maker(sample_vault, server):
    attachments = sample_vault / "raw" / "attachments"
    attachments.mkdir(exist_ok=True)
    (attachments / "breakconv.png").write_bytes(png_bytes())
    (sample_vault / "raw" / "Quorum sizes.md").write_text(
        "# Quorum sizes\n\nPaxos with 5 Acceptors tolerates 2 failures. Raft with 3 Servers tolerates 1 failure.\n\n"
        "![[breakconv.png]]\n")
    vault = open_vault(sample_vault, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    return OutputMaker(vault, llm, templates(vault))


def links_resolve(vault, text):
    names = {link_key(n) for n in vault.note_names()}
    return all(link_key(link.target) in names for link in find_links(text) if not link.embed)


def test_slides_are_a_marp_deck_with_sources(maker, server):
    output = maker.slides("Quorum sizes in Paxos")
    deck = maker.vault.root / output.page
    props, body = split(deck.read_text())
    assert props["marp"] is True and props["theme"] == "default" and props["paginate"] is True
    assert props["kind"] == "slides" and props["kbc_model"] == "scripted" and props["sources"]
    slides = body.split("\n\n---\n\n")
    assert 5 <= len(slides) <= 15
    assert slides[-1].startswith("## Sources") and "[[Quorum sizes (source)]]" in slides[-1]
    assert links_resolve(maker.vault, body)
    image = next(line for line in body.splitlines() if line.startswith("![bg"))
    assert (deck.parent / image.split("(", 1)[1].rstrip(")")).resolve().is_file()
    index = (maker.vault.wiki_dir / "indexes" / "Index of outputs.md").read_text()
    assert f"[[{deck.stem}]]" in index
    # the same request against the same wiki is free
    sent = len(server.requests)
    again = maker.slides("Quorum sizes in Paxos")
    assert again.from_cache and len(server.requests) == sent


def test_marp_renders_the_deck_to_html(maker, monkeypatch):
    assert MARP.exists(), "marp-cli is installed by `make install` (npm ci)"
    monkeypatch.setenv("KBC_MARP", str(MARP))
    output = maker.slides("Quorum sizes in Paxos")
    html = maker.render(maker.vault.root / output.page, "html")
    text = html.read_text()
    assert html.suffix == ".html" and "<section" in text and text.count("<section") >= 5


def test_render_without_marp_says_how_to_install(maker, monkeypatch):
    monkeypatch.delenv("KBC_MARP", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    output = maker.slides("Paxos")
    with pytest.raises(Exception, match="npm install -g @marp-team/marp-cli"):
        maker.render(maker.vault.root / output.page, "html")


def test_chart_is_drawn_from_numbers_found_on_their_pages(maker, server):
    output = maker.chart("How many failures does each algorithm tolerate?")
    note = (maker.vault.root / output.page).read_text()
    png = maker.vault.root / output.files[0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"![[{png.name}]]" in note and "| values |" in note and "[[Quorum sizes (source)]]" in note
    assert links_resolve(maker.vault, note)
    assert Searcher(maker.vault).search("failures tolerate chart")


def test_chart_png_shows_the_data_given(tmp_path):
    series = [{"name": "nodes", "unit": "", "points": [
        {"label": "a", "value": 1.0, "page": "p"}, {"label": "b", "value": 2.0, "page": "p"},
        {"label": "c", "value": 4.0, "page": "p"}]}]
    target = tmp_path / "chart.png"
    draw_chart("bar", "T", "x", "y", series, target)
    pixels = mpimg.imread(target)[:, :, :3]
    blue = (abs(pixels[:, :, 0] - 0x1F / 255) < 0.05) & (abs(pixels[:, :, 1] - 0x77 / 255) < 0.05) \
        & (abs(pixels[:, :, 2] - 0xB4 / 255) < 0.05)
    columns = blue.sum(axis=0)
    bars, current = [], []
    for height in columns:  # runs of columns holding bar pixels
        if height:
            current.append(height)
        elif current:
            bars.append(max(current))
            current = []
    assert len(bars) == 3
    assert abs(bars[1] / bars[0] - 2) < 0.1 and abs(bars[2] / bars[0] - 4) < 0.15


def test_a_wiki_without_numbers_gets_no_data_found(vault_dir, server):
    (vault_dir / "raw" / "Prose.md").write_text("# Prose\n\nLeases are locks that expire. Clocks matter for Leases.\n")
    vault = open_vault(vault_dir, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    sent = len(server.requests)
    with pytest.raises(NoData, match="no data found"):
        OutputMaker(vault, llm, templates(vault)).chart("How long do leases last?")
    assert len(server.requests) == sent
    assert not (vault.wiki_dir / "outputs").exists()


def test_report_cites_pages_and_its_links_resolve(maker):
    output = maker.report("Consensus and quorums")
    props, body = split((maker.vault.root / output.page).read_text())
    assert props["kind"] == "report" and output.sources
    assert body.count("## ") >= 2 and "## Sources" in body
    assert links_resolve(maker.vault, body)


def test_cli_slides_json(maker, env, monkeypatch):
    from click.testing import CliRunner

    from kbc.cli import cli

    monkeypatch.setenv("KBC_VAULT", str(maker.vault.root))
    result = CliRunner().invoke(cli, ["report", "Paxos", "--json"])
    assert result.exit_code == 0, result.output
    assert '"kind": "report"' in result.output
    missing = CliRunner().invoke(cli, ["chart", "zzzz qqqq"])
    assert missing.exit_code == 1 and "no data found" in missing.output
