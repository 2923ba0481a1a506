// The runs table page, compare, sweep and models pages.
"use strict";
(function () {
  const h = M.h;

  M.pages["runs-table"] = async function (app, _parts, q) {
    const exp = q.get("exp") || "";
    const filter = q.get("filter") || "";
    const runs = M.api("runs?" + M.q({ exp, filter })); // asked at once, beside the info
    runs.catch(() => {});
    const info = M.report ? { experiments: [] } : await M.info;
    M.clear(app);
    const go = (params) => {
      const u = new URLSearchParams(location.search);
      for (const [k, v] of Object.entries(params)) { if (v) u.set(k, v); else u.delete(k); }
      location.search = u.toString();
    };
    const select = h("select", { onchange: (e) => go({ exp: e.target.value }) },
      h("option", { value: "" }, "all experiments"),
      info.experiments.map((e) => h("option", { value: e.id, selected: e.id === exp }, e.name + " (" + e.id + ")")));
    const input = h("input.filter", { type: "text", value: filter, placeholder: "metrics.loss < 0.1 and params.lr = '0.01' or tags.x = 'y'",
      onkeydown: (e) => { if (e.key === "Enter") go({ filter: e.target.value.trim() }); } });
    const err = h("div.error");
    app.append(h("h1", "Runs"), h("div.bar", select, h("div.grow", input), h("button", { onclick: () => go({ filter: input.value.trim() }) }, "Filter")), err);
    const holder = h("div");
    app.appendChild(holder);
    let t;
    try {
      t = await runs;
    } catch (e) {
      err.textContent = e.message;
      return;
    }
    const table = new M.RunTable(holder, t, { exp, accept: (c, j) => !filter && (!exp || c.experiment[j] === exp) });
    M.table = table;
    const state = {};
    await M.changes(state);
    // Live: only while a run shown is active, and for new runs (without a filter).
    M.poller(async () => {
      const c = await M.changes(state, table.activeIds());
      if (c) table.merge(c);
    }, () => table.anyActive() || !filter, 2000);
  };

  function diffTable(t, runs) {
    const only = h("input", { type: "checkbox", checked: true });
    const body = h("tbody");
    const fill = () => {
      M.clear(body);
      for (const kind of ["params", "metrics"]) {
        for (const key of Object.keys(t[kind]).sort()) {
          const vals = runs.map((r) => M.value(t, kind + "." + key, r.i));
          const differ = vals.some((v) => v !== vals[0]);
          if (only.checked && !differ) continue;
          body.appendChild(h("tr" + (differ ? ".diff" : ""), h("td", h("span.muted", kind === "params" ? "param " : "metric "), key),
            vals.map((v) => h("td" + (kind === "metrics" ? ".num" : ""), kind === "metrics" ? M.num(v) : v === null || v === undefined ? "" : String(v)))));
        }
      }
    };
    only.addEventListener("change", fill);
    fill();
    return h("div.panel", h("div.bar", h("h2", { style: { margin: 0 } }, "Params and metrics"), h("label", only, " only differences")),
      h("div.scroll", { style: { overflow: "auto", maxHeight: "420px" } }, h("table.plain",
        h("thead", h("tr", h("th", ""), runs.map((r, n) => h("th", { style: { color: M.color(n) } }, M.link("/runs/" + r.id, r.name))))), body)));
  }

  function scatterPanel(t, rows, params, metrics, colorOf) {
    const box = h("div.panel", h("h2", "Scatter"));
    if (!params.length || !metrics.length) { box.appendChild(h("p.muted", "needs a param and a metric")); return box; }
    const px = h("select", params.map((k) => h("option", k)));
    const my = h("select", metrics.map((k) => h("option", k)));
    const plot = h("div");
    const draw = () => {
      M.clear(plot);
      M.scatter(plot, rows.map((r, n) => ({ x: M.value(t, "params." + px.value, r.i), y: M.value(t, "metrics." + my.value, r.i),
        label: r.name, color: colorOf(r, n), big: r.big })), px.value, my.value);
    };
    px.addEventListener("change", draw); my.addEventListener("change", draw);
    box.append(h("div.bar", "param ", px, " metric ", my), plot);
    setTimeout(draw, 0);
    return box;
  }

  function parallelPanel(t, rows, params, metrics, colorOf, onBrush) {
    const box = h("div.panel", h("h2", "Parallel coordinates"));
    const my = h("select", metrics.map((k) => h("option", k)));
    const plot = h("div");
    const list = h("div.muted", { style: { maxHeight: "90px", overflow: "auto" } });
    const draw = () => {
      M.clear(plot);
      const dims = params.map((k) => ({ name: k, values: rows.map((r) => M.value(t, "params." + k, r.i)) }));
      if (my.value) dims.push({ name: my.value, values: rows.map((r) => M.value(t, "metrics." + my.value, r.i)) });
      if (dims.length < 2) { plot.appendChild(h("p.muted", "needs two dimensions")); return; }
      M.parallel(plot, dims, rows.map((r, n) => ({ label: r.name, color: colorOf(r, n), big: r.big })), (chosen) => {
        list.textContent = chosen.length < rows.length ? "selected: " + chosen.slice(0, 50).map((i) => rows[i].name).join(", ") : "";
        if (onBrush) onBrush(chosen);
      });
    };
    my.addEventListener("change", draw);
    box.append(h("div.bar", "metric ", my), plot, list);
    setTimeout(draw, 0);
    return box;
  }
  M.parallelPanel = parallelPanel;
  M.scatterPanel = scatterPanel;

  function varying(t, kind, rows) {
    return Object.keys(t[kind]).sort().filter((k) => {
      const vals = rows.map((r) => M.value(t, kind + "." + k, r.i));
      return rows.length < 2 || vals.some((v) => v !== vals[0]);
    });
  }
  M.varying = varying;

  M.pages.compare = async function (app, _parts, q) {
    const ids = (q.get("runs") || "").split(",").filter(Boolean);
    if (!ids.length) throw new Error("no runs to compare: select some in the runs table");
    const t = await M.api("runs?" + M.q({ ids: ids.join(",") }));
    const rows = M.rows(t);
    M.clear(app);
    app.appendChild(h("h1", "Compare " + rows.length + " runs"));
    const colorOf = (r, n) => M.color(n);
    const metrics = Object.keys(t.metrics).sort();
    const params = varying(t, "params", rows);
    const differ = varying(t, "metrics", rows); // the metrics that differ come first
    const chosen = [...differ, ...metrics.filter((k) => !differ.includes(k))];
    app.appendChild(diffTable(t, rows));
    const charts = h("div.charts");
    app.append(h("div.panel", h("h2", "Metrics (" + metrics.length + ")"), charts));
    const runs = rows.map((r, n) => ({ id: r.id, label: r.name, color: M.color(n) }));
    M.charts = metrics.map((k) => M.metricChart(charts, k, runs));
    app.appendChild(h("div.grid2", scatterPanel(t, rows, params, chosen, colorOf), parallelPanel(t, rows, params.slice(0, 12), chosen, colorOf)));
  };

  // Curves of `key` for groups of runs: mean ± std (or min–max) per step, on a common grid.
  function bands(series, groups, mode) {
    const out = [];
    let lo = Infinity, hi = -Infinity;
    for (const s of series) if (s.x.length) { lo = Math.min(lo, s.x[0]); hi = Math.max(hi, s.x[s.x.length - 1]); }
    if (!(hi >= lo)) return out;
    const N = hi > lo ? 200 : 1;
    const grid = Array.from({ length: N }, (_, i) => (N === 1 ? lo : lo + ((hi - lo) * i) / (N - 1)));
    const at = (s, x) => {
      if (!s.x.length || x < s.x[0] || x > s.x[s.x.length - 1]) return NaN;
      let a = 0, b = s.x.length - 1;
      while (b - a > 1) { const m = (a + b) >> 1; if (s.x[m] <= x) a = m; else b = m; }
      if (s.x[b] === s.x[a]) return s.y[a];
      const f = (x - s.x[a]) / (s.x[b] - s.x[a]);
      return s.y[a] + f * (s.y[b] - s.y[a]);
    };
    for (const [name, runIds] of groups) {
      const mine = series.filter((s) => runIds.has(s.run));
      const x = [], y = [], l = [], u = [];
      for (const gx of grid) {
        const vs = mine.map((s) => at(s, gx)).filter((v) => isFinite(v));
        if (!vs.length) continue;
        const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
        const sd = Math.sqrt(vs.reduce((a, b) => a + (b - mean) ** 2, 0) / vs.length);
        x.push(gx); y.push(mean);
        l.push(mode === "minmax" ? Math.min(...vs) : mean - sd);
        u.push(mode === "minmax" ? Math.max(...vs) : mean + sd);
      }
      out.push({ label: name + " (" + mine.length + ")", data: { x, y, lo: l, hi: u, min: l, max: u, raw: false }, band: true });
    }
    return out;
  }
  M.bands = bands;
})();
