// Server detail charts: 5-minute (or hourly, for long ranges) series from
// /api/v1/series drawn with the vendored uPlot. Presets pick the range,
// dragging across a chart zooms into it, double-click goes back.
(function () {
  "use strict";
  var root = document.getElementById("server");
  if (!root || typeof uPlot === "undefined") return;
  var server = root.getAttribute("data-server");
  var presets = { "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
  var state = { preset: "24h", from: 0, to: 0, sensor: "" };
  var plots = [];

  function fmtUs(v) {
    if (v == null) return "–";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(2) + " s";
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + " ms";
    return v.toFixed(0) + " µs";
  }
  function fmtCount(v) { return v == null ? "–" : String(Math.round(v)); }

  function usAxis() {
    return { stroke: "#374151", grid: { stroke: "#eceef2" }, size: 70,
      values: function (u, vals) { return vals.map(fmtUs); } };
  }

  function series(label, color, fmt, extra) {
    var s = { label: label, stroke: color, width: 1.5, spanGaps: false, value: function (u, v) { return fmt(v); } };
    for (var k in extra) s[k] = extra[k];
    return s;
  }

  function query(metric) {
    var p = new URLSearchParams({ server: server, metric: metric,
      from: new Date(state.from * 1000).toISOString(), to: new Date(state.to * 1000).toISOString() });
    if (state.sensor) p.set("sensor", state.sensor);
    return fetch("/api/v1/series?" + p.toString(), { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error("series " + metric + ": HTTP " + r.status);
      return r.json();
    });
  }

  function col(points, key) {
    return points.map(function (p) { return p.count > 0 || key.indexOf("_us") < 0 ? p[key] : null; });
  }

  function opts(el, seriesList, axis, extra) {
    var o = {
      width: Math.max(el.clientWidth, 300), height: 240,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"); },
      cursor: { sync: { key: "pastmon" }, drag: { x: true, y: false, setScale: false } },
      scales: { x: { time: true, range: [state.from, state.to] } },
      axes: [{ stroke: "#374151", grid: { stroke: "#eceef2" } }, axis],
      series: [{ label: "time (UTC)" }].concat(seriesList),
      hooks: { setSelect: [onSelect] },
    };
    for (var k in extra) o[k] = extra[k];
    return o;
  }

  function onSelect(u) {
    if (u.select.width < 5) return;
    var from = Math.floor(u.posToVal(u.select.left, "x"));
    var to = Math.ceil(u.posToVal(u.select.left + u.select.width, "x"));
    u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
    state.from = from; state.to = to; state.preset = "";
    markPreset();
    load();
  }

  function draw(data) {
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    var rtt = data[0].points, resp = data[1].points, xfer = data[2].points;
    var xs = rtt.map(function (p) { return Date.parse(p.t) / 1000; });
    var rttEl = document.getElementById("chart-rtt");
    plots.push(new uPlot(opts(rttEl, [
      series("avg", "#2563eb", fmtUs),
      series("min", "#93c5fd", fmtUs, { width: 1 }),
      series("p95", "#1e3a8a", fmtUs, { width: 1, dash: [4, 3] }),
    ], usAxis(), { bands: [{ series: [3, 2], fill: "rgba(37,99,235,0.12)" }] }),
    [xs, col(rtt, "avg_us"), col(rtt, "min_us"), col(rtt, "p95_us")], rttEl));
    [["chart-response", resp, "#16a34a"], ["chart-transfer", xfer, "#9333ea"]].forEach(function (c) {
      var el = document.getElementById(c[0]);
      var pts = c[1];
      plots.push(new uPlot(opts(el, [
        series("avg", c[2], fmtUs),
        series("p95", "#f59e0b", fmtUs, { width: 1 }),
        series("p99", "#dc2626", fmtUs, { width: 1, dash: [4, 3] }),
      ], usAxis()), [pts.map(function (p) { return Date.parse(p.t) / 1000; }), col(pts, "avg_us"), col(pts, "p95_us"), col(pts, "p99_us")], el));
    });
    var cEl = document.getElementById("chart-counters");
    plots.push(new uPlot(opts(cEl, [
      series("connections", "#2563eb", fmtCount),
      series("refused", "#dc2626", fmtCount),
      series("unanswered", "#f97316", fmtCount),
      series("resets", "#a16207", fmtCount),
      series("retransmits", "#6b7280", fmtCount),
    ], { stroke: "#374151", grid: { stroke: "#eceef2" }, size: 60 }),
    [xs, col(rtt, "connections"), col(rtt, "refused"), col(rtt, "unanswered"), col(rtt, "resets"), col(rtt, "retransmits")], cEl));
    var n = rtt.filter(function (p) { return p.connections > 0 || p.count > 0; }).length;
    root.setAttribute("data-points", String(n));
    document.getElementById("no-data").hidden = n > 0;
    document.getElementById("step-label").textContent = "Step: " + (data[0].step_s >= 3600 ? data[0].step_s / 3600 + " h" : data[0].step_s / 60 + " min") + ".";
  }

  function load() {
    root.setAttribute("data-loading", "1");
    root.setAttribute("data-from", String(state.from));
    root.setAttribute("data-to", String(state.to));
    document.getElementById("range-label").textContent = new Date(state.from * 1000).toISOString().slice(0, 16).replace("T", " ") +
      " – " + new Date(state.to * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC.";
    Promise.all([query("rtt"), query("response_time"), query("transfer_time")]).then(draw).catch(function (e) {
      root.setAttribute("data-error", String(e));
    }).then(function () { root.removeAttribute("data-loading"); });
  }

  function setPreset(name) {
    state.preset = name;
    state.to = Math.ceil(Date.now() / 1000);
    state.from = state.to - presets[name];
    markPreset();
    load();
  }

  function markPreset() {
    document.querySelectorAll("#presets button").forEach(function (b) {
      b.classList.toggle("on", b.getAttribute("data-range") === state.preset);
    });
  }

  document.querySelectorAll("#presets button").forEach(function (b) {
    b.addEventListener("click", function () { setPreset(b.getAttribute("data-range")); });
  });
  document.getElementById("sensor").addEventListener("change", function (e) { state.sensor = e.target.value; load(); });
  root.addEventListener("dblclick", function () { setPreset(state.preset || "24h"); });
  window.addEventListener("resize", function () {
    plots.forEach(function (p) { p.setSize({ width: Math.max(p.root.parentNode.clientWidth, 300), height: 240 }); });
  });
  var initial = new URLSearchParams(location.search).get("range");
  setPreset(presets[initial] ? initial : "24h");
})();
