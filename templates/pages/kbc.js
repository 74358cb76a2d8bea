// kbc serve's only script (pages allow no inline script): search as you type, and the ask form.
// The server puts a per-run token in <meta name="kbc-token">; /api/ask needs it back.
"use strict";
const kbcToken = (document.querySelector('meta[name="kbc-token"]') || {}).content || "";

const box = document.getElementById("search"), list = document.getElementById("results");
if (box && list) {
  let timer = null;
  box.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = box.value.trim();
      if (!q) { list.innerHTML = ""; return; }
      const hits = await (await fetch("/api/search?q=" + encodeURIComponent(q))).json();
      list.innerHTML = "";
      for (const hit of hits) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/page/" + encodeURIComponent(hit.page);
        a.textContent = hit.page;
        a.className = "result";
        const snippet = document.createElement("div");
        snippet.innerHTML = hit.snippet_html;  // escaped by the server, marks added there
        li.append(a, snippet);
        list.append(li);
      }
    }, 120);
  });
}

const form = document.getElementById("ask-form");
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = document.getElementById("answer"), cost = document.getElementById("cost");
    const session = document.getElementById("session"), followUp = document.getElementById("follow-up");
    cost.textContent = "Thinking…";
    const response = await fetch("/api/ask", {method: "POST",
      headers: {"Content-Type": "application/json", "X-KBC-Token": kbcToken},
      body: JSON.stringify({question: document.getElementById("question").value,
                            session: followUp && followUp.checked ? session.textContent : ""})});
    const data = await response.json();
    if (!response.ok) { cost.textContent = data.error; return; }
    answer.innerHTML = data.html;  // rendered and escaped by the server
    answer.hidden = false;
    // `kbc ask --session ID` continues this conversation from the command line.
    if (session) {
      session.textContent = data.session || "";
      document.getElementById("follow-up-label").hidden = !data.session;
    }
    cost.textContent = `${data.prompt_tokens} prompt tokens (${data.cached_tokens} cached), ${data.completion_tokens} completion`;
  });
}
