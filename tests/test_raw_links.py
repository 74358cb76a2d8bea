"""A note in raw/ that is a link out of the vault (or a linked folder) is never read: compile
names it in one line and goes on; the pages of a note that became such a link are kept."""
from tests.test_compile import run


def test_links_out_of_raw_are_named_not_read(sample_vault, server, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe vault must never quote this sentence.\n")
    (sample_vault / "raw" / "secret.md").symlink_to(outside / "secret.md")
    (sample_vault / "raw" / "linked").symlink_to(outside, target_is_directory=True)
    vault, _, report = run(sample_vault, server)
    assert any(e.startswith("raw/secret.md: a link to outside") for e in report.errors)
    assert any(e.startswith("raw/linked: a linked folder") for e in report.errors)
    assert report.new and all("secret" not in p for p in report.new)
    assert not any("never quote" in p.read_text() for p in vault.wiki_dir.rglob("*.md"))

    kept = sorted(vault.wiki_dir.glob("sources/*.md"))
    note = next(p for p in sorted((sample_vault / "raw").glob("*.md")) if not p.is_symlink())
    note.rename(outside / note.name)
    note.symlink_to(outside / note.name)  # a compiled note replaced by a link out: its pages stay
    _, _, report = run(sample_vault, server)
    assert not report.removed and sorted(vault.wiki_dir.glob("sources/*.md")) == kept
