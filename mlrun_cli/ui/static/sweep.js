// The sweep page (trials, parallel coordinates, best trial, best so far, grouped bands) and
// the models page.
"use strict";
(function () {
  const h = M.h;

  function bestOf(t, rows, metric, goal) {
    let best = null, bv = null;
    for (const r of rows) {
      const v = M.asNumber(M.value(t, "metrics." + metric, r.i));
      if (isNaN(v)) continue;
      if (bv === null || (goal === "maximize" ? v > bv : v < bv)) { bv = v; best = r; }
    }
    return best;
  }

  function bestSoFar(t, rows, metric, goal) {
    const done = rows.filter((r) => !isNaN(M.asNumber(M.value(t, "metrics." + metric, r.i))))
      .sort((a, b) => (a.end || a.start || 0) - (b.end || b.start || 0));
    const x = [], y = [], each = [];
    let best = null;
    done.forEach((r, n) => {
      const v = M.asNumber(M.value(t, "metrics." + metric, r.i));
      if (best === null || (goal === "maximize" ? v > best : v < best)) best = v;
      x.push(n + 1); y.push(best); each.push(v);
    });
    return [
      { label: "best so far", color: "#2457c5", data: { x, y, min: y, max: y, raw: true }, width: 2.5 },
      { label: "each trial", color: "#d9480f", data: { x, y: each, min: each, max: each, raw: true }, dots: true, width: 0.01 },
    ];
  }

  function groupPanel(sweep, t, rows, params, metrics) {
    const box = h("div.panel", h("h2", "Grouped curves"));
    const by = h("select", params.map((k) => h("option", k)));
    const key = h("select", metrics.map((k) => h("option", { selected: k === sweep.metric }, k)));
    const mode = h("select", h("option", { value: "std" }, "mean ± std"), h("option", { value: "minmax" }, "min–max"));
    const plot = h("div");
    const draw = () => {
      M.clear(plot);
      const groups = new Map();
      for (const r of rows) {
        const v = String(M.value(t, "params." + by.value, r.i));
        if (!groups.has(v)) groups.set(v, new Set());
        groups.get(v).add(r.id);
      }
      const names = [...groups.keys()].sort((a, b) => (M.asNumber(a) - M.asNumber(b)) || a.localeCompare(b));
      const ordered = names.map((n) => [by.value + "=" + n, groups.get(n)]);
      new M.Chart(plot, { title: key.value + " by " + by.value, height: 240, noAxis: true, fetch: async ({ lo, hi }) => {
        const ids = rows.map((r) => r.id);
        const series = [];
        for (let i = 0; i < ids.length; i += 200)
          series.push(...(await M.api("metrics?" + M.q({ runs: ids.slice(i, i + 200).join(","), keys: key.value, buckets: 200, lo, hi }))));
        return M.bands(series, ordered, mode.value).map((s, n) => Object.assign(s, { color: M.color(n) }));
      } });
    };
    for (const s of [by, key, mode]) s.addEventListener("change", draw);
    box.append(h("div.bar", "group by ", by, " metric ", key, mode), plot);
    if (params.length && metrics.length) setTimeout(draw, 0); else plot.appendChild(h("p.muted", "needs a param that varies and a metric"));
    return box;
  }

  M.pages.sweeps = async function (app, [ref]) {
    const s = await M.api("sweep/" + ref);
    const t = s.trials;
    const rows = M.rows(t);
    const metrics = Object.keys(t.metrics).sort();
    const metric = s.metric || metrics[0];
    const best = (s.best && rows.find((r) => r.id === s.best)) || (metric ? bestOf(t, rows, metric, s.goal) : null);
    if (best) best.big = true;
    document.title = s.name + " · sweep · mlrun";
    M.clear(app);
    const counts = {};
    for (const r of rows) counts[r.status] = (counts[r.status] || 0) + 1;
    app.appendChild(h("h1", "Sweep " + s.name, M.badge(s.status), M.link("/runs/" + s.id, "run page")));
    const bestVal = best && metric ? M.value(t, "metrics." + metric, best.i) : null;
    app.appendChild(h("div.panel.bar", h("span", "method ", h("b", s.method || "?")), h("span", "metric ", h("b", metric || "?"), " (", s.goal, ")"),
      h("span", "trials ", h("b", rows.length + (s.count ? " of " + s.count : ""))),
      Object.entries(counts).map(([k, v]) => h("span", M.badge(k), " ", v)),
      best ? h("span", "best ", M.link("/runs/" + best.id, best.name, "best"), " = ", h("b", M.num(bestVal))) : null));
    const params = M.varying(t, "params", rows);
    const columns = [...params.map((k) => "params." + k), ...metrics.map((k) => "metrics." + k)];
    const holder = h("div.panel", h("h2", "Trials"));
    app.appendChild(holder);
    const table = new M.RunTable(holder, t, { group: false, highlight: best && best.id, height: "300px", columns });
    const colorOf = (r) => (r.big ? "#d9480f" : "#2457c5");
    const curve = h("div.panel", h("h2", "Best so far"));
    if (metric) {
      new M.Chart(curve, { title: metric + " (" + s.goal + ") by trial", height: 220, noAxis: true, legend: true, fetch: async () => bestSoFar(table.t, M.rows(table.t), metric, s.goal) });
    }
    app.appendChild(h("div.grid2", M.parallelPanel(t, rows, params.slice(0, 12), metric ? [metric, ...metrics.filter((m) => m !== metric)] : metrics, colorOf), curve));
    app.appendChild(groupPanel(s, t, rows, params, metrics));
    const state = {};
    await M.changes(state);
    M.poller(async () => {
      const c = await M.changes(state, [s.id, ...table.activeIds()]);
      if (!c) return;
      const mine = c.ids.some((id, j) => id === s.id || c.parent[j] === s.id);
      if (mine) table.merge(c);
    }, () => table.anyActive() || M.active(s.status), 2000);
  };

  M.pages.models = async function (app) {
    const d = await M.api("models");
    M.clear(app);
    app.appendChild(h("h1", "Models"));
    if (!d.registry) {
      app.appendChild(h("div.panel", h("p.muted", "no registry in this store")));
      return;
    }
    if (!d.registry.length) {
      app.appendChild(h("div.panel", h("p.muted", "no registered models yet")));
      return;
    }
    for (const m of d.registry) {
      const versions = m.versions || [];
      const tags = (m.tags || []).map((t) => t.key + "=" + t.value).join(", ");
      app.appendChild(h("div.panel.model", h("h2", String(m.name), " ", h("span.muted", versions.length + (versions.length === 1 ? " version" : " versions"))),
        m.description ? h("p", String(m.description)) : null, tags ? h("p.muted", "tags: " + tags) : null,
        h("table.plain", h("thead", h("tr", ["version", "stage", "aliases", "status", "source run", "source", "created"].map((c) => h("th", c)))),
          h("tbody", versions.map((v) => h("tr", h("td", String(v.version)), h("td", v.current_stage && v.current_stage !== "None" ? String(v.current_stage) : ""),
            h("td", (v.aliases || []).map((a) => h("span.badge", "@" + a))), h("td", String(v.status || "")),
            h("td", v.run_id ? M.link("/runs/" + v.run_id, String(v.run_id).slice(0, 8)) : ""), h("td.mono", String(v.source || "")),
            h("td", M.time(v.creation_timestamp))))))));
    }
  };
})();
