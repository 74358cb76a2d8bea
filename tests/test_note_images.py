"""Images of Markdown notes: site-root paths, HTML <img> tags, never out of the input, never silently lost."""
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from kbc.cli import cli
from kbc.ingest.noteimages import copy_note_images
from kbc.vault import init_vault
from kbc.vault.frontmatter import split
from tests.conftest import CORPUS

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def make_blog(root: Path) -> Path:
    (root / "assets" / "post").mkdir(parents=True)
    (root / "assets" / "post" / "figure.png").write_bytes(PNG)
    (root / "posts").mkdir()
    (root / "posts" / "beside.png").write_bytes(PNG)
    note = root / "posts" / "2022-01-01-post.md"
    note.write_text(
        "---\ntitle: A post\n---\n"
        "Intro.\n\n<div class=\"imgcap\">\n<img src=\"/assets/post/figure.png\" width=\"100%\" />\n"
        "<div class=\"thecap\">The caption.</div>\n</div>\n\n"
        "Inline ![a figure](beside.png \"title\") and a gone one <img src='/assets/post/gone.png'>.\n\n"
        "```html\n<img src=\"/assets/post/figure.png\">\n```\n\n"
        "Remote ![x](https://example.org/x.png) stays.\n")
    return note


def test_site_root_and_relative_images_are_copied_and_a_missing_one_reported(tmp_path):
    note = make_blog(tmp_path / "blog")
    result = copy_note_images(note.read_text(), note, tmp_path / "blog")
    assert sorted(a.name for a in result.attachments) == ["beside.png", "figure.png"]
    assert result.missing == ["/assets/post/gone.png"]
    body = result.body
    assert "\n\n![[kbc-attachment:figure.png]]\n\n" in body  # set apart from the HTML block so it renders
    assert "<img src='/assets/post/gone.png'>" in body  # what was not found stays as it was
    assert "```html\n<img src=\"/assets/post/figure.png\">\n```" in body  # code is left alone
    assert "https://example.org/x.png" in body and "The caption." in body


def test_never_out_of_the_input_folder(tmp_path):
    note = make_blog(tmp_path / "blog")
    # Ingesting only the posts/ folder: /assets lies outside it, so it is not read.
    result = copy_note_images(note.read_text(), note, tmp_path / "blog" / "posts")
    assert [a.name for a in result.attachments] == ["beside.png"]
    assert result.missing == ["/assets/post/figure.png", "/assets/post/gone.png"]
    outside = tmp_path / "secret.png"
    outside.write_bytes(PNG)
    (tmp_path / "blog" / "posts" / "link.png").symlink_to(outside)
    escaped = copy_note_images("![x](link.png) ![y](../../secret.png)", note, tmp_path / "blog")
    assert escaped.attachments == [] and escaped.missing == ["link.png", "../../secret.png"]


def test_ingest_copies_into_attachments_and_warns_once_per_missing_image(tmp_path):
    note = make_blog(tmp_path / "blog")
    vault = tmp_path / "vault"
    init_vault(vault)
    result = CliRunner().invoke(cli, ["--vault", str(vault), "ingest", str(tmp_path / "blog")])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert warnings == [f"kbc: warning: {note.resolve()}: image /assets/post/gone.png not found in "
                        f"{tmp_path / 'blog'}, left as a link"]
    _, body = split((vault / "raw" / "A post.md").read_text())
    embeds = re.findall(r"!\[\[([^\]]+)\]\]", body)
    assert len(embeds) == 2 and all((vault / "raw" / "attachments" / name).is_file() for name in embeds)


@pytest.mark.corpus
def test_the_corpus_blog_posts_keep_every_image(tmp_path):
    init_vault(tmp_path / "vault")
    posts = sorted((CORPUS / "blog").glob("*.md"))
    result = CliRunner().invoke(cli, ["--vault", str(tmp_path / "vault"), "ingest", *map(str, posts)])
    assert result.exit_code == 0 and "warning" not in result.output, result.output
    expected = sum(len(re.findall(r"<img\b", p.read_text())) for p in posts)
    embedded = set()
    for note in (tmp_path / "vault" / "raw").glob("*.md"):
        body = split(note.read_text())[1]
        assert "<img" not in body and "/assets/" not in body
        embedded |= set(re.findall(r"!\[\[([^\]]+)\]\]", body))
    attachments = {p.name for p in (tmp_path / "vault" / "raw" / "attachments").iterdir()}
    assert expected == 40 and embedded == attachments and len(attachments) == expected
