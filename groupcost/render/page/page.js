/* groupcost report: draws the architecture graph (layout by the vendored dagre), the hover rows,
   folding of blocks, the table's sorting and filtering, and the theme switch. Figures come from
   the page's data; nothing here counts anything. */
(() => {
  "use strict";
  const D = JSON.parse(document.getElementById("graph-data").textContent);
  const HEADERS = JSON.parse(document.getElementById("headers").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const root = document.documentElement;
  const graphBox = document.getElementById("graph");
  const tip = document.getElementById("tip");
  const table = document.getElementById("layers");

  /* theme */
  document.getElementById("theme").addEventListener("click", () => {
    const dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
    root.dataset.theme = dark ? "light" : "dark";
  });

  /* graph state: the blocks that are open */
  const segments = (name) => name.split(".").length;
  const atFirst = () => new Set(Object.keys(D.blocks).filter((b) => segments(b) < D.depth));
  let expanded = atFirst();
  let metric = 0;
  /* one side of a diff: a block holding changed layers is marked "held" (or by its one kind of change) */
  const changedIn = {};
  D.nodes.forEach((n) => {
    if (!n.change) return;
    for (const p of n.parents) changedIn[p] = changedIn[p] && changedIn[p] !== n.change ? "held" : n.change;
  });

  const boxOf = (i) => {
    for (const p of D.nodes[i].parents) if (!expanded.has(p)) return "b:" + p;
    return "n:" + i;
  };

  const measure = (() => {
    const ctx = document.createElement("canvas").getContext("2d");
    return (text, bold) => {
      ctx.font = (bold ? "600 " : "") + "11px system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif";
      return ctx.measureText(text).width;
    };
  })();

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, cls) {
    const t = el("text", { x, y, "text-anchor": "middle" }, parent);
    if (cls) t.setAttribute("class", cls);
    t.textContent = content;
    return t;
  }

  /* What one box says: [name, second line, badge, shape] */
  function describe(id) {
    if (id.startsWith("b:")) {
      const name = id.slice(2), b = D.blocks[name];
      const label = b.parent ? name.slice(b.parent.length + 1) : name;  // its open parent's frame says the rest
      if (b.shapes.length > 1) {  // several tensors leave it (an FPN's outputs): each shape, two to a line
        const pairs = [];
        for (let k = 0; k < b.shapes.length; k += 2) pairs.push(b.shapes.slice(k, k + 2).join(" · "));
        return { lines: [label, "▸ " + b.size + " layers · " + b.shapes.length + " outputs", ...pairs], badge: "", kind: "block", v: b.v, change: changedIn[name] };
      }
      return { lines: [label, "▸ " + b.size + " layers · " + b.shape], badge: "", kind: "block", v: b.v, change: changedIn[name] };
    }
    const n = D.nodes[Number(id.slice(2))];
    if (n.merge) return { lines: [n.label], kind: "merge", v: n.v, change: n.change };
    const badge = n.mark === "dw" ? "dw" : n.mark === "grouped" ? "G=" + n.g : "";
    return { lines: [n.label, n.type + " · " + n.shape], badge, kind: n.mark || "layer", v: n.v, change: n.change };
  }

  function layout() {
    const g = new dagre.graphlib.Graph({ compound: true });
    g.setGraph({ rankdir: "TB", nodesep: 14, ranksep: 28, edgesep: 8, marginx: 12, marginy: 22 });
    g.setDefaultEdgeLabel(() => ({}));
    const innermostOpen = (parents) => {
      for (let k = parents.length - 1; k >= 0; k--) if (expanded.has(parents[k])) return parents[k];
      return null;
    };
    const clusters = new Set();
    const openCluster = (name) => {
      if (!name || clusters.has(name)) return;
      clusters.add(name);
      g.setNode("c:" + name, { cluster: name });
      const parent = D.blocks[name].parent;
      if (parent) { openCluster(parent); g.setParent("c:" + name, "c:" + parent); }
    };
    const seen = new Set();
    D.nodes.forEach((n, i) => {
      const id = boxOf(i);
      if (seen.has(id)) return;
      seen.add(id);
      const d = describe(id);
      const bold = measure(d.lines[0], true);
      const rest = Math.max(0, ...d.lines.slice(1).map((s, k) => measure(s + (k === 0 && d.badge ? "  " + d.badge : ""), false)));
      const size = d.kind === "merge" ? { width: 24, height: 24 } : { width: Math.ceil(Math.max(bold, rest)) + 16, height: 14 * d.lines.length + 8 };
      g.setNode(id, { ...size, id, d });
      const parent = id.startsWith("b:") ? D.blocks[id.slice(2)].parent : innermostOpen(n.parents);
      if (parent) { openCluster(parent); g.setParent(id, "c:" + parent); }
    });
    const inLabel = "input " + D.input;
    g.setNode("in", { width: measure(inLabel) + 16, height: 22, terminal: [inLabel] });
    // one output terminal per box: a folded block with several outputs gets one edge to one terminal listing them,
    // not several edges leaving the same point along the same line
    const outputsOf = new Map();
    D.outputs.forEach((i) => {
      const box = boxOf(i);
      if (!outputsOf.has(box)) outputsOf.set(box, []);
      outputsOf.get(box).push(D.nodes[i].shape);
    });
    let k = 0;
    for (const [box, shapes] of outputsOf) {
      const lines = shapes.length === 1 ? ["output " + shapes[0]] : [shapes.length + " outputs", ...shapes];
      g.setNode("out:" + k, { width: Math.max(...lines.map((l) => measure(l))) + 16, height: 22 + 14 * (lines.length - 1), terminal: lines });
      g.setEdge(box, "out:" + k, { kind: "flow" });
      k++;
    }
    const rank = { skip: 0, concat: 1, flow: 2 };  // between folded blocks, the main path wins
    for (const [s, t, kind] of D.edges) {
      const u = s < 0 ? "in" : boxOf(s), v = boxOf(t);
      if (u === v) continue;
      const old = g.edge(u, v);
      if (!old || rank[kind] > rank[old.kind]) g.setEdge(u, v, { kind });
    }
    dagre.layout(g);
    return g;
  }

  function draw() {
    const g = layout();
    // the drawing's extent: boxes, clusters and every bend of every edge (edges may swing wide)
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    const extend = (x, y, w = 0, h = 0) => {
      x0 = Math.min(x0, x - w / 2); x1 = Math.max(x1, x + w / 2); y0 = Math.min(y0, y - h / 2); y1 = Math.max(y1, y + h / 2);
    };
    const frameLabel = (name) => "▾ " + (D.blocks[name].parent ? name.slice(D.blocks[name].parent.length + 1) : name);
    g.nodes().forEach((v) => {
      const n = g.node(v);
      extend(n.x, n.y, n.width, n.height);
      if (n.cluster) extend(n.x - n.width / 2 + 2 + measure(frameLabel(n.cluster), true) / 2, n.y - n.height / 2 - 8, measure(frameLabel(n.cluster), true), 16);
    });
    g.edges().forEach((e) => g.edge(e).points.forEach((p) => extend(p.x, p.y)));
    x0 -= 12; y0 -= 22; x1 += 12; y1 += 12;
    const width = Math.ceil(x1 - x0), height = Math.ceil(y1 - y0);
    const svg = el("svg", { width, height, viewBox: `${x0.toFixed(1)} ${y0.toFixed(1)} ${width} ${height}`, role: "img", "aria-label": D.model + " architecture" });
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z" }, marker);
    const clusterLayer = el("g", { class: "clusters" }, svg);
    const edgeLayer = el("g", { class: "edges" }, svg);
    const nodeLayer = el("g", { class: "nodes" }, svg);
    // outer clusters first, so inner ones paint above them
    const clusters = g.nodes().filter((v) => g.node(v).cluster).sort((a, b) => segments(a) - segments(b));
    for (const v of clusters) {
      const c = g.node(v);
      const box = el("g", { class: "cluster", "data-block": c.cluster }, clusterLayer);
      el("rect", { x: c.x - c.width / 2, y: c.y - c.height / 2, width: c.width, height: c.height, rx: 6 }, box);
      const label = el("text", { x: c.x - c.width / 2 + 2, y: c.y - c.height / 2 - 4 }, box);
      label.textContent = frameLabel(c.cluster);  // the frame around it says the rest of the name
      const title = el("title", {}, label);
      title.textContent = "fold " + c.cluster;
      label.addEventListener("click", () => { expanded.delete(c.cluster); draw(); });
    }
    for (const e of g.edges()) {
      const edge = g.edge(e);
      const pts = edge.points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`);
      el("path", { class: "edge " + edge.kind, d: "M" + pts.join(" L"), "marker-end": "url(#arrow)" }, edgeLayer);
    }
    for (const v of g.nodes()) {
      const n = g.node(v);
      if (n.cluster) continue;
      const x0 = n.x - n.width / 2, y0 = n.y - n.height / 2;
      if (n.terminal) {
        const group = el("g", { class: "terminal" }, nodeLayer);
        el("rect", { x: x0, y: y0, width: n.width, height: n.height, rx: 11 }, group);
        n.terminal.forEach((line, k) => text(group, n.x, y0 + 15 + 14 * k, line));
        continue;
      }
      const d = n.d;
      const group = el("g", { class: "node " + d.kind + (d.change ? " change-" + d.change : ""), "data-id": n.id, tabindex: d.kind === "block" ? 0 : -1 }, nodeLayer);
      if (d.kind === "merge") {
        el("circle", { cx: n.x, cy: n.y, r: 11 }, group);
        text(group, n.x, n.y + 4.5, d.lines[0]);
      } else {
        el("rect", { class: "box", x: x0, y: y0, width: n.width, height: n.height, rx: d.kind === "block" ? 7 : 3 }, group);
        el("rect", { class: "heat", x: x0 + 1, y: y0 + 1, width: n.width - 2, height: n.height - 2, rx: 2, opacity: 0 }, group);
        d.lines.forEach((line, k) => {
          const t = text(group, n.x, y0 + 15 + 14 * k, line, k === 0 ? "name" : "");
          if (k === 1 && d.badge) {
            const badge = el("tspan", { class: "badge" }, t);
            badge.textContent = "  " + d.badge;
          }
        });
      }
      group.addEventListener("mouseenter", (ev) => showTip(n.id, ev));
      group.addEventListener("mousemove", moveTip);
      group.addEventListener("mouseleave", hideTip);
      if (d.kind === "block") {
        const open = () => { expanded.add(n.id.slice(2)); hideTip(); draw(); };
        group.addEventListener("click", open);
        group.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); open(); } });
      }
    }
    graphBox.replaceChildren(svg);
    colour();
  }

  /* heat: each box's share of the metric, relative to the hottest box on screen */
  function colour() {
    const boxes = Array.from(graphBox.querySelectorAll("g.node"));
    const share = (g) => describe(g.dataset.id).v[metric] / (D.totals[metric] || 1);
    const top = Math.max(0, ...boxes.map(share)) || 1;
    for (const g of boxes) {
      const heat = g.querySelector("rect.heat");
      if (heat) heat.setAttribute("opacity", (0.85 * Math.sqrt(share(g) / top)).toFixed(3));
    }
  }

  function rowCells(id) {
    if (id.startsWith("b:")) return [id.slice(2), D.blocks[id.slice(2)].cells];
    const tr = table.querySelector(`tbody tr[data-i="${id.slice(2)}"]`);
    return [tr.dataset.name, Array.from(tr.cells, (c) => c.textContent)];
  }

  function showTip(id, ev) {
    const [name, cells] = rowCells(id);
    const t = document.createElement("table");
    t.createCaption().textContent = name + (id.startsWith("b:") ? " (block, summed)" : "");
    HEADERS.forEach((h, k) => {
      if (k === 0) return;
      const tr = t.insertRow();
      const th = document.createElement("th");
      th.textContent = h;
      tr.appendChild(th);
      tr.insertCell().textContent = cells[k];
    });
    tip.replaceChildren(t);
    tip.hidden = false;
    moveTip(ev);
  }
  function moveTip(ev) {
    const pad = 14;
    let x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + tip.offsetWidth > innerWidth) x = ev.clientX - tip.offsetWidth - pad;
    if (y + tip.offsetHeight > innerHeight) y = ev.clientY - tip.offsetHeight - pad;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function hideTip() { tip.hidden = true; }

  document.getElementById("metric").addEventListener("change", (ev) => { metric = Number(ev.target.value); colour(); });
  document.getElementById("expand-all").addEventListener("click", () => { expanded = new Set(Object.keys(D.blocks)); draw(); });
  document.getElementById("fold-all").addEventListener("click", () => { expanded = new Set(); draw(); });
  document.getElementById("fold-reset").addEventListener("click", () => { expanded = atFirst(); draw(); });

  /* the table: sort by a column's exact values, filter by a name glob */
  const tbody = table.tBodies[0];
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach((th, col) => th.querySelector("button").addEventListener("click", () => {
    const ascending = th.getAttribute("aria-sort") !== "ascending";
    heads.forEach((h) => h.setAttribute("aria-sort", "none"));
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const numeric = th.dataset.type === "num";
    const order = (a, b) => {
      const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      const c = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, { numeric: true });
      return (ascending ? c : -c) || Number(a.dataset.i) - Number(b.dataset.i);
    };
    tbody.append(...Array.from(tbody.rows).sort(order));
  }));

  function globToRegExp(glob) {
    if (!/[*?[]/.test(glob)) glob = "*" + glob + "*";
    let re = "";
    for (let i = 0; i < glob.length; i++) {
      const c = glob[i];
      if (c === "*") re += ".*";
      else if (c === "?") re += ".";
      else if (c === "[" && glob.indexOf("]", i + 2) > 0) {
        const j = glob.indexOf("]", i + 2);
        let set = glob.slice(i + 1, j).replace(/\\/g, "\\\\");
        if (set[0] === "!") set = "^" + set.slice(1);
        re += "[" + set + "]";
        i = j;
      } else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    return new RegExp("^" + re + "$");
  }
  const count = document.getElementById("count");
  const filter = document.getElementById("filter");
  function applyFilter() {
    const glob = filter.value.trim();
    const re = glob ? globToRegExp(glob) : null;
    let shown = 0;
    for (const tr of tbody.rows) {
      const keep = !re || re.test(tr.dataset.name);
      tr.hidden = !keep;
      shown += keep;
    }
    count.textContent = `${shown} of ${tbody.rows.length} rows`;
  }
  filter.addEventListener("input", applyFilter);
  applyFilter();

  draw();
})();
