// kbc serve's graph view: /api/graph laid out by a small force simulation and drawn as SVG.
// No library and no network beyond this server; every name is set as text, never as markup.
"use strict";
(function () {
  const svg = document.getElementById("graph");
  const chooser = document.getElementById("graph-category");
  const count = document.getElementById("graph-count");
  if (!svg) return;
  const NS = "http://www.w3.org/2000/svg";
  const W = 900, H = 640;
  const palette = ["#2456a6", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207",
                   "#be185d", "#4d7c0f", "#1d4ed8", "#9a3412", "#047857"];
  let graph = null;

  function colourOf(category) {
    const index = graph.categories.findIndex((c) => c.name === category);
    return palette[(index < 0 ? 0 : index) % palette.length];
  }

  // Fruchterman-Reingold: linked pages pull together, all pages push apart, cooling each step.
  function layout(nodes, edges) {
    const n = nodes.length, k = Math.sqrt((W * H) / Math.max(n, 1)) * 0.75;
    const index = new Map(nodes.map((node, i) => [node.name, i]));
    const pos = nodes.map((_, i) => {
      const angle = i * 2.399963, radius = 12 * Math.sqrt(i + 1);  // a sunflower: deterministic, spread
      return { x: W / 2 + radius * Math.cos(angle), y: H / 2 + radius * Math.sin(angle) };
    });
    const links = edges.map((e) => [index.get(e.source), index.get(e.target)]);
    // A hub's many links would pull everything into one knot: each pull is shared by its links.
    const weight = nodes.map(() => 1);
    for (const [a, b] of links) { weight[a]++; weight[b]++; }
    const steps = n > 600 ? 60 : n > 200 ? 150 : 300;
    let heat = W / 10;
    for (let step = 0; step < steps; step++) {
      const move = pos.map(() => ({ x: 0, y: 0 }));
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          let dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y;
          const d2 = Math.max(dx * dx + dy * dy, 0.01), push = (k * k) / d2;
          move[i].x += dx * push; move[i].y += dy * push;
          move[j].x -= dx * push; move[j].y -= dy * push;
        }
      }
      for (const [a, b] of links) {
        const dx = pos[a].x - pos[b].x, dy = pos[a].y - pos[b].y;
        const d = Math.sqrt(dx * dx + dy * dy) || 0.01, pull = d / k / Math.sqrt(weight[a] * weight[b]);
        move[a].x -= dx * pull; move[a].y -= dy * pull;
        move[b].x += dx * pull; move[b].y += dy * pull;
      }
      for (let i = 0; i < n; i++) {
        move[i].x += (W / 2 - pos[i].x) * 1.5; move[i].y += (H / 2 - pos[i].y) * 1.5;  // gravity: one disc
        const length = Math.sqrt(move[i].x ** 2 + move[i].y ** 2) || 1;
        pos[i].x += (move[i].x / length) * Math.min(length, heat);
        pos[i].y += (move[i].y / length) * Math.min(length, heat);
      }
      heat = Math.max(heat * 0.97, 1);
    }
    return fit(pos);
  }

  // Free space while simulating (no pile-up at the edges), then scaled into the drawing.
  function fit(pos) {
    const xs = pos.map((p) => p.x), ys = pos.map((p) => p.y), margin = 30;
    const x0 = Math.min(...xs), y0 = Math.min(...ys);
    const scale = Math.min((W - 2 * margin) / Math.max(Math.max(...xs) - x0, 1),
                           (H - 2 * margin) / Math.max(Math.max(...ys) - y0, 1), 3);
    return pos.map((p) => ({ x: margin + (p.x - x0) * scale, y: margin + (p.y - y0) * scale }));
  }

  function element(name, attributes) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    return node;
  }

  function draw(category) {
    const nodes = graph.nodes.filter((n) => !category || n.category === category);
    const names = new Set(nodes.map((n) => n.name));
    const edges = graph.edges.filter((e) => names.has(e.source) && names.has(e.target));
    const pos = layout(nodes, edges);
    const at = new Map(nodes.map((n, i) => [n.name, pos[i]]));
    svg.replaceChildren();
    const lines = element("g", { class: "graph-edges", stroke: "#9ca3af", "stroke-width": "1" });
    for (const e of edges) {
      const a = at.get(e.source), b = at.get(e.target);
      const line = element("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y });
      line.dataset.source = e.source; line.dataset.target = e.target;
      lines.append(line);
    }
    svg.append(lines);
    // Every name when few; else the best-linked ones (all are in the tooltips and the list below).
    const ranked = nodes.map((n) => n.degree).sort((a, b) => b - a);
    const labelFrom = nodes.length <= 60 ? -1 : ranked[Math.min(29, ranked.length - 1)];
    nodes.forEach((n, i) => {
      const link = element("a", { href: "/page/" + encodeURIComponent(n.name), class: "graph-node" });
      link.dataset.name = n.name; link.dataset.category = n.category;
      const circle = element("circle", { cx: pos[i].x, cy: pos[i].y, r: 5 + Math.min(10, Math.sqrt(n.degree) * 2),
                                         fill: colourOf(n.category), stroke: "#fff", "stroke-width": "1.5" });
      const title = element("title", {});
      title.textContent = `${n.title} (${n.category}, ${n.degree} links)`;
      circle.append(title);
      link.append(circle);
      if (n.degree > labelFrom) {
        const text = element("text", { x: pos[i].x + 9, y: pos[i].y + 4, "font-size": "11", fill: "#222",
                                         stroke: "#fff", "stroke-width": "3", "paint-order": "stroke" });
        text.textContent = n.title;
        link.append(text);
      }
      link.addEventListener("mouseenter", () => highlight(n.name, true));
      link.addEventListener("mouseleave", () => highlight(n.name, false));
      svg.append(link);
    });
    if (count) count.textContent = `${nodes.length} pages, ${edges.length} links`;
    for (const section of document.querySelectorAll(".graph-list")) {
      section.hidden = Boolean(category) && section.dataset.category !== category;
      section.querySelector("h3").style.borderLeft = `0.8em solid ${colourOf(section.dataset.category)}`;
    }
  }

  function highlight(name, on) {
    for (const line of svg.querySelectorAll("line")) {
      const touches = line.dataset.source === name || line.dataset.target === name;
      line.setAttribute("stroke", on && touches ? "#2456a6" : "#9ca3af");
      line.setAttribute("stroke-width", on && touches ? "2.5" : "1");
    }
  }

  fetch("/api/graph").then((r) => r.json()).then((data) => {
    graph = data;
    draw(chooser ? chooser.value : "");
    svg.dataset.ready = "true";
    if (chooser) chooser.addEventListener("change", () => draw(chooser.value));
  });
})();
