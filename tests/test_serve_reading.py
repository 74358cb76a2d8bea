"""The reading room of kbc serve: heading anchors, footnotes, task lists, and the graph view."""
import json

from tests.test_serve import browser, get, served  # noqa: F401 - fixtures shared with the serve tests

LONG = "\n\n".join(f"Filler paragraph {i} so the page scrolls." for i in range(60))
READING = f"""---
title: Reading room
kind: note
category: notes
---
# Reading room

See [[Reading room#Leader election]] and [[#Safety, in short]]; also [[Paxos]].

{LONG}

## Leader election

A candidate needs a majority.[^votes]

- [x] read the paper
- [ ] reproduce it

| term | meaning |
| ---- | ------- |
| lease | a lock that expires |

{LONG}

## Safety, in short

Overlapping majorities.

[^votes]: Counted per term.
"""


def add_page(vault) -> None:
    folder = vault.wiki_dir / "notes"
    folder.mkdir(exist_ok=True)
    (folder / "Reading room.md").write_text(READING)


def test_headings_get_ids_that_links_use_and_footnotes_tasks_tables_render(served):
    base, vault = served
    add_page(vault)
    status, body = get(base + "/page/Reading%20room")
    assert status == 200
    assert '<h2 id="leader-election">' in body and '<h2 id="safety-in-short">' in body
    assert 'href="/page/Reading%20room#leader-election"' in body and 'href="#safety-in-short"' in body
    assert 'href="#fn1"' in body and 'id="fn1"' in body and 'class="footnotes"' in body
    assert body.count('type="checkbox"') == 2 and "<td>a lock that expires</td>" in body


def test_graph_api_has_pages_links_and_categories(served):
    base, vault = served
    graph = json.loads(get(base + "/api/graph")[1])
    names = {n["name"] for n in graph["nodes"]}
    assert names and not any(n == "index" or n.startswith("Index of ") for n in names)
    assert graph["edges"] and all(e["source"] in names and e["target"] in names for e in graph["edges"])
    assert sum(c["pages"] for c in graph["categories"]) == len(graph["nodes"])
    status, body = get(base + "/graph")
    assert status == 200 and 'src="/static/graph.js"' in body and "<script>" not in body
    assert get(base + "/static/graph.js")[0] == 200


def test_graph_and_anchors_in_a_browser(served, browser):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, vault = served
    add_page(vault)
    wait = WebDriverWait(browser, 20)
    graph = json.loads(get(base + "/api/graph")[1])

    browser.get(base + "/graph")
    wait.until(lambda b: b.find_element(By.ID, "graph").get_attribute("data-ready") == "true")
    circles = browser.find_elements(By.CSS_SELECTOR, "#graph a.graph-node circle")
    assert len(circles) == len(graph["nodes"])
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph line")) == len(graph["edges"])
    inside = [c for c in circles if 0 <= float(c.get_attribute("cx")) <= 900]
    assert len(inside) == len(circles)  # laid out within the drawing

    category = graph["categories"][0]
    Select(browser.find_element(By.ID, "graph-category")).select_by_value(category["name"])
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#graph a.graph-node")) == category["pages"])

    node = browser.find_elements(By.CSS_SELECTOR, "#graph a.graph-node")[0]
    name = node.get_attribute("data-name")
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", node)
    wait.until(lambda b: "/page/" in b.current_url)
    assert browser.find_element(By.TAG_NAME, "title").get_attribute("textContent").endswith("· kbc")
    assert name in browser.current_url.replace("%20", " ")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert errors == []  # no script error, no CSP refusal

    browser.get(base + "/page/Reading%20room")
    browser.find_element(By.CSS_SELECTOR, 'a[href$="#leader-election"]').click()
    wait.until(lambda b: b.current_url.endswith("#leader-election"))
    top = browser.execute_script("return document.getElementById('leader-election').getBoundingClientRect().top")
    assert abs(top) < 40 and browser.execute_script("return window.scrollY") > 500  # landed on the heading
