// The runs table: every run, virtualized rows (only those on screen exist in the page), a
// column picker, a summary per metric column, sorting, constant columns hidden, child runs
// grouped under their parent (a sweep), selection for comparing.
"use strict";
(function () {
  const h = M.h;
  const ROW = 26;
  const FIXED = [
    { id: "sel", title: "", w: 28 },
    { id: "name", title: "run", w: 180 },
    { id: "status", title: "status", w: 92 },
    { id: "start", title: "started", w: 162 },
    { id: "duration", title: "duration", w: 76 },
  ];

  class RunTable {
    // opts: exp (for summaries), highlight (a run id), group (children under parents),
    // onSelect(ids), defaultColumns
    constructor(parent, table, opts) {
      this.opts = opts || {};
      this.sel = new Set();
      this.open = new Set();
      this.sort = { col: "start", desc: true }; // newest first
      this.agg = {}; // metric column -> {agg, step, values}
      this.hideConstant = true;
      this.el = h("div");
      parent.appendChild(this.el);
      this.setTable(table);
      this.columns = this.opts.columns || this.defaultColumns();
      this.build();
    }

    setTable(t) {
      this.t = t;
      this.rowsAll = M.rows(t);
      this.byId = new Map(this.rowsAll.map((r) => [r.id, r]));
    }

    keys(kind) { return Object.keys(this.t[kind] || {}).sort(); }

    isConstant(col) {
      const [kind, ...k] = col.split(".");
      const c = this.t[kind] && this.t[kind][k.join(".")];
      if (!c || c.length < 2) return false;
      const first = c[0];
      for (let i = 1; i < c.length; i++) if (c[i] !== first) return false;
      return true;
    }

    defaultColumns() {
      const params = this.keys("params").map((k) => "params." + k);
      const metrics = this.keys("metrics").map((k) => "metrics." + k);
      return [...params.slice(0, 20), ...metrics.slice(0, 20)];
    }

    shown() {
      return this.columns.filter((c) => !(this.hideConstant && this.isConstant(c)) && this.t[c.split(".")[0]][c.split(".").slice(1).join(".")]);
    }

    build() {
      M.clear(this.el);
      const bar = h("div.bar");
      this.count = h("span.muted");
      this.compareBtn = h("button.primary", { disabled: true, onclick: () => {
        location.href = "/compare?runs=" + [...this.sel].join(",");
      } }, "Compare");
      bar.append(
        h("button", { onclick: (e) => this.picker(e.target) }, "Columns…"),
        h("label", h("input", { type: "checkbox", checked: this.hideConstant, onchange: (e) => { this.hideConstant = e.target.checked; this.render(true); } }), " hide constant columns"),
        this.count, h("span.grow"), this.compareBtn);
      this.box = h("div.rt-box");
      this.head = h("div.rt-head");
      this.body = h("div.rt-body");
      this.box.append(this.head, this.body);
      if (this.opts.height) this.box.style.height = this.opts.height;
      this.el.append(bar, this.box);
      this.box.addEventListener("scroll", () => this.paint());
      window.addEventListener("resize", () => this.paint());
      this.render(true);
    }

    cellValue(r, col) {
      if (col === "name") return r.name;
      if (col === "status") return r.status;
      if (col === "start") return r.start;
      if (col === "duration") return r.start ? (r.end || Date.now()) - r.start : null;
      const a = this.agg[col];
      if (a && a.values) { const v = a.values[r.id]; return v === undefined ? null : v; }
      return M.value(this.t, col, r.i);
    }

    // The visible order: top-level runs sorted, each parent's children right after it.
    order() {
      const group = this.opts.group !== false;
      const kids = new Map();
      const top = [];
      for (const r of this.rowsAll) {
        if (group && r.parent && this.byId.has(r.parent)) {
          if (!kids.has(r.parent)) kids.set(r.parent, []);
          kids.get(r.parent).push(r);
        } else top.push(r);
      }
      const s = this.sort;
      if (s) {
        const cmp = (a, b) => {
          let x = this.cellValue(a, s.col), y = this.cellValue(b, s.col);
          const nx = M.asNumber(x), ny = M.asNumber(y);
          const empty = (v) => v === null || v === undefined || v === "";
          if (empty(x) !== empty(y)) return empty(x) ? 1 : -1; // empty last, either way
          let c;
          if (!isNaN(nx) && !isNaN(ny)) c = nx - ny;
          else c = String(x).localeCompare(String(y));
          return s.desc ? -c : c;
        };
        top.sort(cmp);
        for (const list of kids.values()) list.sort(cmp);
      }
      const out = [];
      for (const r of top) {
        const ch = kids.get(r.id);
        r.kids = ch ? ch.length : 0;
        r.depth = 0;
        out.push(r);
        if (ch && this.open.has(r.id)) for (const c of ch) { c.depth = 1; c.kids = 0; out.push(c); }
      }
      return out;
    }

    render(columnsChanged) {
      this.visible = this.order();
      if (columnsChanged) this.renderHead();
      this.body.style.height = this.visible.length * ROW + "px";
      this.body.style.width = this.width + "px";
      const nChildren = this.rowsAll.filter((r) => r.parent && this.byId.has(r.parent)).length;
      this.count.textContent = this.rowsAll.length.toLocaleString() + " runs" +
        (nChildren ? " (" + nChildren.toLocaleString() + " grouped under their parent)" : "");
      this.painted = null;
      this.paint();
    }

    renderHead() {
      M.clear(this.head);
      this.cols = [...FIXED, ...this.shown().map((c) => ({ id: c, title: c.split(".").slice(1).join("."), w: this.widthOf(c), kind: c[0] }))];
      this.width = this.cols.reduce((a, c) => a + c.w, 0);
      for (const c of this.cols) {
        const cell = h("div.rt-h" + (c.kind ? "." + c.kind : ""), { style: { width: c.w + "px" }, title: c.id, "data-col": c.id });
        if (c.id === "sel") {
          cell.appendChild(h("input", { type: "checkbox", title: "select all", onchange: (e) => {
            for (const r of this.visible) { if (e.target.checked) this.sel.add(r.id); else this.sel.delete(r.id); }
            this.selected();
          } }));
        } else {
          const arrow = this.sort && this.sort.col === c.id ? (this.sort.desc ? " ▼" : " ▲") : "";
          cell.appendChild(h("span.k", c.title + arrow));
          cell.addEventListener("click", (e) => {
            if (e.target.tagName === "SELECT" || e.target.tagName === "INPUT" || e.target.tagName === "OPTION") return;
            const desc = this.sort && this.sort.col === c.id ? !this.sort.desc : c.id === "start";
            this.sort = { col: c.id, desc };
            this.render(true);
          });
          if (c.kind === "m") cell.appendChild(this.aggSelect(c.id));
        }
        this.head.appendChild(cell);
      }
    }

    // A column as wide as its title or its widest value among the first rows, within bounds.
    widthOf(col) {
      const metric = col.startsWith("metrics.");
      let n = col.length - col.indexOf(".") + 1;
      for (const r of this.rowsAll.slice(0, 300)) {
        const v = this.cellValue(r, col);
        if (v !== null && v !== undefined) n = Math.max(n, (metric ? M.num(v) : String(v)).length);
      }
      return Math.max(64, Math.min(metric ? 200 : 220, n * 7.5 + 20 + (metric ? 50 : 0)));
    }

    aggSelect(col) {
      const a = this.agg[col] || { agg: "last" };
      const sel = h("select", { title: "summary of the metric's history", onchange: async (e) => {
        let agg = e.target.value, step = null;
        if (agg === "at") {
          step = prompt("value at which step?", String(a.step || 0));
          if (step === null) { e.target.value = a.agg; return; }
        }
        if (agg === "last") { delete this.agg[col]; this.render(true); return; }
        const key = col.slice("metrics.".length);
        const values = await M.api("summary?" + M.q({ exp: this.opts.exp || "", key, agg, step }));
        this.agg[col] = { agg, step, values };
        this.render(true);
      } }, ["last", "min", "max", "at"].map((v) => h("option", { value: v, selected: v === a.agg }, v === "at" ? (a.agg === "at" ? "@" + a.step : "at step…") : v)));
      return sel;
    }

    paint() {
      const top = this.box.scrollTop, height = this.box.clientHeight || 600;
      const first = Math.max(0, Math.floor(top / ROW) - 8);
      const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW) + 8);
      const key = first + ":" + last;
      if (this.painted === key) return;
      this.painted = key;
      const frag = document.createDocumentFragment();
      for (let n = first; n < last; n++) frag.appendChild(this.row(this.visible[n], n));
      M.clear(this.body).appendChild(frag);
      if (!M.tableMarked && this.visible.length) {
        M.tableMarked = true;
        requestAnimationFrame(() => performance.mark("mlrun:rows-on-screen")); // at the next frame
      }
    }

    row(r, n) {
      const cls = "div.rt-row" + (this.sel.has(r.id) ? ".sel" : "") + (r.id === this.opts.highlight ? ".best" : "") +
        (r.depth ? ".child" : "") + (r.stage === "deleted" ? ".deleted" : "");
      const row = h(cls, { style: { top: n * ROW + "px" }, "data-id": r.id });
      for (const c of this.cols) {
        const cell = h("div.rt-cell", { style: { width: c.w + "px" } });
        if (c.id === "sel") {
          cell.appendChild(h("input", { type: "checkbox", checked: this.sel.has(r.id), onchange: (e) => {
            if (e.target.checked) this.sel.add(r.id); else this.sel.delete(r.id);
            this.selected();
          } }));
        } else if (c.id === "name") {
          cell.classList.add("name");
          if (r.kids) {
            cell.appendChild(h("span.twist", { title: r.kids + " child runs", onclick: () => {
              if (this.open.has(r.id)) this.open.delete(r.id); else this.open.add(r.id);
              this.render(false);
            } }, this.open.has(r.id) ? "▾" : "▸"));
          }
          const sweep = r.kids && this.t.tags["mlrun.sweep"] && this.t.tags["mlrun.sweep"][r.i];
          cell.appendChild(M.link((sweep ? "/sweeps/" : "/runs/") + r.id, r.name || r.id.slice(0, 8)));
          if (r.kids) cell.appendChild(h("span.muted", " (" + r.kids + ")"));
          cell.title = r.name + " · " + r.id;
        } else if (c.id === "status") {
          cell.appendChild(M.badge(r.status));
        } else if (c.id === "start") {
          cell.textContent = M.time(r.start);
        } else if (c.id === "duration") {
          cell.textContent = M.duration(r.start, r.end);
        } else {
          const v = this.cellValue(r, c.id);
          cell.textContent = c.kind === "m" ? M.num(v) : v === null || v === undefined ? "" : v;
          if (c.kind === "m" || !isNaN(M.asNumber(v))) cell.classList.add("num");
          cell.title = v === null || v === undefined ? "" : String(v);
        }
        row.appendChild(cell);
      }
      return row;
    }

    selected() {
      this.compareBtn.disabled = this.sel.size < 1;
      this.compareBtn.textContent = "Compare" + (this.sel.size ? " (" + this.sel.size + ")" : "");
      this.painted = null;
      this.paint();
      if (this.opts.onSelect) this.opts.onSelect([...this.sel]);
    }

    picker(anchor) {
      if (this.pick) { this.pick.remove(); this.pick = null; return; }
      const list = h("div");
      const search = h("input", { type: "search", placeholder: "find a column", style: { width: "100%" } });
      const fill = () => {
        M.clear(list);
        const q = search.value.toLowerCase();
        for (const kind of ["params", "metrics", "tags"]) {
          const keys = this.keys(kind).filter((k) => k.toLowerCase().includes(q));
          if (!keys.length) continue;
          list.appendChild(h("h3", kind + " (" + keys.length + ")"));
          for (const k of keys.slice(0, 500)) {
            const col = kind + "." + k;
            list.appendChild(h("label", { title: col }, h("input", { type: "checkbox", checked: this.columns.includes(col), onchange: (e) => {
              if (e.target.checked) this.columns.push(col); else this.columns = this.columns.filter((c) => c !== col);
              this.render(true);
            } }), " " + k + (this.isConstant(col) ? " (constant)" : "")));
          }
        }
      };
      search.addEventListener("input", fill);
      const r = anchor.getBoundingClientRect();
      this.pick = h("div.picker", { style: { left: r.left + "px", top: r.bottom + window.scrollY + 4 + "px" } },
        search, h("div.bar", h("button", { onclick: () => { this.columns = []; this.render(true); fill(); } }, "none"),
          h("button", { onclick: () => { this.columns = this.defaultColumns(); this.render(true); fill(); } }, "default"),
          h("button", { onclick: () => { this.pick.remove(); this.pick = null; } }, "close")), list);
      document.body.appendChild(this.pick);
      fill();
      search.focus();
    }

    // Live: changed runs (a table in the API's shape) update their rows, new ones appear.
    merge(c) {
      const t = this.t;
      let added = false;
      for (let j = 0; j < c.ids.length; j++) {
        const id = c.ids[j];
        if (this.opts.accept && !this.opts.accept(c, j)) continue;
        let i = this.byId.has(id) ? this.byId.get(id).i : -1;
        if (i < 0) {
          i = t.ids.length;
          added = true;
          for (const k of ["ids", "names", "status", "start", "end", "stage", "experiment", "parent"]) t[k].push(undefined);
          for (const kind of ["params", "metrics", "tags"]) for (const col of Object.values(t[kind])) col.push(null);
          t.ids[i] = id;
        }
        for (const [k, src] of [["names", "names"], ["status", "status"], ["start", "start"], ["end", "end"], ["stage", "stage"], ["experiment", "experiment"], ["parent", "parent"]]) t[k][i] = c[src][j];
        for (const kind of ["params", "metrics", "tags"]) {
          for (const [key, col] of Object.entries(c[kind])) {
            if (!(key in t[kind])) t[kind][key] = new Array(t.ids.length).fill(null);
            t[kind][key][i] = col[j];
          }
        }
      }
      const cols = this.columns.length;
      this.setTable(t);
      if (added && !this.opts.columns) {
        for (const col of this.defaultColumns()) if (!this.columns.includes(col)) this.columns.push(col);
      }
      this.render(cols !== this.columns.length || added);
    }

    anyActive() { return this.t.status.some(M.active); }
    activeIds() { return this.t.ids.filter((id, i) => M.active(this.t.status[i])); }
  }
  M.RunTable = RunTable;
})();
