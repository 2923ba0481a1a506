// The run page: fields, params, metrics with a small curve each, tags, provenance, the
// output log (live while the run is active), artifacts with bounded previews, logged models,
// child runs.
"use strict";
(function () {
  const h = M.h;

  function kv(rows) {
    return h("table.kv", h("tbody", rows.filter((r) => r[1] !== null && r[1] !== undefined && r[1] !== "")
      .map(([k, v]) => h("tr", h("td", k), h("td", v instanceof Node ? v : String(v))))));
  }

  function actions(d, refresh) {
    if (M.report) return null;
    const r = d.run;
    const del = h("button", { onclick: async () => {
      try { await M.post("run/" + r.id + "/" + (r.stage === "deleted" ? "restore" : "delete")); refresh(); }
      catch (e) { alert(e.message); }
    } }, r.stage === "deleted" ? "Restore" : "Delete");
    const tag = h("button", { onclick: async () => {
      const key = prompt("tag key");
      if (!key) return;
      const value = prompt("value of " + key, "") || "";
      try { await M.post("run/" + r.id + "/tag", { key, value }); refresh(); } catch (e) { alert(e.message); }
    } }, "Add tag");
    return h("span.bar", { style: { marginLeft: "auto", marginBottom: 0 } }, tag, del);
  }

  function preview(runId, a, into) {
    if (into.firstChild) { M.clear(into); return; }
    into.appendChild(h("p.muted", "loading…"));
    const url = "/view/" + runId + "/" + a.path.split("/").map(encodeURIComponent).join("/");
    M.api("preview/" + runId + "?" + M.q({ path: a.path })).then((p) => {
      M.clear(into);
      const more = p.truncated ? h("p.muted", "preview cut at its first part; download for the whole file") : null;
      if (p.kind === "image") into.appendChild(h("img.preview", { src: url, alt: a.path }));
      else if (p.kind === "html") into.appendChild(h("iframe.preview", { src: url, sandbox: "", title: a.path }));
      else if (p.kind === "csv") {
        const [head, ...rows] = p.rows;
        into.appendChild(h("table.plain", h("thead", h("tr", (head || []).map((c) => h("th", c)))),
          h("tbody", rows.slice(0, 50).map((r) => h("tr", r.map((c) => h("td", c)))))));
      } else if (p.kind === "json" || p.kind === "text") into.appendChild(h("pre", p.text));
      else into.appendChild(h("p.muted", "no preview for this file; download it"));
      if (more) into.appendChild(more);
    }).catch((e) => M.fail(into, e));
  }

  function artifacts(d) {
    const box = h("div.panel", h("h2", "Artifacts (" + d.artifacts_total + ")"));
    if (!d.artifacts.length) { box.appendChild(h("p.muted", "none")); return box; }
    const list = h("table.plain");
    for (const a of d.artifacts) {
      const into = h("div.preview-box");
      const dl = M.report ? null : h("a", { href: "/files/" + d.run.id + "/" + a.path.split("/").map(encodeURIComponent).join("/"), download: "" }, "download");
      list.append(
        h("tr", h("td.mono", a.path), h("td.num", M.size(a.size)),
          h("td", M.report ? null : h("button", { style: { padding: "0 8px" }, onclick: () => preview(d.run.id, a, into) }, "preview"), " ", dl)),
        h("tr", h("td", { colSpan: 3, style: { padding: 0, border: 0 } }, into)));
    }
    box.appendChild(list);
    return box;
  }

  function logPanel(d) {
    const pre = h("pre.log", "");
    const note = h("span.muted");
    const box = h("div.panel", h("h2", "Output ", note), pre);
    if (M.report) { pre.textContent = d.log ? d.log.text : ""; return box; }
    const state = { offset: null, status: d.run.status };
    const pull = async () => {
      const l = await M.api("log/" + d.run.id + (state.offset === null ? "" : "?offset=" + state.offset));
      if (!l.exists) { note.textContent = "(no output yet)"; return; }
      const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
      if (state.offset === null && l.start > 0) pre.textContent = "… (" + M.size(l.start) + " earlier)\n";
      pre.appendChild(document.createTextNode(l.text));
      if (pre.textContent.length > 400000) pre.textContent = pre.textContent.slice(-300000);
      state.offset = l.offset;
      state.status = l.status;
      note.textContent = "(" + M.size(l.size) + (M.active(l.status) ? ", live" : "") + ")";
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    };
    pull().catch((e) => { note.textContent = e.message; });
    M.poller(pull, () => M.active(state.status), 1500);
    return box;
  }

  function metricsPanel(d) {
    const keys = Object.keys(d.metrics);
    const box = h("div.panel", h("h2", "Metrics (" + keys.length + ")"));
    if (!keys.length) { box.appendChild(h("p.muted", "none")); return box; }
    box.appendChild(h("table.plain", h("thead", h("tr", h("th", "metric"), h("th.num", "last"), h("th.num", "step"))),
      h("tbody", keys.map((k) => h("tr", h("td", k), h("td.num", M.num(d.metrics[k].value)), h("td.num", d.metrics[k].step))))));
    const grid = h("div.charts.small", { style: { marginTop: "10px" } });
    box.appendChild(grid);
    const charts = keys.map((k) => M.metricChart(grid, k, [{ id: d.run.id, label: d.run.name }], { small: true, height: 140, legend: false }));
    return { box, charts };
  }

  function children(d) {
    if (!d.children) return null;
    const box = h("div.panel", h("h2", "Child runs (" + d.children.ids.length + ")"));
    new M.RunTable(box, d.children, { group: false, height: "320px" });
    return box;
  }

  M.pages.run = async function (app, [ref]) {
    const d = await M.api("run/" + ref);
    const r = d.run;
    document.title = r.name + " · mlrun";
    M.clear(app);
    const refresh = () => location.reload();
    app.appendChild(h("h1", r.name, M.badge(r.status), h("span.muted.mono", r.id),
      r.stage === "deleted" ? h("span.badge", "deleted") : null,
      r.sweep ? M.link("/sweeps/" + r.id, "sweep view") : null,
      r.parent ? h("span", "child of ", M.link("/runs/" + r.parent, r.parent.slice(0, 8))) : null,
      actions(d, refresh)));
    const m = metricsPanel(d);
    const prov = h("div.panel", h("h2", "Provenance"), d.provenance.length ? kv(d.provenance) : h("p.muted", "none recorded"));
    const extra = h("div");
    for (const [label, path] of [["uncommitted changes (patch)", d.patch], ["packages (frozen)", d.packages]]) {
      if (!path) continue;
      const into = h("div.preview-box");
      extra.append(h("p", h("button", { onclick: () => preview(r.id, { path }, into) }, "show " + label)), into);
    }
    prov.appendChild(extra);
    const overview = h("div.panel", h("h2", "Run"), kv([
      ["id", r.id], ["experiment", r.experiment], ["status", M.badge(r.status)], ["started", M.time(r.start)],
      ["ended", M.time(r.end)], ["duration", M.duration(r.start, r.end)], ["exit code", r.exit_code],
      ["user", r.user], ["artifacts", r.artifact_uri]]));
    const params = Object.entries(d.params);
    const paramsBox = h("div.panel", h("h2", "Params (" + params.length + ")"), params.length ? kv(params) : h("p.muted", "none"));
    const tagsBox = h("div.panel", h("h2", "Tags (" + Object.keys(d.tags).length + ")"), kv(Object.entries(d.tags).map(([k, v]) => [k, v.length > 300 ? v.slice(0, 300) + "…" : v])));
    const models = d.models.length || d.inputs.length ? h("div.panel", h("h2", "Logged models and inputs"),
      h("table.plain", h("tbody", d.models.map((x) => h("tr", h("td", "model"), h("td", String(x.name)), h("td.mono", String(x.model_id)), h("td", String(x.status)))),
        d.inputs.map((x) => h("tr", h("td", "input"), h("td", String(x.name)), h("td.mono", String(x.digest)), h("td", String(x.source || "")))))) ) : null;
    M.append(app, [h("div.grid2", overview, paramsBox), m.box || m, h("div.grid2", prov, tagsBox), logPanel(d), artifacts(d), models, children(d)]);
    if (M.active(r.status) && m.charts) {
      const state = {};
      await M.changes(state);
      M.poller(async () => {
        const c = await M.changes(state, [r.id]);
        if (!c || !c.ids.includes(r.id)) return;
        const i = c.ids.indexOf(r.id);
        if (!M.active(c.status[i])) { refresh(); return; }
        for (const ch of m.charts) if (ch.el.dataset.drawn) ch.load();
      }, () => true, 2000);
    }
  };
})();
