// The server page: where the time goes, results, heatmaps, RTT split and
// the operations table, from /api/v1/series, /api/v1/heatmap and
// /api/v1/operations, drawn with the vendored uPlot. The state (range or
// zoom, sensor, operation, sort, refresh) lives in the URL.
(function () {
  "use strict";
  var root = document.getElementById("server");
  if (!root || typeof uPlot === "undefined") return;
  var P = window.pastmon;
  var server = root.getAttribute("data-server");
  var transport = root.getAttribute("data-transport") || "";
  var first = +root.getAttribute("data-first") || 0, last = +root.getAttribute("data-last") || 0;
  var presets = { "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
  var order = ["1h", "6h", "24h", "7d", "30d"];
  var state = { preset: "", from: 0, to: 0, sensor: "", op: "", refresh: 0, opsort: "" };
  var plots = [], gen = 0, timer = 0, lastData = null;
  var colors = { client: "#0ea5e9", serverNet: "#6366f1", server: "#f59e0b", transfer: "#a855f7",
    ok: "#16a34a", clientErr: "#f97316", serverErr: "#dc2626" };

  // ---- units: one per chart, chosen from its largest value ----
  function unitFor(max) {
    if (max >= 1e6) return { d: 1e6, n: "s" };
    if (max >= 1e3) return { d: 1e3, n: "ms" };
    return { d: 1, n: "µs" };
  }
  function fmtIn(v, u) {
    if (v == null || isNaN(v)) return "–";
    var x = v / u.d;
    return (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)) + " " + u.n;
  }
  function fmtUs(v) { return v == null ? "–" : fmtIn(v, unitFor(Math.abs(v))); }
  function fmtCount(v) { return v == null ? "–" : String(Math.round(v)); }
  function pct(x) { return x === 0 ? "0%" : x >= 10 ? Math.round(x) + "%" : x.toFixed(1) + "%"; }

  // ---- URL state ----
  function iso(sec) { return new Date(sec * 1000).toISOString().replace(".000Z", "Z"); }
  function readURL() {
    var p = new URLSearchParams(location.search);
    state.sensor = p.get("sensor") || "";
    state.op = p.get("op") || "";
    state.refresh = Math.max(0, parseInt(p.get("refresh") || "0", 10) || 0);
    state.opsort = p.get("opsort") || "";
    var f = Date.parse(p.get("from") || ""), t = Date.parse(p.get("to") || "");
    if (!isNaN(f) && !isNaN(t) && f < t) {
      state.preset = ""; state.from = Math.floor(f / 1000); state.to = Math.ceil(t / 1000);
    } else {
      state.preset = presets[p.get("range")] ? p.get("range") : defaultPreset();
      if (!state.preset) { // only old data: the day before it was last seen
        state.to = last + 300; state.from = state.to - 86400;
      } else setPresetTimes();
    }
  }
  // defaultPreset is the shortest range that shows the server's data: a
  // server seen for ten minutes opens on 1h, not as a sliver of a day.
  function defaultPreset() {
    var now = Date.now() / 1000;
    if (!last) return "24h";
    for (var i = 0; i < order.length; i++) {
      var span = presets[order[i]];
      if (now - last < span && (now - first < span || span >= 86400)) return order[i];
    }
    return "";
  }
  function setPresetTimes() {
    state.to = Math.ceil(Date.now() / 1000);
    state.from = state.to - presets[state.preset];
  }
  function writeURL(push) {
    var p = new URLSearchParams();
    if (state.preset) p.set("range", state.preset);
    else { p.set("from", iso(state.from)); p.set("to", iso(state.to)); }
    if (state.sensor) p.set("sensor", state.sensor);
    if (state.op) p.set("op", state.op);
    if (state.opsort) p.set("opsort", state.opsort);
    if (state.refresh) p.set("refresh", String(state.refresh));
    var tzq = new URLSearchParams(location.search).get("tz");
    if (tzq) p.set("tz", tzq);
    var url = location.pathname + "?" + p.toString();
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
  }

  // ---- requests ----
  function params(extra) {
    var p = new URLSearchParams({ server: server, from: iso(state.from), to: iso(state.to) });
    if (state.sensor) p.set("sensor", state.sensor);
    if (state.op) p.set("operation", state.op);
    if (transport) p.set("transport", transport);
    for (var k in extra) p.set(k, extra[k]);
    return p.toString();
  }
  function getJSON(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (r.status === 401) throw { status: 401, message: "Your session has ended." };
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          throw { status: r.status, message: (j && j.error) || ("HTTP " + r.status) };
        });
      }
      return r.json();
    }, function () { throw { status: 0, message: "The web node did not answer." }; });
  }
  function series(metric) { return getJSON("/api/v1/series?" + params({ metric: metric })); }
  function heat(metric) { return getJSON("/api/v1/heatmap?" + params({ metric: metric, rows: "40" })); }

  // ---- chart messages: loading, failures, no data ----
  function msgEl(id) {
    var fig = document.getElementById(id).parentNode;
    var m = fig.querySelector(".chart-msg");
    if (!m) { m = document.createElement("div"); m.className = "chart-msg"; fig.appendChild(m); }
    return m;
  }
  function setMsg(id, kind, text, link) {
    var m = msgEl(id);
    m.className = "chart-msg" + (kind ? " " + kind : "");
    m.hidden = !kind;
    m.textContent = text || "";
    if (link) {
      var a = document.createElement("a");
      a.href = link.href; a.textContent = link.text;
      m.appendChild(document.createTextNode(" "));
      m.appendChild(a);
    }
    document.getElementById(id).parentNode.setAttribute("data-state", kind || "drawn");
  }
  function failed(id, err) {
    if (err && err.status === 401) {
      setMsg(id, "error", "Your session has ended:", { href: "/login?next=" + encodeURIComponent(location.pathname + location.search), text: "log in again" });
    } else {
      setMsg(id, "error", "Could not load this chart: " + ((err && err.message) || String(err)));
    }
  }

  // ---- uPlot options shared by the charts ----
  function tzDate(ts) { return P.tz() === "utc" ? uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC") : new Date(ts * 1e3); }
  function timeAxis() {
    return { stroke: "#374151", grid: { stroke: "#eceef2" }, space: 70,
      values: function (u, splits) {
        var span = state.to - state.from;
        return splits.map(function (ts) {
          var s = P.fmtTime(ts);
          return span > 2 * 86400 ? s.slice(5, 10) + (s.slice(11) === "00:00" ? "" : " " + s.slice(11)) : (s.slice(11) === "00:00" ? s.slice(5, 10) : s.slice(11));
        });
      } };
  }
  function valueAxis(fmt, size) {
    return { stroke: "#374151", grid: { stroke: "#eceef2" }, size: size || 60, values: function (u, vals) { return vals.map(fmt); } };
  }
  // countAxis ticks whole numbers only.
  var countIncrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8, 1e9];
  function countAxis() { var a = valueAxis(fmtCount, 50); a.incrs = countIncrs; return a; }
  function chartWidth(el) { return Math.max(200, el.clientWidth); }
  function baseOpts(el, seriesList, yAxis, extra) {
    var o = {
      width: chartWidth(el), height: 220, tzDate: tzDate,
      cursor: { sync: { key: "pastmon" }, drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true, range: [state.from, state.to] } },
      axes: [timeAxis(), yAxis],
      series: [{ label: "window start", value: function (u, ts) { return ts == null ? "–" : P.fmtTime(ts); } }].concat(seriesList),
      hooks: { setSelect: [onSelect] },
    };
    for (var k in extra) o[k] = extra[k];
    if (!o.scales.y) o.scales.y = { range: fromZero };
    return o;
  }
  // fromZero: times and counts are drawn from 0, so heights compare.
  function fromZero(u, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; }
  function line(label, color, fmt, extra) {
    var s = { label: label, stroke: color, width: 1.5, spanGaps: false, value: function (u, v) { return fmt(v); } };
    for (var k in extra) s[k] = extra[k];
    return s;
  }
  function xs(points) { return points.map(function (p) { return Date.parse(p.t) / 1000; }); }

  function onSelect(u) {
    if (u.select.width < 5) return;
    var from = Math.floor(u.posToVal(u.select.left, "x"));
    var to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
    u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
    state.from = from; state.to = to; state.preset = "";
    writeURL(true);
    load();
  }

  // ---- where the time goes ----
  // align merges the points of several series onto the union of their times.
  function align(list) {
    var ts = {};
    list.forEach(function (s) { s.points.forEach(function (p) { ts[Date.parse(p.t) / 1000] = true; }); });
    var x = Object.keys(ts).map(Number).sort(function (a, b) { return a - b; });
    var idx = {};
    x.forEach(function (t, i) { idx[t] = i; });
    var cols = list.map(function (s) {
      var c = x.map(function () { return null; });
      s.points.forEach(function (p) { c[idx[Date.parse(p.t) / 1000]] = p; });
      return c;
    });
    return { x: x, cols: cols };
  }
  function avg(p) { return p && p.count > 0 && p.avg_us != null ? p.avg_us : null; }

  // breakdown splits each window's mean transaction into its parts (µs).
  // ownTransfer: with an operation chosen, only its response time is its
  // own; the transfer part is then unknown rather than wrong.
  function ownTransfer(resp, xfer) { return !state.op || xfer.operation === state.op || resp.operation !== state.op; }
  function breakdown(cli, srv, resp, xfer) {
    if (!ownTransfer(resp, xfer)) xfer = { points: [] };
    var a = align([cli, srv, resp, xfer]);
    var parts = [[], [], [], []];
    a.x.forEach(function (t, i) {
      var c = avg(a.cols[0][i]), s = avg(a.cols[1][i]), r = avg(a.cols[2][i]), x = avg(a.cols[3][i]);
      parts[0].push(c); parts[1].push(s);
      parts[2].push(r == null ? null : Math.max(0, r - (s || 0)));
      parts[3].push(x == null || r == null ? null : Math.max(0, x - r));
    });
    return { x: a.x, parts: parts };
  }
  // rangeMean is a series' mean over the whole range (count-weighted).
  function rangeMean(s) {
    var sum = 0, n = 0;
    s.points.forEach(function (p) { if (p.count > 0 && p.avg_us != null) { sum += p.avg_us * p.count; n += p.count; } });
    return n > 0 ? sum / n : null;
  }
  var partNames = ["the network to the client", "the network to the server", "the server", "the transfer of the response"];
  function verdict(cli, srv, resp, xfer) {
    var c = rangeMean(cli), s = rangeMean(srv), r = rangeMean(resp), x = ownTransfer(resp, xfer) ? rangeMean(xfer) : null;
    var el = document.getElementById("verdict");
    if (r == null) {
      el.textContent = c == null && s == null ? "" : "No request/response turn was timed in this range: only the round trip (" +
        fmtUs((c || 0) + (s || 0)) + ") is known.";
      el.setAttribute("data-share", "");
      return;
    }
    var parts = [c || 0, s || 0, Math.max(0, r - (s || 0)), x == null ? 0 : Math.max(0, x - r)];
    var total = parts.reduce(function (a, b) { return a + b; }, 0);
    if (total <= 0) { el.textContent = ""; return; }
    var best = 0;
    parts.forEach(function (v, i) { if (v > parts[best]) best = i; });
    var share = 100 * parts[best] / total;
    el.textContent = pct(share) + " of the time is " + partNames[best] + (state.op ? " for " + state.op : "") +
      " (mean transaction " + fmtUs(total) + ": client side " +
      pct(100 * parts[0] / total) + ", server side of the network " + pct(100 * parts[1] / total) + ", server " +
      pct(100 * parts[2] / total) + (x == null ? "; transfer not kept per operation" : ", transfer " + pct(100 * parts[3] / total)) + ").";
    el.setAttribute("data-share", share.toFixed(1));
    el.setAttribute("data-part", String(best));
  }
  function drawBreakdown(cli, srv, resp, xfer) {
    var b = breakdown(cli, srv, resp, xfer);
    var cum = [], max = 0;
    for (var k = 0; k < 4; k++) {
      cum.push(b.x.map(function (t, i) {
        var s = 0, any = false;
        for (var j = 0; j <= k; j++) if (b.parts[j][i] != null) { s += b.parts[j][i]; any = true; }
        return any ? s : null;
      }));
    }
    cum[3].forEach(function (v) { if (v != null && v > max) max = v; });
    var u = unitFor(max);
    var fmt = function (v) { return fmtIn(v, u); };
    var labels = ["network, client side (rtt_client)", "network, server side (rtt_server)", "server (response − rtt_server)", "transfer (transfer − response)"];
    var cols = [colors.client, colors.serverNet, colors.server, colors.transfer];
    // Drawn top first: each band fills down to 0 and the next covers it.
    var list = [], data = [b.x];
    for (var k2 = 3; k2 >= 0; k2--) {
      (function (k) {
        list.push({ label: labels[k], stroke: cols[k], fill: cols[k], width: 1, points: { show: false },
          value: function (uu, v, si, i) { return i == null ? "–" : fmt(b.parts[k][i]); } });
      })(k2);
      data.push(cum[k2]);
    }
    var el = document.getElementById("chart-breakdown");
    plots.push(new uPlot(baseOpts(el, list, valueAxis(fmt, 70)), data, el));
    el.setAttribute("data-unit", u.n);
    return b.x.length;
  }

  // ---- results per window ----
  function resultsOf(p) {
    if (p.ok != null || p.client_error != null || p.server_error != null) return [p.ok || 0, p.client_error || 0, p.server_error || 0];
    var ce = p.client_errors || 0, se = p.server_errors || 0;
    return [Math.max(0, (p.transactions || 0) - ce - se), ce, se];
  }
  function drawResults(resp) {
    var pts = resp.points, x = xs(pts);
    var r = pts.map(resultsOf);
    var ok = r.map(function (v) { return v[0] + v[1] + v[2]; });
    var ce = r.map(function (v) { return v[1] + v[2]; });
    var se = r.map(function (v) { return v[2]; });
    var bars = uPlot.paths.bars({ size: [0.8, 40] });
    var el = document.getElementById("chart-results");
    var val = function (k) { return function (u, v, si, i) { return i == null ? "–" : String(r[i][k]); }; };
    plots.push(new uPlot(baseOpts(el, [
      { label: "ok", stroke: colors.ok, fill: colors.ok, paths: bars, points: { show: false }, value: val(0) },
      { label: "client error", stroke: colors.clientErr, fill: colors.clientErr, paths: bars, points: { show: false }, value: val(1) },
      { label: "server error", stroke: colors.serverErr, fill: colors.serverErr, paths: bars, points: { show: false }, value: val(2) },
    ], countAxis(), { scales: { x: { time: true, range: [state.from, state.to] }, y: { range: fromZero } } }),
    [x, ok, ce, se], el));
    var tot = [0, 0, 0];
    r.forEach(function (v) { tot[0] += v[0]; tot[1] += v[1]; tot[2] += v[2]; });
    el.setAttribute("data-totals", tot.join(","));
    return tot[0] + tot[1] + tot[2];
  }

  // ---- RTT split, response percentiles, counters ----
  function col(points, key) { return points.map(function (p) { return p.count > 0 || key.indexOf("_us") < 0 ? p[key] : null; }); }
  function drawRTT(rtt, cli, srv) {
    var a = align([rtt, cli, srv]);
    var max = 0;
    a.cols[0].forEach(function (p) { if (p && p.p95_us > max) max = p.p95_us; });
    var u = unitFor(max), fmt = function (v) { return fmtIn(v, u); };
    var pick = function (c, k) { return c.map(function (p) { return p && p.count > 0 ? p[k] : null; }); };
    var el = document.getElementById("chart-rtt");
    plots.push(new uPlot(baseOpts(el, [
      line("rtt avg", "#2563eb", fmt),
      line("rtt p95", "#1e3a8a", fmt, { width: 1, dash: [4, 3] }),
      line("client side avg", colors.client, fmt),
      line("server side avg", colors.serverNet, fmt),
    ], valueAxis(fmt, 70)), [a.x, pick(a.cols[0], "avg_us"), pick(a.cols[0], "p95_us"), pick(a.cols[1], "avg_us"), pick(a.cols[2], "avg_us")], el));
    return a.x.length;
  }
  function drawResponse(resp) {
    var pts = resp.points, max = 0;
    pts.forEach(function (p) { if (p.p99_us > max) max = p.p99_us; });
    var u = unitFor(max), fmt = function (v) { return fmtIn(v, u); };
    var el = document.getElementById("chart-response");
    plots.push(new uPlot(baseOpts(el, [
      line("p50", "#16a34a", fmt), line("p95", "#f59e0b", fmt, { width: 1 }), line("p99", "#dc2626", fmt, { width: 1, dash: [4, 3] }),
    ], valueAxis(fmt, 70)), [xs(pts), col(pts, "p50_us"), col(pts, "p95_us"), col(pts, "p99_us")], el));
  }
  function drawCounters(rtt) {
    var pts = rtt.points;
    var el = document.getElementById("chart-counters");
    plots.push(new uPlot(baseOpts(el, [
      line("connections", "#2563eb", fmtCount), line("refused", "#dc2626", fmtCount), line("unanswered", "#f97316", fmtCount),
      line("resets", "#a16207", fmtCount), line("retransmits", "#6b7280", fmtCount),
    ], countAxis()), [xs(pts), col(pts, "connections"), col(pts, "refused"), col(pts, "unanswered"), col(pts, "resets"), col(pts, "retransmits")], el));
    return pts.filter(function (p) { return p.connections > 0 || p.count > 0; }).length;
  }

  // ---- heatmaps: drawn on a canvas, darker = more values ----
  var heatData = {};
  function drawHeat(id, h) {
    heatData[id] = h;
    var el = document.getElementById(id);
    el.textContent = "";
    var rows = h.bounds_us.length - 1;
    var w = chartWidth(el), hgt = 220, left = 64, bottom = 26, top = 6, right = 8;
    var c = document.createElement("canvas");
    var dpr = window.devicePixelRatio || 1;
    c.width = w * dpr; c.height = hgt * dpr;
    c.style.width = w + "px"; c.style.height = hgt + "px";
    el.appendChild(c);
    var g = c.getContext("2d");
    g.scale(dpr, dpr);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#374151";
    var pw = w - left - right, ph = hgt - top - bottom;
    var span = state.to - state.from, step = h.step_s || 300;
    var xOf = function (t) { return left + pw * (t - state.from) / span; };
    var max = 0, cells = 0;
    h.windows.forEach(function (win) { win.counts.forEach(function (n) { if (n > max) max = n; }); });
    if (rows > 0 && max > 0) {
      h.windows.forEach(function (win) {
        var t = Date.parse(win.t) / 1000;
        var x0 = Math.max(left, xOf(t)), x1 = Math.min(left + pw, xOf(t + step));
        if (x1 <= x0) return;
        win.counts.forEach(function (n, k) {
          if (!n) return;
          var a = 0.15 + 0.85 * Math.sqrt(n / max);
          g.fillStyle = "rgba(220,38,38," + a.toFixed(3) + ")";
          var y1 = top + ph - ph * k / rows, y0 = top + ph - ph * (k + 1) / rows;
          g.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
          cells++;
        });
      });
    }
    g.fillStyle = "#374151";
    g.strokeStyle = "#d1d5db";
    g.strokeRect(left, top, pw, ph);
    var hi = rows > 0 ? h.bounds_us[rows] : 0, u = unitFor(hi);
    g.textAlign = "right"; g.textBaseline = "middle";
    for (var k = 0; k <= rows && rows > 0; k += Math.max(1, Math.ceil(rows / 6))) {
      g.fillText(fmtIn(h.bounds_us[k], u), left - 4, top + ph - ph * k / rows);
    }
    g.textAlign = "center"; g.textBaseline = "top";
    for (var i = 0; i <= 4; i++) {
      var t = state.from + span * i / 4, s = P.fmtTime(t);
      g.fillText(span > 2 * 86400 ? s.slice(5, 16) : s.slice(11), Math.min(w - 24, Math.max(left + 14, xOf(t))), top + ph + 6);
    }
    el.setAttribute("data-cells", String(cells));
    // Hovering a cell says what it holds.
    var byT = {};
    h.windows.forEach(function (win) { byT[Date.parse(win.t) / 1000] = win; });
    c.addEventListener("mousemove", function (ev) {
      var r = c.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
      var t = state.from + span * (x - left) / pw;
      var t0 = t - ((t % step) + step) % step;
      var k = Math.floor(rows * (top + ph - y) / ph);
      var win = byT[t0];
      c.title = win && k >= 0 && k < rows ? P.fmtTime(t0) + ": " + win.counts[k] + " of " + win.count + " between " +
        fmtIn(h.bounds_us[k], u) + " and " + fmtIn(h.bounds_us[k + 1], u) : "";
    });
    return cells;
  }

  // ---- operations table and statuses ----
  function opRows(data) {
    var ops = (data && data.operations) || [];
    var span = Math.max(1, state.to - state.from);
    return ops.map(function (o) {
      var rt = o.response_time || {};
      var errs = (o.client_error || 0) + (o.server_error || 0);
      return { name: o.operation, count: o.count || 0, rate: (o.count || 0) / span, err: o.count ? 100 * errs / o.count : 0,
        p50: rt.p50_us, p95: rt.p95_us, p99: rt.p99_us };
    });
  }
  function td(text, v, cls) {
    var c = document.createElement("td");
    c.textContent = text;
    if (v != null) c.setAttribute("data-v", String(v));
    if (cls) c.className = cls;
    return c;
  }
  function drawOperations(data) {
    var table = document.getElementById("operations"), body = table.tBodies[0];
    body.textContent = "";
    var rows = opRows(data);
    if (data && data.protocol) document.getElementById("protocol").textContent = data.protocol;
    rows.forEach(function (o) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-op", o.name);
      if (o.name === state.op) tr.className = "chosen";
      var name = document.createElement("td");
      var b = document.createElement("button");
      b.type = "button"; b.className = "link op-pick"; b.textContent = o.name;
      b.title = "Show only " + o.name + " in every chart";
      b.addEventListener("click", function () { chooseOp(state.op === o.name ? "" : o.name); });
      name.setAttribute("data-v", o.name);
      name.appendChild(b);
      tr.appendChild(name);
      tr.appendChild(td(String(o.count), o.count, "n"));
      tr.appendChild(td(o.rate >= 1 ? o.rate.toFixed(1) + "/s" : (o.rate * 60).toFixed(1) + "/min", o.rate, "n wide-only"));
      tr.appendChild(td(pct(o.err), o.err, "n" + (o.err > 0 ? " bad" : "")));
      tr.appendChild(td(fmtUs(o.p50), o.p50 == null ? -1 : o.p50, "n wide-only"));
      tr.appendChild(td(fmtUs(o.p95), o.p95 == null ? -1 : o.p95, "n"));
      tr.appendChild(td(fmtUs(o.p99), o.p99 == null ? -1 : o.p99, "n"));
      body.appendChild(tr);
    });
    var m = document.getElementById("ops-msg");
    m.hidden = rows.length > 0;
    m.textContent = rows.length ? "" : "No operation was recognised in this range: operations need a protocol pastmon parses (http, postgres, mysql, redis, dns, tls).";
    applySort();
    var st = document.getElementById("statuses").tBodies[0];
    st.textContent = "";
    var statuses = (data && data.statuses) || {};
    var list = Object.keys(statuses).map(function (k) { return [k, statuses[k]]; }).sort(function (a, b) { return b[1] - a[1]; }).slice(0, 10);
    var total = list.reduce(function (a, s) { return a + s[1]; }, 0);
    list.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.appendChild(td(s[0])); tr.appendChild(td(String(s[1]), s[1], "n")); tr.appendChild(td(pct(100 * s[1] / total), null, "n"));
      st.appendChild(tr);
    });
    document.getElementById("statuses").hidden = list.length === 0;
    table.setAttribute("data-rows", String(rows.length));
  }
  function applySort() {
    if (!state.opsort) return;
    var parts = state.opsort.split(":");
    var th = document.querySelector('#operations th[data-key="' + parts[0] + '"]');
    if (th) P.sortTable(document.getElementById("operations"), th, parts[1] === "asc");
  }
  function chooseOp(name) {
    state.op = name;
    writeURL(true);
    load();
  }

  // ---- loading ----
  var chartIds = ["chart-breakdown", "chart-results", "heat-response", "chart-rtt", "heat-rtt", "chart-response", "chart-counters"];
  function showRange() {
    var span = state.to - state.from;
    document.getElementById("range-label").textContent = P.fmtTime(state.from) + " – " + P.fmtTime(state.to) + " " + P.zoneName() + ".";
    document.querySelectorAll("#presets button").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-range") === state.preset);
    });
    var f = document.getElementById("custom-from"), t = document.getElementById("custom-to");
    if (f && document.activeElement !== f) f.value = P.fmtTime(state.from);
    if (t && document.activeElement !== t) t.value = P.fmtTime(state.to);
    document.getElementById("sensor").value = state.sensor;
    document.getElementById("refresh").value = String(state.refresh);
    var of = document.getElementById("op-filter");
    of.hidden = !state.op;
    document.getElementById("op-name").textContent = state.op;
    root.setAttribute("data-op", state.op);
    root.setAttribute("data-span", String(span));
  }
  function noData() {
    var msg = "Never seen in this range.";
    if (last) msg += " Last seen " + P.fmtTime(last) + " " + P.zoneName() + ":";
    return msg;
  }
  function load() {
    var my = ++gen;
    clearTimeout(timer);
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    chartIds.forEach(function (id) {
      if (id.indexOf("heat-") === 0) { document.getElementById(id).textContent = ""; delete heatData[id]; }
      setMsg(id, "loading", "Loading…");
    });
    root.setAttribute("data-loading", "1");
    root.removeAttribute("data-error");
    // Nothing of the previous range stays under the new one's label.
    var v = document.getElementById("verdict");
    v.textContent = ""; v.removeAttribute("data-share");
    document.getElementById("operations").tBodies[0].textContent = "";
    document.getElementById("statuses").hidden = true;
    var om = document.getElementById("ops-msg");
    om.hidden = false; om.textContent = "Loading…";
    root.setAttribute("data-from", String(state.from));
    root.setAttribute("data-to", String(state.to));
    showRange();
    var live = function () { return my === gen; };
    // guard draws only for the latest load, and shows a drawing failure
    // on the charts concerned rather than leaving them loading.
    var guard = function (ids, f) {
      return function (v) {
        if (!live()) return;
        try { f(v); } catch (e) {
          ids.forEach(function (id) { failed(id, { message: "drawing failed: " + e.message }); });
          root.setAttribute("data-error", String(e && e.stack || e));
        }
      };
    };
    var fail = function (ids) {
      return function (e) {
        if (!live()) return;
        ids.forEach(function (id) { failed(id, e); });
        root.setAttribute("data-error", (e && e.status) ? String(e.status) : String(e));
      };
    };
    var reqs = { rtt: series("rtt"), cli: series("rtt_client"), srv: series("rtt_server"), resp: series("response_time"), xfer: series("transfer_time") };
    var done = [];
    done.push(Promise.all([reqs.cli, reqs.srv, reqs.resp, reqs.xfer]).then(guard(["chart-breakdown"], function (d) {
      var n = drawBreakdown(d[0], d[1], d[2], d[3]);
      verdict(d[0], d[1], d[2], d[3]);
      setMsg("chart-breakdown", n ? "" : "empty", n ? "" : noData(), n || !last ? null : lastLink());
    }), fail(["chart-breakdown"])));
    done.push(reqs.resp.then(guard(["chart-results", "chart-response"], function (d) {
      var n = drawResults(d);
      setMsg("chart-results", n ? "" : "empty", n ? "" : "No transactions in this range.");
      drawResponse(d);
      setMsg("chart-response", d.points.length ? "" : "empty", d.points.length ? "" : "No response timed in this range.");
    }), fail(["chart-results", "chart-response"])));
    done.push(Promise.all([reqs.rtt, reqs.cli, reqs.srv]).then(guard(["chart-rtt", "chart-counters"], function (d) {
      var n = drawRTT(d[0], d[1], d[2]);
      setMsg("chart-rtt", n ? "" : "empty", n ? "" : noData(), n || !last ? null : lastLink());
      var m = drawCounters(d[0]);
      root.setAttribute("data-points", String(m));
      setMsg("chart-counters", m ? "" : "empty", m ? "" : noData(), m || !last ? null : lastLink());
    }), fail(["chart-rtt", "chart-counters"])));
    [["heat-response", "response_time"], ["heat-rtt", "rtt"]].forEach(function (hm) {
      done.push(heat(hm[1]).then(guard([hm[0]], function (d) {
        var n = drawHeat(hm[0], d);
        setMsg(hm[0], n ? "" : "empty", n ? "" : "No " + (hm[1] === "rtt" ? "round trips" : "responses") + " in this range.");
      }), fail([hm[0]])));
    });
    // The table lists every operation, whichever is chosen.
    var opsParams = new URLSearchParams(params({}));
    opsParams.delete("operation");
    var opsURL = "/api/v1/operations?" + opsParams.toString();
    document.getElementById("operations").setAttribute("data-api", opsURL);
    done.push(getJSON(opsURL).then(guard([], drawOperations), function (e) {
      if (!live()) return;
      drawOperations(null);
      document.getElementById("ops-msg").textContent = e && e.status === 401 ? "Your session has ended: log in again." :
        "Could not load the operations: " + ((e && e.message) || e);
    }));
    Promise.all(done).then(function () {
      if (!live()) return;
      root.removeAttribute("data-loading");
      if (state.refresh && state.preset) timer = setTimeout(function () { setPresetTimes(); load(); }, state.refresh * 1000);
    });
  }
  function lastLink() {
    var p = new URLSearchParams(location.search);
    p.delete("range");
    p.set("from", iso(last + 300 - 86400)); p.set("to", iso(last + 300));
    return { href: location.pathname + "?" + p.toString(), text: "show the day before" };
  }

  // ---- controls ----
  document.querySelectorAll("#presets button").forEach(function (b) {
    b.addEventListener("click", function () {
      state.preset = b.getAttribute("data-range");
      setPresetTimes();
      writeURL(true);
      load();
    });
  });
  var custom = document.getElementById("custom-range");
  custom.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = P.parseTime(document.getElementById("custom-from").value), t = P.parseTime(document.getElementById("custom-to").value);
    var msg = custom.querySelector(".range-error");
    if (isNaN(f) || isNaN(t) || f >= t) {
      msg.textContent = "Want two times like 2026-12-02 15:40, the first before the second.";
      return;
    }
    msg.textContent = "";
    state.preset = ""; state.from = f; state.to = t;
    writeURL(true);
    load();
  });
  document.getElementById("sensor").addEventListener("change", function (e) { state.sensor = e.target.value; writeURL(false); load(); });
  document.getElementById("refresh").addEventListener("change", function (e) {
    state.refresh = parseInt(e.target.value, 10) || 0;
    writeURL(false);
    load();
  });
  document.getElementById("op-clear").addEventListener("click", function () { chooseOp(""); });
  document.getElementById("operations").addEventListener("pastmon:sorted", function (e) {
    state.opsort = e.detail.key + ":" + (e.detail.asc ? "asc" : "desc");
    writeURL(false);
  });
  document.querySelectorAll("#operations thead th").forEach(function (th) {
    th.addEventListener("click", function () { P.sortTable(document.getElementById("operations"), th); });
  });
  document.querySelector(".charts").addEventListener("dblclick", function () {
    if (!state.preset) { state.preset = defaultPreset() || "24h"; setPresetTimes(); writeURL(true); load(); }
  });
  window.addEventListener("popstate", function () { readURL(); load(); });
  document.addEventListener("pastmon:tz", function () { load(); });
  var resizeTimer = 0;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      plots.forEach(function (p) { p.setSize({ width: chartWidth(p.root.parentNode), height: 220 }); });
      Object.keys(heatData).forEach(function (id) { if (document.getElementById(id).querySelector("canvas")) drawHeat(id, heatData[id]); });
    }, 150);
  });
  readURL();
  writeURL(false);
  load();
})();
