// dagflow web UI: plain JavaScript, no dependencies. Pages poll the
// master's REST API (docs/openapi.yaml) once a second.
"use strict";
(function () {
  const POLL_MS = 1000;
  const TOKEN_KEY = "dagflow.token";
  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  let page = null; // {update(): Promise, stop()}
  let timer = null;
  // stats are timings the browser tests read (window.dagflowUI.stats).
  const stats = {};

  // ---------- helpers ----------
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  function fmtNum(n) {
    if (n == null || isNaN(n)) return "–";
    if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + "G";
    if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + "M";
    if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
    return Number.isInteger(n) ? String(n) : n.toFixed(1);
  }
  function fmtBytes(n) {
    if (!n) return "0 B";
    const u = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + u[i];
  }
  function fmtDur(nanos) {
    if (nanos == null) return "–";
    const ms = nanos / 1e6;
    if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
    const s = ms / 1000;
    if (s < 120) return s.toFixed(1) + " s";
    const m = Math.floor(s / 60);
    if (m < 120) return m + "m " + Math.floor(s % 60) + "s";
    return Math.floor(m / 60) + "h " + (m % 60) + "m";
  }
  function fmtTime(t) {
    if (!t || t.startsWith("0001")) return "–";
    return new Date(t).toLocaleTimeString();
  }
  function pct(x) { return (100 * (x || 0)).toFixed(0) + "%"; }
  function stateTag(s) { return '<span class="state ' + esc(s) + '">' + esc(s) + "</span>"; }
  function bpColor(r) { return r >= 0.5 ? "#d64545" : r >= 0.1 ? "#e09a1a" : "#2e9d5b"; }
  function bpClass(r) { return r >= 0.5 ? "high" : r >= 0.1 ? "low" : "ok"; }
  const ended = (s) => s === "finished" || s === "failed" || s === "canceled";
  const PALETTE = ["#dce9ff", "#ffe7cc", "#dff5e3", "#f4dcf6", "#fff3bf", "#d9f1f4", "#f9dede", "#e7e3fb"];
  function groupColor(g) { return PALETTE[g % PALETTE.length]; }

  function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
  async function api(path, opts) {
    opts = opts || {};
    const headers = Object.assign({}, opts.headers || {});
    if (token()) headers["Authorization"] = "Bearer " + token();
    const resp = await fetch(path, Object.assign({}, opts, { headers: headers, cache: "no-store" }));
    const ct = resp.headers.get("Content-Type") || "";
    if (!resp.ok) {
      let msg = resp.status + " " + resp.statusText;
      if (ct.includes("application/json")) {
        try { msg = (await resp.json()).error || msg; } catch (e) { /* keep status */ }
      }
      const err = new Error(msg);
      err.status = resp.status;
      throw err;
    }
    return ct.includes("application/json") ? resp.json() : resp.text();
  }
  function showError(err) {
    if (!err) { banner.hidden = true; return; }
    let msg = err.message || String(err);
    if (err.status === 401) msg += "\nPaste a bearer token above (it is kept in this tab's sessionStorage), or use a client certificate.";
    banner.textContent = msg;
    banner.hidden = false;
  }

  // ---------- auth form ----------
  function renderAuth() {
    document.getElementById("auth-state").textContent = token() ? "token set" : "";
  }
  document.getElementById("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = document.getElementById("token").value.trim();
    if (v) sessionStorage.setItem(TOKEN_KEY, v);
    document.getElementById("token").value = "";
    renderAuth();
    tick();
  });
  document.getElementById("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    renderAuth();
    tick();
  });

  // ---------- overview ----------
  function overviewPage() {
    main.innerHTML =
      '<h1>Overview</h1><div class="cards">' +
      card("stat-workers", "workers") + card("stat-slots", "slots used / total") +
      card("stat-running", "running jobs") + card("stat-finished", "finished jobs") + card("stat-failed", "failed or canceled") +
      '</div><h2>Jobs</h2><div class="tablewrap"><table id="jobs"><thead><tr><th>Job</th><th>Name</th><th>State</th>' +
      '<th>Submitted</th><th class="n">Elapsed</th><th class="n">Restarts</th><th>Splits</th></tr></thead><tbody></tbody></table></div>';
    return {
      async update() {
        const [cl, jobs] = await Promise.all([api("api/cluster"), api("api/jobs")]);
        set("stat-workers", cl.workers.length);
        set("stat-slots", cl.slotsUsed + " / " + cl.slots);
        let running = 0, finished = 0, failed = 0;
        for (const j of jobs) {
          if (j.state === "finished") finished++;
          else if (j.state === "failed" || j.state === "canceled") failed++;
          else running++;
        }
        set("stat-running", running);
        set("stat-finished", finished);
        set("stat-failed", failed);
        const rows = jobs.slice().reverse().map((j) =>
          '<tr data-job="' + esc(j.id) + '"><td><a href="#/jobs/' + encodeURIComponent(j.id) + '">' + esc(j.id) + "</a></td><td>" +
          esc(j.name) + "</td><td>" + stateTag(j.state) + "</td><td>" + esc(fmtTime(j.submitted)) + '</td><td class="n">' +
          fmtDur(j.elapsedNanos) + '</td><td class="n">' + j.restarts + "</td><td>" +
          (j.splits && j.splits.total ? j.splits.done + " / " + j.splits.total : "–") + "</td></tr>").join("");
        document.querySelector("#jobs tbody").innerHTML = rows || '<tr><td colspan="7" class="muted">No jobs yet.</td></tr>';
      },
    };
  }
  function card(id, label) { return '<div class="card"><div class="v" id="' + id + '">–</div><div class="k">' + esc(label) + "</div></div>"; }
  function set(id, v) { const el = document.getElementById(id); if (el && el.textContent !== String(v)) el.textContent = v; }

  // ---------- workers ----------
  function workersPage() {
    main.innerHTML = '<h1>Workers</h1><div class="cards">' + card("w-count", "workers") + card("w-slots", "slots used / total") +
      card("w-shuffle", "shuffle daemons") + '</div><div class="tablewrap"><table id="workers"><thead><tr><th>Worker</th><th>Address</th>' +
      '<th class="n">Slots used / total</th><th class="n">Memory</th><th>Executors (job: tasks, memory, buffers)</th></tr></thead><tbody></tbody></table></div>';
    return {
      async update() {
        const cl = await api("api/cluster");
        set("w-count", cl.workers.length);
        set("w-slots", cl.slotsUsed + " / " + cl.slots);
        set("w-shuffle", cl.shuffleDaemons);
        document.querySelector("#workers tbody").innerHTML = cl.workers.map((w) =>
          '<tr data-worker="' + esc(w.name) + '"><td>' + esc(w.name) + "</td><td>" + esc(w.address) + '</td><td class="n">' +
          w.slotsUsed + " / " + w.slots + '</td><td class="n">' + fmtBytes(w.memoryBytes) + "</td><td>" +
          (w.executors.length ? w.executors.map((e) => '<a href="#/jobs/' + encodeURIComponent(e.job) + '">' + esc(e.job) + "</a>: " +
            e.tasks + " tasks, " + fmtBytes(e.memoryBytes) + ", " + e.buffersInUse + " buffers").join("<br>") : '<span class="muted">idle</span>') +
          "</td></tr>").join("") || '<tr><td colspan="5" class="muted">No workers registered.</td></tr>';
      },
    };
  }

  // ---------- job graph layout ----------
  // layout assigns each task a layer (longest path from the sources),
  // orders each layer by barycenters (a few down and up sweeps) and
  // returns positions; a plain Sugiyama-style layered drawing.
  function layout(graph) {
    const n = graph.tasks.length;
    const idx = new Map(graph.tasks.map((t, i) => [t.id, i]));
    const succ = Array.from({ length: n }, () => []);
    const pred = Array.from({ length: n }, () => []);
    const indeg = new Array(n).fill(0);
    for (const e of graph.edges) {
      const a = idx.get(e.from), b = idx.get(e.to);
      if (a === undefined || b === undefined || a === b) continue;
      succ[a].push(b); pred[b].push(a); indeg[b]++;
    }
    const layer = new Array(n).fill(0);
    const queue = [];
    for (let i = 0; i < n; i++) if (indeg[i] === 0) queue.push(i);
    for (let q = 0; q < queue.length; q++) {
      const v = queue[q];
      for (const w of succ[v]) {
        layer[w] = Math.max(layer[w], layer[v] + 1);
        if (--indeg[w] === 0) queue.push(w);
      }
    }
    const nLayers = n ? Math.max(...layer) + 1 : 0;
    const layers = Array.from({ length: nLayers }, () => []);
    for (let i = 0; i < n; i++) layers[layer[i]].push(i);
    const pos = new Array(n).fill(0);
    const setPos = () => layers.forEach((l) => l.forEach((v, k) => { pos[v] = k; }));
    setPos();
    const bary = (v, nb) => nb[v].length ? nb[v].reduce((s, u) => s + pos[u], 0) / nb[v].length : pos[v];
    for (let it = 0; it < 4; it++) {
      for (let l = 1; l < nLayers; l++) { layers[l].sort((a, b) => bary(a, pred) - bary(b, pred) || a - b); layers[l].forEach((v, k) => { pos[v] = k; }); }
      for (let l = nLayers - 2; l >= 0; l--) { layers[l].sort((a, b) => bary(a, succ) - bary(b, succ) || a - b); layers[l].forEach((v, k) => { pos[v] = k; }); }
    }
    const W = 200, GX = 90, GY = 34, PAD = 20, MAXOPS = 4;
    const height = (t) => 40 + 14 * Math.min(t.operators.length, MAXOPS + 1);
    const colH = layers.map((l) => l.reduce((s, v) => s + height(graph.tasks[v]) + GY, -GY));
    const maxH = Math.max(0, ...colH);
    const boxes = new Array(n);
    layers.forEach((l, li) => {
      let y = PAD + (maxH - colH[li]) / 2;
      for (const v of l) {
        const h = height(graph.tasks[v]);
        boxes[v] = { x: PAD + li * (W + GX), y: y, w: W, h: h };
        y += h + GY;
      }
    });
    return { boxes: boxes, idx: idx, width: PAD * 2 + nLayers * W + Math.max(0, nLayers - 1) * GX, height: PAD * 2 + maxH, maxOps: MAXOPS };
  }

  const SVGNS = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    const e = document.createElementNS(SVGNS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }

  // drawGraph builds the SVG once; updateGraph sets rates and colours.
  function drawGraph(graph, box) {
    const L = layout(graph);
    const svg = el("svg", { id: "graph", width: L.width, height: L.height, viewBox: "0 0 " + L.width + " " + L.height,
      "data-tasks": graph.tasks.length, "data-edges": graph.edges.length, "data-groups": graph.groups });
    const regions = el("g", { class: "regions" });
    const edges = el("g", { class: "edges" });
    const nodes = el("g", { class: "nodes" });
    svg.append(regions, edges, nodes);
    graph.tasks.forEach((t, i) => {
      const b = L.boxes[i];
      regions.append(el("rect", { class: "region", "data-group": t.group, "data-task": t.id, x: b.x - 10, y: b.y - 10,
        width: b.w + 20, height: b.h + 20, rx: 10, fill: groupColor(t.group) }));
    });
    // Pipelined edges inside a group get a shaded band too, so that a
    // group reads as one region.
    for (const e of graph.edges) {
      const a = L.boxes[L.idx.get(e.from)], b = L.boxes[L.idx.get(e.to)];
      if (!a || !b) continue;
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
      const d = "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2;
      const g = el("g", { class: "edge " + e.mode, "data-from": e.from, "data-to": e.to, "data-mode": e.mode, "data-partitioner": e.partitioner });
      const tf = graph.tasks[L.idx.get(e.from)];
      if (e.mode === "pipelined") {
        regions.append(el("path", { d: d, stroke: groupColor(tf.group), "stroke-width": 18, fill: "none", class: "region-band" }));
      }
      g.append(el("path", { d: d, "marker-end": "url(#arrow)" }));
      const label = el("text", { x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, e.mode + " · " + e.partitioner);
      g.append(label);
      edges.append(g);
    }
    const defs = el("defs", {});
    const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#7b8497" }));
    defs.append(marker);
    svg.prepend(defs);
    graph.tasks.forEach((t, i) => {
      const b = L.boxes[i];
      const g = el("g", { class: "node", "data-task": t.id, "data-group": t.group, transform: "translate(" + b.x + "," + b.y + ")" });
      g.append(el("title", {}, t.name + " ×" + t.parallelism + "\npipelined group " + t.group + ", regions " + t.regions.join(",")));
      g.append(el("rect", { class: "box", width: b.w, height: b.h, rx: 6, stroke: bpColor(0) }));
      g.append(el("text", { class: "title", x: 8, y: 16 }, clip(t.name, 26) + " ×" + t.parallelism));
      const ops = t.operators.length > L.maxOps + 1 ? t.operators.slice(0, L.maxOps) : t.operators;
      ops.forEach((op, k) => g.append(el("text", { class: "op", x: 12, y: 31 + 14 * k, "data-vertex": op.id }, (k ? "→ " : "") + clip(op.kind + " " + op.name, 30))));
      if (ops.length < t.operators.length) g.append(el("text", { class: "op", x: 12, y: 31 + 14 * ops.length }, "… +" + (t.operators.length - ops.length) + " more"));
      g.append(el("text", { class: "rate", x: 8, y: b.h - 8 }, "– rec/s"));
      nodes.append(g);
    });
    box.replaceChildren(svg);
  }
  function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  function updateGraph(graph, status) {
    const byId = new Map((status.vertices || []).map((v) => [v.id, v]));
    for (const t of graph.tasks) {
      const g = document.querySelector('#graph g.node[data-task="' + t.id + '"]');
      if (!g) continue;
      let bp = 0, rate = 0;
      for (const op of t.operators) { const v = byId.get(op.id); if (v) bp = Math.max(bp, v.backPressure || 0); }
      const tail = byId.get(t.operators[t.operators.length - 1].id);
      const head = byId.get(t.operators[0].id);
      if (tail) rate = tail.throughput || 0;
      if (!rate && head && status.elapsedNanos > 0) rate = head.recordsIn / (status.elapsedNanos / 1e9);
      const txt = fmtNum(rate) + " rec/s · bp " + pct(bp);
      const r = g.querySelector("text.rate");
      if (r.textContent !== txt) r.textContent = txt;
      g.setAttribute("data-rate", rate.toFixed(3));
      g.setAttribute("data-bp", bpClass(bp));
      g.querySelector("rect.box").setAttribute("stroke", bpColor(bp));
    }
  }

  // ---------- job page ----------
  function jobPage(id, tab) {
    tab = tab || "graph";
    const tabs = [["graph", "Graph & subtasks"], ["checkpoints", "Checkpoints"], ["exceptions", "Failovers & exceptions"], ["logs", "Logs"]];
    main.innerHTML =
      '<h1>Job <span id="job-name"></span> <span id="job-state"></span></h1>' +
      '<div class="muted" id="job-meta"></div>' +
      '<div class="actions"><button id="act-cancel" class="danger">Cancel</button><button id="act-savepoint">Savepoint</button>' +
      '<button id="act-stop">Stop</button><button id="act-stop-drain">Stop with drain</button>' +
      '<input type="text" id="act-dir" placeholder="savepoint directory (default: the master\'s)"><span id="action-result" class="muted"></span></div>' +
      '<nav class="tabs">' + tabs.map(([k, label]) => '<a id="tab-' + k + '" class="' + (k === tab ? "active" : "") +
        '" href="#/jobs/' + encodeURIComponent(id) + "/" + k + '">' + label + "</a>").join("") + "</nav><section id=\"tab\"></section>";
    const path = "api/jobs/" + encodeURIComponent(id);
    const act = (what, body) => async () => {
      const out = document.getElementById("action-result");
      out.textContent = what + "…";
      try {
        const r = await api(path + "/" + what, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });
        out.textContent = what + ": " + (r.location || r.state || "ok");
      } catch (e) {
        out.textContent = what + " failed: " + e.message;
      }
      tick();
    };
    const dir = () => document.getElementById("act-dir").value.trim();
    document.getElementById("act-cancel").onclick = act("cancel");
    document.getElementById("act-savepoint").onclick = () => act("savepoint", { dir: dir() })();
    document.getElementById("act-stop").onclick = () => act("stop", { dir: dir() })();
    document.getElementById("act-stop-drain").onclick = () => act("stop", { dir: dir(), drain: true })();
    const sec = document.getElementById("tab");
    let graph = null;
    let zoom = 1;
    const applyZoom = () => {
      const svg = document.getElementById("graph");
      if (!svg) return;
      const vb = svg.viewBox.baseVal;
      svg.setAttribute("width", Math.round(vb.width * zoom));
      svg.setAttribute("height", Math.round(vb.height * zoom));
    };
    let logTask = "";
    let lastLog = 0;
    if (tab === "graph") {
      sec.innerHTML = '<div class="legend"><span><span class="sw" style="background:#2e9d5b"></span>back-pressure &lt; 10%</span>' +
        '<span><span class="sw" style="background:#e09a1a"></span>10–50%</span><span><span class="sw" style="background:#d64545"></span>≥ 50%</span>' +
        '<span>solid edge: pipelined · dashed: blocking · shaded: pipelined group</span><span id="graph-summary"></span>' +
        '<span><button type="button" id="zoom-out" title="zoom out">−</button> <button type="button" id="zoom-fit">fit</button> ' +
        '<button type="button" id="zoom-in" title="zoom in">+</button></span></div>' +
        '<div class="graphbox" id="graphbox"></div><h2>Subtasks</h2><input type="text" id="st-filter" placeholder="filter by task, state or worker">' +
        '<div class="tablewrap"><table id="subtasks"><thead><tr><th>Task</th><th class="n">Subtask</th><th class="n">Attempt</th><th>State</th><th>Worker</th>' +
        '<th class="n">Region</th><th class="n">Records in</th><th class="n">Records out</th><th class="n">Bytes in</th><th class="n">Bytes out</th>' +
        '<th class="n">Back-pressure</th></tr></thead><tbody></tbody></table></div>';
    } else if (tab === "checkpoints") {
      sec.innerHTML = '<div class="tablewrap"><table id="checkpoints"><thead><tr><th class="n">ID</th><th>Kind</th><th>Status</th><th>Triggered</th>' +
        '<th class="n">Duration</th><th class="n">Size</th><th class="n">Incremental</th><th class="n">Alignment</th><th class="n">Files</th>' +
        '<th class="n">Tasks</th><th>Location / reason</th></tr></thead><tbody></tbody></table></div>';
    } else if (tab === "exceptions") {
      sec.innerHTML = '<div id="exceptions"></div>';
    } else {
      sec.innerHTML = '<div class="actions"><label>Task <select id="log-task"><option value="">all tasks</option></select></label>' +
        '<span class="muted">last 200 lines, refreshed every 2 s</span></div><pre id="logs"></pre>';
      document.getElementById("log-task").onchange = (ev) => { logTask = ev.target.value; lastLog = 0; };
    }
    return {
      async update() {
        const st = await api(path);
        set("job-name", st.name + " (" + st.id + ")");
        document.getElementById("job-state").innerHTML = stateTag(st.state);
        document.getElementById("job-state").setAttribute("data-state", st.state);
        set("job-meta", "elapsed " + fmtDur(st.elapsedNanos) + " · restarts " + st.restarts +
          (st.splits && st.splits.total ? " · splits " + st.splits.done + " / " + st.splits.total : "") + (st.reason ? " · " + st.reason : ""));
        for (const b of ["act-cancel", "act-savepoint", "act-stop", "act-stop-drain"]) document.getElementById(b).disabled = ended(st.state);
        if (tab === "graph") {
          if (!graph) {
            graph = await api(path + "/graph");
            const t0 = performance.now();
            drawGraph(graph, document.getElementById("graphbox"));
            updateGraph(graph, st);
            stats.graphRenderMs = performance.now() - t0;
            stats.graphReadyAt = performance.now();
            document.getElementById("zoom-in").onclick = () => { zoom = Math.min(2, zoom * 1.25); applyZoom(); };
            document.getElementById("zoom-out").onclick = () => { zoom = Math.max(0.1, zoom / 1.25); applyZoom(); };
            document.getElementById("zoom-fit").onclick = () => {
              const box = document.getElementById("graphbox"), svg = document.getElementById("graph");
              const vb = svg.viewBox.baseVal;
              zoom = Math.min(1, (box.clientWidth - 4) / vb.width, Math.max(300, window.innerHeight * 0.7) / vb.height);
              applyZoom();
            };
            set("graph-summary", graph.tasks.length + " tasks, " + graph.edges.length + " network edges, " + graph.groups +
              " pipelined groups, " + graph.regions + " regions");
          }
          updateGraph(graph, st);
          const subs = await api(path + "/subtasks");
          const f = document.getElementById("st-filter").value.trim().toLowerCase();
          document.querySelector("#subtasks tbody").innerHTML = subs.filter((s) => !f ||
            (s.name + " " + s.state + " " + (s.worker || "")).toLowerCase().includes(f)).map((s) =>
            '<tr><td>' + esc(s.name) + '</td><td class="n">' + s.subtask + '</td><td class="n">' + s.attempt + "</td><td>" + stateTag(s.state) +
            "</td><td>" + esc(s.worker || "–") + '</td><td class="n">' + s.region + '</td><td class="n">' + fmtNum(s.recordsIn) +
            '</td><td class="n">' + fmtNum(s.recordsOut) + '</td><td class="n">' + fmtBytes(s.bytesIn) + '</td><td class="n">' +
            fmtBytes(s.bytesOut) + '</td><td class="n" style="color:' + bpColor(s.backPressure) + '">' + pct(s.backPressure) + "</td></tr>").join("");
        } else if (tab === "checkpoints") {
          const cps = (st.checkpoints || []).slice().reverse();
          document.querySelector("#checkpoints tbody").innerHTML = cps.map((c) =>
            '<tr><td class="n">' + c.id + "</td><td>" + esc(c.kind) + "</td><td>" + stateTag(c.status) + "</td><td>" + esc(fmtTime(c.triggered)) +
            '</td><td class="n">' + fmtDur(c.duration) + '</td><td class="n">' + fmtBytes(c.size) + '</td><td class="n">' + fmtBytes(c.incremental) +
            '</td><td class="n">' + fmtDur(c.alignment) + '</td><td class="n">' + c.files + '</td><td class="n">' + c.tasks + "</td><td>" +
            esc(c.location || c.reason || "") + "</td></tr>").join("") || '<tr><td colspan="11" class="muted">No checkpoints (the job has no checkpoint interval, or none ran yet).</td></tr>';
        } else if (tab === "exceptions") {
          const ex = await api(path + "/exceptions");
          let html = ex.reason ? '<h2>Job ' + esc(ex.state) + '</h2><pre class="cause" id="job-reason">' + esc(ex.reason) + "</pre>" : "";
          html += "<h2>Failovers (" + ex.failovers.length + ")</h2>";
          html += ex.failovers.slice().reverse().map((f) => '<div class="failover"><b>restart ' + f.restart + "</b> at " + esc(fmtTime(f.time)) +
            " · failed regions {" + f.failed.join(",") + "} · restarted regions {" + f.restarted.join(",") + "} · delay " + fmtDur(f.delayNanos) +
            '<pre class="cause">' + esc(f.cause) + "</pre></div>").join("") || '<p class="muted">No failovers.</p>';
          const box = document.getElementById("exceptions");
          if (box.innerHTML !== html) box.innerHTML = html;
        } else {
          const sel = document.getElementById("log-task");
          if (sel.options.length === 1) {
            const subs = await api(path + "/subtasks");
            for (const s of subs) sel.append(new Option(s.name, s.name));
          }
          if (Date.now() - lastLog >= 2000) {
            lastLog = Date.now();
            const text = await api(path + "/logs?lines=200" + (logTask ? "&task=" + encodeURIComponent(logTask) : ""));
            const pre = document.getElementById("logs");
            const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
            if (pre.textContent !== text) { pre.textContent = text || "(no log lines yet)"; if (atEnd) pre.scrollTop = pre.scrollHeight; }
          }
        }
      },
    };
  }

  // ---------- router ----------
  function route() {
    const h = location.hash.replace(/^#\/?/, "");
    const parts = h.split("/").map(decodeURIComponent);
    document.getElementById("nav-overview").className = parts[0] === "" ? "active" : "";
    document.getElementById("nav-workers").className = parts[0] === "workers" ? "active" : "";
    if (parts[0] === "jobs" && parts[1]) page = jobPage(parts[1], parts[2]);
    else if (parts[0] === "workers") page = workersPage();
    else page = overviewPage();
    tick();
  }
  let inflight = false;
  async function tick() {
    if (inflight || !page) return;
    inflight = true;
    const p = page;
    try {
      await p.update();
      if (p === page) { showError(null); document.body.setAttribute("data-updated", String(Date.now())); }
    } catch (e) {
      if (p === page) showError(e);
    } finally {
      inflight = false;
    }
  }
  window.addEventListener("hashchange", route);
  renderAuth();
  route();
  timer = setInterval(tick, POLL_MS);
  window.dagflowUI = { layout: layout, tick: tick, stats: stats };
})();
