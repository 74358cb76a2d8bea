"""kbc serve reads the link graph the last compile saved, and only while the wiki is as it was."""
from kbc.compile import compile_vault
from kbc.serve import Site
from kbc.vault.link_graph import GRAPH_FILE, LinkGraph, inbound_lists, load_graph, save_graph, wiki_stamp
from kbc.vault.linkcheck import LinkResolver
from tests.conftest import make_llm, open_vault, templates


def _computed(vault) -> LinkGraph:
    aliases = vault.page_aliases()
    resolver = LinkResolver(vault.note_names(), aliases)
    return LinkGraph(inbound_lists(Site._inbound(Site._read(vault, vault.wiki_pages()), resolver)), aliases)


def test_the_saved_graph_is_the_one_serve_computes_and_a_changed_page_voids_it(sample_vault, server):
    vault = open_vault(sample_vault, server)
    compile_vault(vault, make_llm(vault, server), templates(vault))
    saved = load_graph(vault, wiki_stamp(vault))
    assert saved is not None and saved.inbound  # the compile saved it, for the pages as they are
    assert saved == _computed(vault)
    site = Site(vault)
    name, page = next((key, p) for key in saved.inbound for p in vault.wiki_pages().values()
                      if p.stem.casefold() == key)  # a page's (raw notes are linked to too)
    assert site.page(page.stem)[0] == 200 and site._graph == saved.inbound

    edited = next(p for p in (vault.wiki_dir / "concepts").glob("*.md"))
    edited.write_text(edited.read_text() + "\nSee [[" + page.stem + "]].\n")
    assert load_graph(vault, wiki_stamp(vault)) is None  # the wiki changed: computed again
    fresh = Site(vault)
    fresh.page(page.stem)
    assert edited.stem in fresh._graph[name] and fresh._graph == _computed(vault).inbound


def test_a_damaged_graph_file_is_no_graph(sample_vault, server):
    vault = open_vault(sample_vault, server)
    save_graph(vault, {}, wiki_stamp(vault))
    assert load_graph(vault, wiki_stamp(vault)) == LinkGraph({}, {})
    (vault.state_dir / GRAPH_FILE).write_text("{not json")
    assert load_graph(vault, wiki_stamp(vault)) is None
