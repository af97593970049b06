/* tcpflow-analyzer report: table, timeline, per-connection ladder and graphs (uPlot).
   Reads the JSON in #report-data; a connection's detail is parsed only when it is opened
   (from its own JSON block, id "detail-ID"), so a 100,000-connection
   report loads as fast as a small one.  No network: everything is in this file. */
"use strict";
(function () {
  const errors = [];
  window.__tfaErrors = errors;
  window.addEventListener("error", (e) => { errors.push(String(e.message)); banner(e.message); });

  function banner(msg) {
    const b = document.getElementById("error-banner");
    if (b) { b.hidden = false; b.textContent = "Report script error: " + msg; }
  }

  const D = JSON.parse(document.getElementById("report-data").textContent);
  const S = D.strings, R = D.rows, N = R.id.length;
  const SEV = D.severity_names;
  const COLOURS = D.colours;
  const PAGE = 100;

  // ---- formatting -------------------------------------------------------------------
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
  }
  function fmtBytes(n) {
    if (n == null) return "–";
    const a = Math.abs(n);
    if (a < 1000) return (Math.round(n * 10) / 10) + " B";
    const u = ["kB", "MB", "GB", "TB"];
    let v = n / 1000, i = 0;
    while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + " " + u[i];
  }
  function trim(x) { return String(Number(x.toPrecision(4))); }
  function fmtS(s) {
    if (s == null) return "–";
    const a = Math.abs(s);
    if (a === 0) return "0 s";
    if (a < 1e-3) return trim(s * 1e6) + " µs";
    if (a < 1) return trim(s * 1e3) + " ms";
    if (a < 120) return trim(s) + " s";
    if (a < 7200) return trim(s / 60) + " min";
    if (a < 172800) return trim(s / 3600) + " h";
    return trim(s / 86400) + " d";
  }
  function fmtInt(n) { return n == null ? "–" : Math.round(n).toLocaleString("en-US"); }

  // ---- the connections table ----------------------------------------------------------
  let firstStart = Infinity;
  for (let i = 0; i < N; i++) if (R.start[i] < firstStart) firstStart = R.start[i];
  if (!N) firstStart = 0;
  const table = {
    sort: "id", dir: 1, page: 0, text: "", outcome: "", sev: "", detailOnly: false, order: null,
  };
  const COLS = [
    ["id", "#", (i) => R.id[i]],
    ["file", "file", (i) => D.files[R.file[i]] || ""],
    ["orig", "orig (initiator)", (i) => S[R.orig[i]]],
    ["resp", "resp", (i) => S[R.resp[i]]],
    ["start", "start", (i) => fmtS(R.start[i] - firstStart)],
    ["duration", "duration", (i) => fmtS(R.duration[i])],
    ["outcome", "outcome", (i) => S[R.outcome[i]]],
    ["state", "Zeek state", (i) => S[R.state[i]]],
    ["history", "history", (i) => R.history[i]],
    ["pkts", "packets o/r", (i) => R.pkts_orig[i] + " / " + R.pkts_resp[i]],
    ["bytes_orig", "bytes orig→resp", (i) => fmtBytes(R.bytes_orig[i])],
    ["bytes_resp", "bytes resp→orig", (i) => fmtBytes(R.bytes_resp[i])],
    ["hs_rtt", "handshake RTT", (i) => fmtS(R.hs_rtt[i])],
    ["anomalies", "anomalies", (i) => R.anomalies[i].replace(/:/g, "×").replace(/ /g, ", ")],
  ];
  const SORT_KEY = {
    id: (i) => R.id[i], file: (i) => R.file[i], orig: (i) => S[R.orig[i]], resp: (i) => S[R.resp[i]],
    start: (i) => R.start[i], duration: (i) => R.duration[i], outcome: (i) => S[R.outcome[i]],
    state: (i) => S[R.state[i]], history: (i) => R.history[i],
    pkts: (i) => R.pkts_orig[i] + R.pkts_resp[i], bytes_orig: (i) => R.bytes_orig[i],
    bytes_resp: (i) => R.bytes_resp[i], hs_rtt: (i) => (R.hs_rtt[i] == null ? -1 : R.hs_rtt[i]),
    anomalies: (i) => R.severity[i] * 1e6 + R.anomalies[i].length,
  };

  function computeOrder() {
    const text = table.text.toLowerCase();
    const idx = [];
    for (let i = 0; i < N; i++) {
      if (table.detailOnly && !R.detail[i]) continue;
      if (table.outcome && S[R.outcome[i]] !== table.outcome) continue;
      if (table.sev !== "" && R.severity[i] < Number(table.sev)) continue;
      if (text) {
        const hay = (R.id[i] + " " + S[R.orig[i]] + " " + S[R.resp[i]] + " " + S[R.outcome[i]] + " " +
          S[R.state[i]] + " " + R.history[i] + " " + R.anomalies[i]).toLowerCase();
        if (hay.indexOf(text) < 0) continue;
      }
      idx.push(i);
    }
    const key = SORT_KEY[table.sort], dir = table.dir;
    idx.sort((a, b) => {
      const x = key(a), y = key(b);
      return (x < y ? -1 : x > y ? 1 : R.id[a] - R.id[b]) * dir;
    });
    table.order = idx;
  }

  function renderTable() {
    if (!table.order) computeOrder();
    const order = table.order;
    const pages = Math.max(1, Math.ceil(order.length / PAGE));
    table.page = Math.min(table.page, pages - 1);
    const multi = D.files.length > 1;
    const head = COLS.filter((c) => multi || c[0] !== "file").map((c) => {
      const arrow = table.sort === c[0] ? (table.dir > 0 ? " ▲" : " ▼") : "";
      return '<th data-col="' + c[0] + '" title="sort by ' + esc(c[1]) + '">' + esc(c[1]) + arrow + "</th>";
    }).join("");
    const rows = [];
    for (let k = table.page * PAGE; k < Math.min(order.length, (table.page + 1) * PAGE); k++) {
      const i = order[k];
      const cls = "sev-" + (R.severity[i] < 0 ? "none" : SEV[R.severity[i]]) +
        (R.detail[i] ? " has-detail" : "") + (R.id[i] === openId ? " open" : "");
      rows.push('<tr class="' + cls + '" data-id="' + R.id[i] + '">' +
        COLS.filter((c) => multi || c[0] !== "file").map((c) => "<td>" + esc(c[2](i)) + "</td>").join("") + "</tr>");
    }
    document.getElementById("conn-head").innerHTML = "<tr>" + head + "</tr>";
    document.getElementById("conn-body").innerHTML = rows.join("");
    document.getElementById("conn-count").textContent =
      fmtInt(order.length) + " of " + fmtInt(N) + " connections · page " + (table.page + 1) + " of " + pages;
    document.getElementById("prev").disabled = table.page === 0;
    document.getElementById("next").disabled = table.page >= pages - 1;
  }

  function wireTable() {
    const outcomes = {};
    for (let i = 0; i < N; i++) outcomes[S[R.outcome[i]]] = (outcomes[S[R.outcome[i]]] || 0) + 1;
    const sel = document.getElementById("f-outcome");
    Object.keys(outcomes).sort().forEach((o) => {
      const opt = document.createElement("option");
      opt.value = o; opt.textContent = o + " (" + fmtInt(outcomes[o]) + ")";
      sel.appendChild(opt);
    });
    const reset = () => { table.order = null; table.page = 0; renderTable(); };
    let timer = null;
    document.getElementById("f-text").addEventListener("input", (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => { table.text = e.target.value.trim(); reset(); }, 150);
    });
    sel.addEventListener("change", (e) => { table.outcome = e.target.value; reset(); });
    document.getElementById("f-sev").addEventListener("change", (e) => { table.sev = e.target.value; reset(); });
    document.getElementById("f-detail").addEventListener("change", (e) => { table.detailOnly = e.target.checked; reset(); });
    document.getElementById("prev").addEventListener("click", () => { table.page--; renderTable(); });
    document.getElementById("next").addEventListener("click", () => { table.page++; renderTable(); });
    document.getElementById("conn-head").addEventListener("click", (e) => {
      const th = e.target.closest("th");
      if (!th) return;
      const col = th.dataset.col;
      table.dir = table.sort === col ? -table.dir : 1;
      table.sort = col;
      table.order = null;
      renderTable();
    });
    document.getElementById("conn-body").addEventListener("click", (e) => {
      const tr = e.target.closest("tr");
      if (tr) openConnection(Number(tr.dataset.id), true);
    });
  }

  // ---- charts ------------------------------------------------------------------------
  const charts = [];
  function chartWidth(el) { return Math.max(480, Math.min(1400, el.clientWidth || 900)); }

  /* Merge several (x, y, frame[, y0]) point lists into uPlot's aligned columns: one x slot
     per point, so the legend under the cursor names exactly one point and its frame. */
  function align(lists) {
    const all = [];
    lists.forEach((pts, si) => pts.forEach((p) => all.push([p[0], si, p[1], p[2], p[3]])));
    all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const xs = new Float64Array(all.length);
    const ys = lists.map(() => new Array(all.length).fill(null));
    const frames = lists.map(() => new Array(all.length).fill(null));
    const y0 = lists.map(() => new Array(all.length).fill(null));
    all.forEach((p, k) => { xs[k] = p[0]; ys[p[1]][k] = p[2]; frames[p[1]][k] = p[3]; y0[p[1]][k] = p[4]; });
    return { data: [Array.from(xs)].concat(ys), frames: frames, y0: y0 };
  }

  function valueWithFrame(frames, fmt) {
    return (u, v, si, idx) => (v == null || idx == null) ? "–" :
      fmt(v) + (frames[si - 1][idx] != null ? " · frame " + frames[si - 1][idx] : "");
  }

  function shadeHook(spans, colour) {
    return (u) => {
      if (!spans || !spans.length) return;
      const ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.fillStyle = colour;
      spans.forEach((s) => {
        const x0 = u.valToPos(s[0], "x", true), x1 = u.valToPos(s[1], "x", true);
        ctx.fillRect(x0, top, Math.max(2, x1 - x0), h);
      });
      ctx.restore();
    };
  }

  function xrangeOf(g) { return [0, Math.max(g.duration_s * 1.02, 1e-3)]; }
  function makeChart(host, title, series, aligned, opts) {
    const box = document.createElement("div");
    box.className = "chart";
    const h = document.createElement("h4");
    h.textContent = title;
    box.appendChild(h);
    host.appendChild(box);
    const o = Object.assign({
      width: chartWidth(host), height: opts.height || 260,
      scales: { x: { time: false, range: opts.xrange } },
      series: [{ label: "time", value: (u, v) => v == null ? "–" : fmtS(v) }].concat(series),
      axes: [
        { label: opts.xlabel || "time since the connection's first segment", values: (u, vals) => vals.map(fmtS), space: 70 },
        { label: opts.ylabel, values: (u, vals) => vals.map(opts.yfmt || String), size: 84 },
      ],
      cursor: { points: { size: 8 } },
      legend: { live: true },
      hooks: opts.hooks || {},
    }, opts.extra || {});
    const u = new uPlot(o, aligned.data, box);
    charts.push(u);
    box.dataset.points = String(aligned.data[0].length);
    return u;
  }

  function segSeries(label, colour, frames, fmt) {
    return { label: label, stroke: colour, fill: colour, paths: () => null, spanGaps: false,
      points: { show: true, size: 5, stroke: colour, fill: colour }, value: valueWithFrame(frames, fmt) };
  }
  function stepSeries(label, colour, frames, fmt, width) {
    return { label: label, stroke: colour, width: width || 1, spanGaps: true,
      paths: uPlot.paths.stepped({ align: 1 }), points: { show: false }, value: valueWithFrame(frames, fmt) };
  }

  /* The sequence axis follows the data and the ACKs; the window edge only when it is close
     (a window far above the data limits nothing, and would squash the data flat). */
  function tseqRange(d) {
    let lo = Infinity, hi = -Infinity, win = -Infinity;
    d.segments.forEach((s) => { lo = Math.min(lo, s[1]); hi = Math.max(hi, s[2]); });
    d.acks.forEach((p) => { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); if (p[2] != null) win = Math.max(win, p[2]); });
    d.sack.forEach((p) => { hi = Math.max(hi, p[2]); });
    if (!isFinite(lo)) return [0, 1];
    const span = Math.max(hi - lo, 1);
    if (win <= hi + 0.5 * span) hi = Math.max(hi, win);
    const pad = Math.max((hi - lo) * 0.05, 1);
    return [lo - pad, hi + pad];
  }

  function drawTseq(host, g, role) {
    const d = g.directions[role];
    if (!d.segments.length && !d.acks.length) return;
    const sender = role === "orig" ? g.orig : g.resp, receiver = role === "orig" ? g.resp : g.orig;
    const lists = [], series = [], bars = [];
    const num = (v) => fmtInt(v);
    const tick = (v) => (Math.abs(v - Math.round(v)) < 1e-9 ? fmtInt(v) : "");  // no "1 1 2 2"
    lists.push(d.acks.map((p) => [p[0], p[1], p[3]]));
    lists.push(d.acks.map((p) => [p[0], p[2], p[3]]));
    const byMark = {};
    d.segments.forEach((s) => { (byMark[s[4]] = byMark[s[4]] || []).push(s); });
    const marks = Object.keys(byMark).sort((a, b) => (a !== "data") - (b !== "data") || (a < b ? -1 : 1));
    marks.forEach((m) => { lists.push(byMark[m].map((s) => [s[0], s[2], s[3], s[1]])); bars.push(lists.length - 1); });
    if (d.sack.length) lists.push(d.sack.map((p) => [p[0], p[2], p[3], p[1]]));
    const a = align(lists);
    series.push(stepSeries("ACK from " + receiver, COLOURS.ack, a.frames, num, 1.5));
    series.push(stepSeries("advertised window edge (ACK + window)", COLOURS.window, a.frames, num));
    marks.forEach((m) => {
      const colour = COLOURS.marks[m] || COLOURS.marks.data;
      const name = m === "data" ? "data segment (top = last byte)" : m.replace(/_/g, " ") + " (" + (COLOURS.mark_severity[m] || "note") + ")";
      series.push(segSeries(name, colour, a.frames, num));
    });
    if (d.sack.length) { series.push(segSeries("SACK block", COLOURS.sack, a.frames, num)); bars.push(lists.length - 1); }
    const barHook = (u) => {
      const ctx = u.ctx;
      ctx.save();
      bars.forEach((li) => {
        const si = li + 1;
        if (!u.series[si].show) return;
        ctx.strokeStyle = u.series[si].stroke();
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.beginPath();
        const ys = u.data[si], lo = a.y0[li];
        for (let k = 0; k < ys.length; k++) {
          if (ys[k] == null || lo[k] == null) continue;
          const x = u.valToPos(u.data[0][k], "x", true);
          ctx.moveTo(x, u.valToPos(lo[k], "y", true));
          ctx.lineTo(x, u.valToPos(ys[k], "y", true));
        }
        ctx.stroke();
      });
      ctx.restore();
    };
    makeChart(host, "Time-sequence: data sent by " + role + " (" + sender + " → " + receiver + ")", series, a, {
      ylabel: "sequence number (" + g.seq_numbers + ")", yfmt: tick, height: 300, xrange: xrangeOf(g),
      hooks: { drawClear: [shadeHook(d.zero_window, COLOURS.zero_window)], draw: [barHook] },
      extra: { scales: { x: { time: false, range: xrangeOf(g) }, y: { range: () => tseqRange(d) } } },
    });
  }

  function drawThroughput(host, g) {
    const roles = ["orig", "resp"].filter((r) => g.directions[r].throughput.length);
    if (!roles.length) { note(host, "Throughput: no payload was sent."); return; }
    const a = align(roles.map((r) => g.directions[r].throughput.map((p) => [p[0], p[1], null])));
    const series = roles.map((r) => Object.assign(stepSeries("sent by " + r + " (" + g[r] + "), " +
      fmtS(g.directions[r].throughput_window_s) + " window", COLOURS.direction[r], a.frames, (v) => fmtBytes(v) + "/s", 1.5),
      { points: { show: true, size: 4, stroke: COLOURS.direction[r], fill: COLOURS.direction[r] } }));
    makeChart(host, "Throughput (payload bytes per second over a sliding window)", series, a,
      { ylabel: "bytes/s", yfmt: (v) => fmtBytes(v) + "/s", xrange: xrangeOf(g),
        extra: { scales: { x: { time: false, range: xrangeOf(g) }, y: { range: (u, lo, hi) => [0, Math.max(hi * 1.1, 10)] } } } });
  }

  function drawRtt(host, g) {
    const roles = ["orig", "resp"].filter((r) => g.directions[r].rtt.length);
    if (!roles.length) { note(host, "RTT: no sample (no new data was acknowledged)."); return; }
    const a = align(roles.map((r) => g.directions[r].rtt.map((p) => [p[0], p[1], p[2]])));
    const series = roles.map((r) => segSeries("data sent by " + r + " (" + g[r] + "): " +
      g.directions[r].rtt.length + " samples", COLOURS.direction[r], a.frames, fmtS));
    makeChart(host, "Round-trip time (Karn-valid samples: data → its first ACK, never from retransmitted data)",
      series, a, { ylabel: "RTT", yfmt: fmtS, extra: { scales: { x: { time: false, range: xrangeOf(g) }, y: { range: (u, lo, hi) => [0, Math.max(hi * 1.1, 1e-6)] } } } });
  }

  function drawWindow(host, g, role) {
    const d = g.directions[role];
    if (!d.window.length) return;
    const receiver = role === "orig" ? g.resp : g.orig;
    const a = align([d.window.map((p) => [p[0], p[1], p[3]]), d.window.map((p) => [p[0], p[2], p[3]])]);
    const series = [
      Object.assign(stepSeries("window advertised by " + receiver + " (scaled)", COLOURS.adv_window, a.frames, fmtBytes, 1.5),
        { fill: COLOURS.adv_window_fill }),
      stepSeries("bytes in flight from " + role, COLOURS.direction[role], a.frames, fmtBytes, 1.5),
    ];
    makeChart(host, "Window: data sent by " + role + " (" + g[role] + "): receive window and bytes in flight", series, a, {
      ylabel: "bytes", yfmt: fmtBytes, hooks: { drawClear: [shadeHook(d.zero_window, COLOURS.zero_window)] },
      extra: { scales: { x: { time: false, range: xrangeOf(g) }, y: { range: (u, lo, hi) => [0, Math.max(hi * 1.05, 10)] } } },
    });
  }

  function note(host, text) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = text;
    host.appendChild(p);
  }

  // ---- one connection's detail ----------------------------------------------------------
  let openId = null;
  function openConnection(id, scroll) {
    const pane = document.getElementById("detail");
    charts.splice(0).forEach((u) => u.destroy());
    pane.innerHTML = "";
    openId = id;
    renderTable();
    const node = document.getElementById("detail-" + id);
    const h = document.createElement("h3");
    h.textContent = "Connection #" + id;
    pane.appendChild(h);
    if (!node) {
      note(pane, "This report keeps the ladder and graphs of the " + fmtInt(D.detail_limits.max_detail) +
        " most telling connections only (errors, failures, warnings, notes, then the largest). For #" + id + " run: " +
        "tcpflow-analyzer show CAPTURE --conn " + id + "   and   tcpflow-analyzer graph CAPTURE --conn " + id + " -o g.svg");
      if (scroll) pane.scrollIntoView();
      return;
    }
    const det = JSON.parse(node.textContent);
    const g = det.graph;
    h.textContent = "Connection #" + id + ": " + g.orig + " → " + g.resp + (det.file ? " (" + det.file + ")" : "");
    if (det.truncated_at) note(pane, "Only the first " + fmtInt(det.truncated_at) + " segments were recorded for this connection: its ladder and graphs stop there.");
    const lad = document.createElement("details");
    lad.open = true;
    lad.innerHTML = "<summary>Ladder (as <code>show</code> draws it)</summary>";
    const pre = document.createElement("pre");
    pre.className = "ladder";
    pre.textContent = det.ladder;
    lad.appendChild(pre);
    pane.appendChild(lad);
    const gh = document.createElement("div");
    gh.className = "graphs";
    pane.appendChild(gh);
    drawTseq(gh, g, "orig");
    drawTseq(gh, g, "resp");
    drawThroughput(gh, g);
    drawRtt(gh, g);
    drawWindow(gh, g, "orig");
    drawWindow(gh, g, "resp");
    pane.dataset.charts = String(charts.length);
    if (scroll) pane.scrollIntoView();
    if (history.replaceState) history.replaceState(null, "", "#conn=" + id);
  }

  // ---- timeline ----------------------------------------------------------------------
  function drawTimeline() {
    const host = document.getElementById("timeline");
    [D.timeline].forEach((tl) => {
      if (!tl || !tl.starts || !tl.starts.length) { note(host, "No connection."); return; }
      const xs = tl.starts.map((_, k) => tl.t0 - firstStart + k * tl.bin_s);
      const ok = tl.starts.map((n, k) => n - tl.failures[k]);
      const bars = uPlot.paths.bars({ size: [0.95, 40], align: 1 });
      const title = "Connections started per " + fmtS(tl.bin_s) +
        " (bar at each bin's start), by outcome";
      const box = document.createElement("div");
      box.className = "chart";
      const h = document.createElement("h4");
      h.textContent = title;
      box.appendChild(h);
      host.appendChild(box);
      const u = new uPlot({
        // the axis spans the connections (first start to last end), never uPlot's guess
        // (a lone bin would get 0–100 s whatever the capture's length)
        width: chartWidth(host), height: 200,
        scales: { x: { time: false, range: [xs[0], xs[0] + (tl.span_s || tl.bin_s * xs.length)] } },
        series: [
          { label: "since the first connection started", value: (u, v) => v == null ? "–" : fmtS(v) },
          { label: "started, did not fail", stroke: COLOURS.direction.orig, fill: COLOURS.direction.orig + "99", paths: bars, points: { show: false } },
          { label: "failed (refused, unanswered, incomplete, reset)", stroke: COLOURS.marks.lost_segment, fill: COLOURS.marks.lost_segment + "cc", paths: bars, points: { show: false } },
        ],
        axes: [{ label: "time since the first connection started", values: (u, v) => v.map(fmtS), space: 70 },
          { label: "connections", size: 60 }],
        hooks: { draw: [(u) => { box.dataset.xrange = u.scales.x.min + " " + u.scales.x.max; }] },
      }, [xs, ok, tl.failures], box);
      charts.push(u);
      box.dataset.points = String(xs.length);
    });
  }

  // ---- start ---------------------------------------------------------------------------
  if (D.only_kind) {  // `graph -o FILE.html`: one connection, one graph
    const g = JSON.parse(document.getElementById("detail-" + D.only_id).textContent).graph;
    const host = document.getElementById("detail");
    if (D.only_kind === "tseq") { drawTseq(host, g, "orig"); drawTseq(host, g, "resp"); }
    else if (D.only_kind === "throughput") drawThroughput(host, g);
    else if (D.only_kind === "rtt") drawRtt(host, g);
    else { drawWindow(host, g, "orig"); drawWindow(host, g, "resp"); }
    host.dataset.charts = String(charts.length);
    document.body.dataset.ready = "1";
    return;
  }
  wireTable();
  renderTable();
  drawTimeline();
  const timelineCharts = charts.splice(0);
  let first = null;
  const m = /conn=(\d+)/.exec(location.hash);
  if (m) first = Number(m[1]);
  else {
    let best = -2;
    for (let i = 0; i < N; i++) if (R.detail[i] && R.severity[i] > best) { best = R.severity[i]; first = R.id[i]; }
  }
  if (first != null) openConnection(first, false);
  window.addEventListener("resize", () => {
    timelineCharts.concat(charts).forEach((u) => u.setSize({ width: chartWidth(u.root.parentNode.parentNode), height: u.height }));
  });
  document.body.dataset.ready = "1";
})();
