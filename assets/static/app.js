// Shared by every page: one time format (24-hour ISO, UTC unless the
// browser's zone is chosen), sortable and filterable tables. No
// dependencies. Exposes window.pastmon for the page scripts.
(function () {
  "use strict";

  var tzKey = "pastmon.tz";
  function tz() {
    var q = new URLSearchParams(location.search).get("tz");
    if (q === "local" || q === "utc") return q;
    try { return localStorage.getItem(tzKey) === "local" ? "local" : "utc"; } catch (e) { return "utc"; }
  }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  // fmtTime formats unix seconds as "2026-12-02 15:40" (seconds too if asked).
  function fmtTime(sec, withSeconds) {
    var d = new Date(sec * 1000);
    var utc = tz() === "utc";
    var s = (utc ? d.getUTCFullYear() : d.getFullYear()) + "-" + pad((utc ? d.getUTCMonth() : d.getMonth()) + 1) + "-" +
      pad(utc ? d.getUTCDate() : d.getDate()) + " " + pad(utc ? d.getUTCHours() : d.getHours()) + ":" +
      pad(utc ? d.getUTCMinutes() : d.getMinutes());
    if (withSeconds) s += ":" + pad(utc ? d.getUTCSeconds() : d.getSeconds());
    return s;
  }
  function zoneName() {
    if (tz() === "utc") return "UTC";
    var off = -new Date().getTimezoneOffset();
    return "UTC" + (off >= 0 ? "+" : "−") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  }
  // parseTime reads "2026-12-02 15:40" (or with a T, seconds optional) in
  // the chosen zone; NaN when it is not such a time.
  function parseTime(s) {
    var m = /^\s*(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d))?\s*$/.exec(s || "");
    if (!m) return NaN;
    var a = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)];
    var ms = tz() === "utc" ? Date.UTC(a[0], a[1], a[2], a[3], a[4], a[5]) : new Date(a[0], a[1], a[2], a[3], a[4], a[5]).getTime();
    return Math.floor(ms / 1000);
  }
  function renderTimes() {
    document.querySelectorAll("[data-time]").forEach(function (el) {
      var v = parseInt(el.getAttribute("data-time"), 10);
      if (isNaN(v)) return;
      var text = fmtTime(v) + (el.hasAttribute("data-zone") ? " " + zoneName() : "");
      if (el.tagName === "INPUT") el.value = fmtTime(v); else el.textContent = text;
    });
    document.querySelectorAll(".tz-name").forEach(function (el) { el.textContent = zoneName(); });
    var b = document.getElementById("tz");
    if (b) {
      b.textContent = tz() === "utc" ? "UTC" : "Local";
      b.title = tz() === "utc" ? "Times in UTC: switch to this browser's time zone" : "Times in this browser's zone: switch to UTC";
    }
  }
  function setTz(v) {
    try { localStorage.setItem(tzKey, v); } catch (e) { /* private mode: this page only */ }
    var p = new URLSearchParams(location.search);
    if (p.has("tz")) { p.set("tz", v); history.replaceState(null, "", location.pathname + "?" + p.toString()); }
    renderTimes();
    document.dispatchEvent(new CustomEvent("pastmon:tz"));
  }
  var tzButton = document.getElementById("tz");
  if (tzButton) tzButton.addEventListener("click", function () { setTz(tz() === "utc" ? "local" : "utc"); });

  function cellValue(row, i, numeric) {
    var c = row.cells[i];
    if (!c) return numeric ? -Infinity : "";
    var v = c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent.trim();
    if (!numeric) return v.toLowerCase();
    var n = parseFloat(v);
    return isNaN(n) ? -Infinity : n;
  }

  // sortTable sorts table's body by column th; asc undefined toggles.
  function sortTable(table, th, asc) {
    var i = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-type") === "num";
    if (asc === undefined) asc = th.classList.contains("desc") || (!th.classList.contains("asc") && !numeric);
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, i, numeric), y = cellValue(b, i, numeric);
      var r = x < y ? -1 : x > y ? 1 : 0;
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    table.dispatchEvent(new CustomEvent("pastmon:sorted", { detail: { key: th.getAttribute("data-key") || String(i), asc: asc } }));
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (table.hasAttribute("data-server-sort")) return; // sorted by the server, links in the headers
    table.querySelectorAll("thead th").forEach(function (th) {
      th.addEventListener("click", function () { sortTable(table, th); });
    });
  });

  var filter = document.getElementById("filter");
  if (filter && !filter.form) {
    filter.addEventListener("input", function () {
      var q = filter.value.trim().toLowerCase();
      document.querySelectorAll("table.sortable tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  }

  // Custom ranges typed in the chosen zone travel as RFC 3339 UTC.
  document.querySelectorAll("form.custom-range").forEach(function (f) {
    f.addEventListener("submit", function (e) {
      var from = parseTime(f.elements.from_text.value), to = parseTime(f.elements.to_text.value);
      var msg = f.querySelector(".range-error");
      if (isNaN(from) || isNaN(to) || from >= to) {
        e.preventDefault();
        if (msg) msg.textContent = "Want two times like 2026-12-02 15:40, the first before the second.";
        return;
      }
      f.elements.from.value = new Date(from * 1000).toISOString().replace(".000Z", "Z");
      f.elements.to.value = new Date(to * 1000).toISOString().replace(".000Z", "Z");
      f.elements.from_text.disabled = true;
      f.elements.to_text.disabled = true;
    });
  });

  // Optional auto-refresh of a server-rendered page (refresh=N in the URL).
  var pageRefresh = document.getElementById("page-refresh");
  if (pageRefresh) {
    var every = parseInt(new URLSearchParams(location.search).get("refresh") || "0", 10) || 0;
    pageRefresh.value = String(every);
    if (every > 0) setTimeout(function () { location.reload(); }, every * 1000);
    pageRefresh.addEventListener("change", function () {
      var p = new URLSearchParams(location.search);
      if (pageRefresh.value === "0") p.delete("refresh"); else p.set("refresh", pageRefresh.value);
      location.search = p.toString();
    });
  }

  window.pastmon = { tz: tz, fmtTime: fmtTime, parseTime: parseTime, zoneName: zoneName, sortTable: sortTable, renderTimes: renderTimes };
  renderTimes();
})();
