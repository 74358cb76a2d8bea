"""kbc serve: HTTP-level safety tests, and end to end in headless Chromium (Debian's)."""
import json
import re
import shutil
import threading
import urllib.error
import urllib.request

import pytest

from kbc.ask import ask
from kbc.compile import compile_vault
from kbc.serve import Site, make_server
from tests.conftest import make_llm, open_vault, png_bytes, templates


@pytest.fixture
def served(sample_vault, server):
    (sample_vault / "raw" / "Tricky.md").write_text(
        "# Tricky\n\nThis Note mentions <script>alert('x')</script> and Paxos and Raft.\n")
    vault = open_vault(sample_vault, server)
    llm = make_llm(vault, server)
    compile_vault(vault, llm, templates(vault))
    (sample_vault / "secret.txt").write_text("top secret")
    site = Site(vault, ask=lambda question: ask(vault, llm, templates(vault), question))
    http = make_server(site, "127.0.0.1", 0)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{http.server_port}", vault
    http.shutdown()
    http.server_close()


def get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def token_of(base: str) -> str:
    """The per-run token the server puts in its pages; /api/ask needs it (security.py)."""
    return re.search(r'name="kbc-token" content="([^"]+)"', get(base + "/ask")[1]).group(1)


def post(url: str, data: dict):
    token = token_of(url.split("/api/")[0])
    request = urllib.request.Request(url, json.dumps(data).encode(),
                                     {"Content-Type": "application/json", "X-KBC-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_page_content_is_escaped(served):
    base, _ = served
    status, body = get(base + "/page/Tricky%20(source)")
    assert status == 200
    assert "<script>alert" not in body and "&lt;script&gt;alert" in body


@pytest.mark.parametrize("path", [
    "/file/../kbc.toml", "/file/%2e%2e/secret.txt", "/file/..%2f..%2fetc%2fpasswd", "/file/%2fetc%2fpasswd",
    "/file/.kbc/kbc.db", "/file/secret.txt", "/file/raw/../../../etc/passwd", "/page/..%2f..%2fkbc.toml",
])
def test_nothing_outside_the_vault_or_hidden_can_be_read(served, path):
    base, _ = served
    status, body = get(base + path)
    assert status == 404
    assert "top secret" not in body and "root:" not in body and "[llm]" not in body
    assert "Traceback" not in body and "<h1>Error 404</h1>" in body


def test_images_of_the_vault_are_served(served):
    base, vault = served
    attachments = vault.raw_dir / "attachments"
    attachments.mkdir(exist_ok=True)
    original = png_bytes()
    (attachments / "fig.png").write_bytes(original)
    with urllib.request.urlopen(base + "/file/raw/attachments/fig.png", timeout=10) as response:
        assert response.headers["Content-Type"] == "image/png" and response.read() == original


def test_errors_are_pages_and_ask_is_rate_limited(served):
    base, _ = served
    status, body = get(base + "/no/such/route")
    assert status == 404 and "<h1>Error 404</h1>" in body
    first = post(base + "/api/ask", {"question": "What is Paxos?"})
    second = post(base + "/api/ask", {"question": "What is Raft?"})
    assert first[0] == 200 and "[[" not in first[1]["html"] and 'href="/page/' in first[1]["html"]
    assert second[0] == 429 and "try again" in second[1]["error"]
    assert post(base + "/api/ask", {"wrong": 1})[0] in (400, 429)


def test_search_api_highlights_and_escapes(served):
    base, _ = served
    hits = json.loads(get(base + "/api/search?q=script")[1])
    assert hits and all("<script>" not in h["snippet_html"] for h in hits)
    hits = json.loads(get(base + "/api/search?q=paxos")[1])
    assert "<mark>" in hits[0]["snippet_html"].lower() or hits[0]["page"].lower().startswith("paxos")


def test_stats_page_shows_the_ledger(served):
    base, _ = served
    status, body = get(base + "/stats")
    assert status == 200 and "extract" in body and "write" in body and 'id="usage-chart"' in body


@pytest.fixture
def browser(tmp_path):
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("Debian's chromium and chromium-driver are installed by `make install`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_reading_searching_and_asking_in_a_browser(served, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = served
    wait = WebDriverWait(browser, 15)
    shots = []

    def shot(name):
        path = tmp_path / f"{len(shots):02d}-{name}.png"
        browser.save_screenshot(str(path))
        shots.append(path)

    browser.get(base + "/")
    assert "Index" in browser.title
    shot("home")
    browser.find_element(By.LINK_TEXT, "Index of concepts").click()
    wait.until(seen.title_contains("Index of concepts"))
    browser.find_element(By.LINK_TEXT, "Paxos").click()
    wait.until(seen.title_contains("Paxos"))
    backlinks = browser.find_element(By.ID, "backlinks").text
    assert "Paxos in brief (source)" in backlinks
    shot("wikilink")

    box = browser.find_element(By.ID, "search")
    box.send_keys("majority")
    result = wait.until(seen.element_to_be_clickable((By.CSS_SELECTOR, "#results a.result")))
    shot("search")
    target = result.text
    result.click()
    wait.until(seen.title_contains(target))
    shot("result")

    browser.get(base + "/ask")
    browser.find_element(By.ID, "question").send_keys("How do Paxos and Raft reach agreement?")
    browser.find_element(By.ID, "ask-button").click()
    answer = wait.until(seen.visibility_of_element_located((By.ID, "answer")))
    wait.until(lambda d: "prompt tokens" in d.find_element(By.ID, "cost").text)
    links = answer.find_elements(By.CSS_SELECTOR, "a.wikilink")
    assert links and all(link.get_attribute("href").startswith(base + "/page/") for link in links)
    shot("answer")
    links[0].click()
    wait.until(lambda d: d.current_url.startswith(base + "/page/"))
    assert "Error" not in browser.title

    assert len(shots) == 5 and all(p.stat().st_size > 5000 for p in shots)
