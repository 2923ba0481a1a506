// mlrun ui: the shared part of every page (the API, DOM helpers, formatting, polling).
"use strict";
const M = (window.M = {});
M.report = window.MLRUN_REPORT || null; // a static report: the API's answers are inlined
M.token = (document.querySelector("meta[name=mlrun-token]") || {}).content || "";
M.pages = {};
M.palette = ["#2457c5", "#d9480f", "#2b8a3e", "#ae3ec9", "#c92a2a", "#1098ad",
  "#e67700", "#5f3dc4", "#087f5b", "#a61e4d", "#364fc7", "#66a80f"];
M.color = (i) => M.palette[i % M.palette.length];

M.api = async function (path) {
  if (M.report) return M.fromReport(path);
  const r = await fetch("/api/" + path, { headers: { Accept: "application/json" } });
  let body;
  try { body = await r.json(); } catch (e) { throw new Error(r.status + " " + r.statusText); }
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
};

M.post = async function (path, body) {
  const r = await fetch("/api/" + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Mlrun-Token": M.token },
    body: JSON.stringify(body || {}),
  });
  const out = await r.json();
  if (!r.ok) throw new Error(out.error || r.statusText);
  return out;
};

// In a report each answer is stored under its path; series are stored one by one, so a
// chart asking for any bucket count or range gets the inlined (downsampled) series.
M.fromReport = async function (path) {
  const data = M.report.data;
  if (path in data) return data[path];
  const [route, qs] = path.split("?");
  const q = new URLSearchParams(qs || "");
  const series = (run, key) => data["series:" + run + ":" + key] ||
    { run, key, x: [], y: [], min: [], max: [], raw: true, count: 0, total: 0 };
  if (route === "metric") return series(q.get("run"), q.get("key"));
  if (route === "metrics") {
    const out = [];
    for (const k of (q.get("keys") || "").split(",").filter(Boolean))
      for (const r of (q.get("runs") || "").split(",").filter(Boolean)) out.push(series(r, k));
    return out;
  }
  if (route === "changes") return { cursor: 0, since: 0, table: null };
  throw new Error("not in this report: " + route);
};

M.q = (params) => Object.entries(params)
  .filter(([, v]) => v !== undefined && v !== null && v !== "")
  .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");

// h("div.cls", {attrs}, children...): a small DOM builder. Text is always text, never HTML.
M.h = function (spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (cls.length) el.className = cls.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    kids.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k in el && k !== "list" && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  M.append(el, kids);
  return el;
};
M.append = function (el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.appendChild(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
};
M.clear = (el) => { while (el.firstChild) el.removeChild(el.firstChild); return el; };

// A link to another page of the view; in a report, only to the page itself (else text).
M.link = function (href, text, cls) {
  if (M.report && !(M.report.links || []).includes(href)) return M.h("span" + (cls ? "." + cls : ""), text);
  return M.h("a" + (cls ? "." + cls : ""), { href: M.report ? "#" : href }, text);
};

M.num = function (v) {
  if (v === null || v === undefined || v === "") return "";
  if (typeof v !== "number") return String(v);
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(5)));
};
M.time = function (ms) {
  if (!ms) return "";
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, "0");
  return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
    p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
};
M.duration = function (start, end) {
  if (!start) return "";
  let s = Math.max(0, ((end || Date.now()) - start) / 1000);
  if (s < 60) return s.toFixed(1) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
};
M.size = function (n) {
  if (n < 1024) return n + " B";
  const u = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
};
M.badge = (status) => M.h("span.badge.s-" + status, status);
M.active = (status) => status === "RUNNING" || status === "SCHEDULED";
M.asNumber = function (v) {
  if (typeof v === "number") return v;
  if (v === null || v === undefined || v === "") return NaN;
  const n = Number(v);
  return isFinite(n) ? n : NaN;
};

// Draw (or fetch) only what is on screen: `fn` runs once, when `el` first scrolls into view.
M.lazy = function (el, fn) {
  if (!("IntersectionObserver" in window)) { fn(); return; }
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) { io.disconnect(); fn(); }
  }, { rootMargin: "200px" });
  io.observe(el);
};

// Live: poll for what changed since the last poll, while `wanted()` says so.
M.poller = function (fn, wanted, ms) {
  let timer = null;
  const tick = async () => {
    timer = null;
    try { if (wanted()) await fn(); } catch (e) { console.warn("poll:", e.message); }
    if (!M.report) timer = setTimeout(tick, ms || 2000);
  };
  timer = setTimeout(tick, ms || 2000);
  return { stop: () => timer && clearTimeout(timer) };
};
// `watch`: ids of runs shown as active, so their end is seen whatever time it records.
M.changes = async function (state, watch) {
  const c = await M.api("changes?" + M.q({ cursor: state.cursor, since: state.since, watch: (watch || []).slice(0, 500).join(",") }));
  state.cursor = c.cursor;
  state.since = c.since;
  return c.table;
};

// Columns of a run table (as the API answers it) as one row object per run.
M.rows = function (t) {
  const rows = [];
  for (let i = 0; i < t.ids.length; i++) {
    rows.push({ i, id: t.ids[i], name: t.names[i], status: t.status[i], start: t.start[i],
      end: t.end[i], parent: t.parent[i], stage: t.stage[i], exp: t.experiment[i] });
  }
  return rows;
};
M.value = (t, col, i) => {
  const [kind, ...rest] = col.split(".");
  const c = t[kind] && t[kind][rest.join(".")];
  return c ? c[i] : undefined;
};

M.fail = function (el, e) {
  M.clear(el).appendChild(M.h("p.error", String(e.message || e)));
  console.warn(e);
};

M.start = async function () {
  const app = document.getElementById("app");
  let path = location.pathname, search = location.search;
  if (M.report) {
    const at = M.report.page.indexOf("?");
    path = at < 0 ? M.report.page : M.report.page.slice(0, at);
    search = at < 0 ? "" : M.report.page.slice(at);
    document.getElementById("store").textContent = "report · " + (M.report.created || "");
    const nav = document.querySelector("header nav");
    if (nav) nav.remove();
  }
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "runs-table";
  const page = M.pages[name === "runs" ? "run" : name] || M.pages["runs-table"];
  try {
    if (!M.report) {
      M.info = M.api("info"); // once, shared with the page
      M.info.then((i) => { document.getElementById("store").textContent = i.store; }).catch(() => {});
    }
    await page(app, parts.slice(1).map(decodeURIComponent), new URLSearchParams(search));
  } catch (e) {
    M.fail(app, e);
  }
};
window.addEventListener("DOMContentLoaded", () => M.start());
