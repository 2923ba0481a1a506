// Line charts on a canvas: metric against step or time, log scale, smoothing, zoom.
// Series come downsampled from the server (per pixel bucket: mean, min, max); a zoom asks
// again for the range, at full resolution once it is short enough.
"use strict";
(function () {
  const PAD = { l: 52, r: 10, t: 8, b: 22 };

  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const step0 = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(step0)));
    const err = step0 / mag, step = mag * (err >= 7 ? 10 : err >= 3 ? 5 : err >= 1.5 ? 2 : 1);
    const out = [];
    for (let k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) out.push(Math.abs(k) < 1e-9 ? 0 : Number((k * step).toPrecision(12)));
    return out;
  }
  M.ticks = ticks;

  // TensorBoard's smoothing: an exponential moving average, debiased at the start.
  function smooth(ys, w) {
    if (!w) return ys;
    const out = new Array(ys.length);
    let last = 0, n = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || !isFinite(y)) { out[i] = y; continue; }
      last = last * w + (1 - w) * y; n++;
      out[i] = last / (1 - Math.pow(w, n));
    }
    return out;
  }

  class Chart {
    // opts: title, fetch({lo, hi, buckets, axis}) -> [{label, color, data, band}], height,
    // axis ("step"|"time"), log, small (fewer controls), onDrawn
    constructor(parent, opts) {
      this.opts = opts;
      this.axis = opts.axis || "step";
      this.log = !!opts.log;
      this.smoothing = 0;
      this.range = null; // [lo, hi] when zoomed
      this.series = [];
      this.totals = {};
      const h = M.h;
      this.pts = h("span.pts", "");
      this.canvas = h("canvas", { height: opts.height || 200 });
      this.tip = h("div.tip");
      this.legend = h("div.legend");
      const ctl = h("div.ctl", h("span.title", { title: opts.title }, opts.title));
      if (!opts.noAxis && !M.report) {
        ctl.appendChild(h("select", { title: "x axis", onchange: (e) => { this.axis = e.target.value; this.range = null; this.load(); } },
          h("option", { value: "step" }, "step"), h("option", { value: "time" }, "time")));
      }
      ctl.appendChild(h("label", h("input", { type: "checkbox", onchange: (e) => { this.log = e.target.checked; this.draw(); } }), " log"));
      if (!opts.small) {
        ctl.appendChild(h("label", { title: "smoothing" }, "smooth ",
          h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0,
            oninput: (e) => { this.smoothing = Number(e.target.value); this.draw(); } })));
      }
      this.reset = h("button", { style: { display: "none", padding: "0 6px" }, onclick: () => this.zoom(null) }, "reset zoom");
      ctl.appendChild(this.reset);
      this.el = h("div.chart", ctl, this.canvas, h("div.ctl", this.pts), this.tip, opts.legend === false ? null : this.legend);
      parent.appendChild(this.el);
      this.bindMouse();
      M.lazy(this.el, () => this.load());
    }

    async load() {
      const width = Math.max(100, Math.round(this.canvas.clientWidth || 400) - PAD.l - PAD.r);
      const [lo, hi] = this.range || [null, null];
      this.pts.textContent = "loading…";
      try {
        this.series = await this.opts.fetch({ lo, hi, buckets: width, axis: this.axis });
      } catch (e) {
        this.pts.textContent = "";
        this.pts.appendChild(M.h("span.error", e.message));
        return;
      }
      for (const s of this.series) {
        if (s.data && s.data.total !== null && s.data.total !== undefined)
          this.totals[s.label + "|" + this.axis] = s.data.total;
      }
      this.draw();
      requestAnimationFrame(() => performance.mark("mlrun:chart-drawn")); // at the next frame
      if (this.opts.onDrawn) this.opts.onDrawn(this);
    }

    zoom(range) {
      this.range = range;
      this.reset.style.display = range ? "" : "none";
      this.load();
    }

    bounds() {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (const s of this.series) {
        const d = s.data, lows = s.band ? d.lo : d.min, highs = s.band ? d.hi : d.max;
        for (let i = 0; i < d.x.length; i++) {
          const x = d.x[i];
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          for (const y of [lows[i], highs[i]]) {
            if (y === null || !isFinite(y) || (this.log && y <= 0)) continue;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
          }
        }
      }
      if (this.range) { x0 = this.range[0]; x1 = this.range[1]; }
      if (x0 === x1) { x0 -= 1; x1 += 1; }
      if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
      if (this.log) { y0 = Math.log10(y0); y1 = Math.log10(y1); }
      const pad = (y1 - y0) * 0.05;
      return { x0, x1, y0: y0 - pad, y1: y1 + pad };
    }

    draw() {
      const c = this.canvas, dpr = window.devicePixelRatio || 1;
      const W = c.clientWidth || 400, H = this.opts.height || 200;
      c.width = W * dpr; c.height = H * dpr; c.style.height = H + "px";
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, W, H);
      const b = (this.b = this.bounds());
      const pw = W - PAD.l - PAD.r, ph = H - PAD.t - PAD.b;
      const fy = (y) => (this.log ? (y > 0 ? Math.log10(y) : NaN) : y);
      this.sx = (x) => PAD.l + ((x - b.x0) / (b.x1 - b.x0)) * pw;
      this.sy = (y) => PAD.t + ph - ((fy(y) - b.y0) / (b.y1 - b.y0)) * ph;
      this.ix = (px) => b.x0 + ((px - PAD.l) / pw) * (b.x1 - b.x0);
      this.axes(g, b, W, H, pw, ph);
      g.save();
      g.beginPath(); g.rect(PAD.l, PAD.t, pw, ph); g.clip();
      let shown = 0;
      for (const s of this.series) shown += this.drawSeries(g, s);
      g.restore();
      this.drawLegend();
      let total = 0, known = true;
      for (const s of this.series) {
        const t = this.totals[s.label + "|" + this.axis];
        if (t === undefined) known = false; else total += t;
      }
      const n = this.series.length;
      this.pts.textContent = shown.toLocaleString() + " points shown" +
        (known && total > shown ? " of " + total.toLocaleString() : "") +
        " · " + n + (n === 1 ? " series" : " series") + (this.range ? " · zoomed" : "");
      this.el.dataset.series = String(n);
      this.el.dataset.points = String(shown);
      this.el.dataset.drawn = "1";
    }

    axes(g, b, W, H, pw, ph) {
      g.strokeStyle = "#e6e6e1"; g.fillStyle = "#6b7280"; g.lineWidth = 1;
      g.font = "10px system-ui, sans-serif";
      g.textAlign = "right"; g.textBaseline = "middle";
      for (const t of ticks(b.y0, b.y1, 4)) {
        const y = PAD.t + ph - ((t - b.y0) / (b.y1 - b.y0)) * ph;
        g.beginPath(); g.moveTo(PAD.l, y); g.lineTo(PAD.l + pw, y); g.stroke();
        g.fillText(M.num(this.log ? Math.pow(10, t) : t), PAD.l - 4, y);
      }
      g.textAlign = "center"; g.textBaseline = "top";
      const time = this.axis === "time";
      // A short time range is labelled in seconds from its start (clock times would repeat).
      const short = time && b.x1 - b.x0 < 120000;
      for (const t of ticks(b.x0, b.x1, Math.max(2, Math.floor(pw / 90)))) {
        const x = this.sx(t);
        g.beginPath(); g.moveTo(x, PAD.t); g.lineTo(x, PAD.t + ph); g.stroke();
        const label = !time ? M.num(t) : short ? "+" + M.num(Number(((t - b.x0) / 1000).toPrecision(3))) + "s" : new Date(t).toLocaleTimeString();
        g.fillText(label, x, PAD.t + ph + 4);
      }
      g.strokeStyle = "#b9b9b3";
      g.strokeRect(PAD.l, PAD.t, pw, ph);
    }

    drawSeries(g, s) {
      const d = s.data, n = d.x.length;
      if (!n) return 0;
      const sx = this.sx, sy = this.sy;
      g.strokeStyle = s.color; g.fillStyle = s.color;
      const lows = s.band ? d.lo : d.min, highs = s.band ? d.hi : d.max;
      if (s.band || !d.raw) {
        // The envelope: each bucket's min to max (or a band's low to high), so no spike hides.
        g.globalAlpha = s.band ? 0.18 : 0.25;
        g.beginPath();
        let open = false;
        for (let i = 0; i < n; i++) {
          if (highs[i] === null) continue;
          const x = sx(d.x[i]), y = sy(highs[i]);
          if (!isFinite(y)) continue;
          if (!open) { g.moveTo(x, y); open = true; } else g.lineTo(x, y);
        }
        for (let i = n - 1; i >= 0; i--) {
          if (lows[i] === null) continue;
          const y = sy(lows[i]);
          if (isFinite(y)) g.lineTo(sx(d.x[i]), y);
        }
        g.closePath(); g.fill();
        g.globalAlpha = 1;
      }
      const ys = smooth(d.y, this.smoothing);
      g.lineWidth = s.width || 1.5;
      g.beginPath();
      let pen = false;
      for (let i = 0; i < n; i++) {
        const y = ys[i] === null ? NaN : sy(ys[i]);
        if (!isFinite(y)) { pen = false; continue; }
        const x = sx(d.x[i]);
        if (!pen) { g.moveTo(x, y); pen = true; } else g.lineTo(x, y);
      }
      g.stroke();
      if (n < 40 || s.dots) for (let i = 0; i < n; i++) {
        const y = sy(ys[i]);
        if (isFinite(y)) { g.beginPath(); g.arc(sx(d.x[i]), y, s.dots ? 3 : 2, 0, 7); g.fill(); }
      }
      return n;
    }

    drawLegend() {
      M.clear(this.legend);
      if (this.series.length < 2) return;
      for (const s of this.series.slice(0, 60)) {
        this.legend.appendChild(M.h("span", M.h("i", { style: { background: s.color } }), s.label));
      }
    }

    bindMouse() {
      const c = this.canvas;
      let down = null;
      const pos = (e) => e.clientX - c.getBoundingClientRect().left;
      c.addEventListener("mousedown", (e) => { down = pos(e); });
      c.addEventListener("mousemove", (e) => {
        const x = pos(e);
        if (down !== null && this.b) {
          this.draw();
          const g = c.getContext("2d");
          g.fillStyle = "rgba(36,87,197,.12)";
          g.fillRect(Math.min(down, x), PAD.t, Math.abs(x - down), (this.opts.height || 200) - PAD.t - PAD.b);
        }
        this.hover(e, x);
      });
      c.addEventListener("mouseleave", () => { this.tip.style.display = "none"; });
      window.addEventListener("mouseup", (e) => {
        if (down === null) return;
        const x = pos(e), a = down;
        down = null;
        if (Math.abs(x - a) < 5 || !this.b) { this.draw(); return; }
        const lo = this.ix(Math.min(a, x)), hi = this.ix(Math.max(a, x));
        this.zoom([lo, hi]);
      });
      c.addEventListener("dblclick", () => this.zoom(null));
    }

    hover(e, px) {
      if (!this.b || !this.series.length) return;
      const x = this.ix(px), lines = [];
      for (const s of this.series.slice(0, 8)) {
        const d = s.data;
        if (!d.x.length) continue;
        let lo = 0, hi = d.x.length - 1;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (d.x[mid] < x) lo = mid + 1; else hi = mid; }
        lines.push(s.label + ": " + M.num(d.y[lo]) + (d.raw ? "" : " [" + M.num(d.min[lo]) + ", " + M.num(d.max[lo]) + "]"));
      }
      const xs = this.axis === "time" ? new Date(x).toLocaleTimeString() : "step " + M.num(Math.round(x));
      this.tip.textContent = xs + "\n" + lines.join("\n");
      this.tip.style.whiteSpace = "pre";
      this.tip.style.display = "block";
      this.tip.style.left = Math.min(px + 60, this.el.clientWidth - 160) + "px";
      this.tip.style.top = "30px";
    }
  }
  M.Chart = Chart;

  // A chart of metric `key` for `runs` ([{id, label}]), fetched in one request.
  M.metricChart = function (parent, key, runs, opts) {
    const colorOf = {};
    runs.forEach((r, i) => { colorOf[r.id] = r.color || M.color(i); });
    const labelOf = Object.fromEntries(runs.map((r) => [r.id, r.label]));
    return new Chart(parent, Object.assign({ title: key }, opts || {}, {
      fetch: async ({ lo, hi, buckets, axis }) => {
        const all = [];
        for (let i = 0; i < runs.length; i += 200) {
          const part = runs.slice(i, i + 200).map((r) => r.id).join(",");
          all.push(...(await M.api("metrics?" + M.q({ runs: part, keys: key, buckets, lo, hi, axis }))));
        }
        return all.filter((d) => d.x.length || d.total).map((d) => ({ label: labelOf[d.run], color: colorOf[d.run], data: d }));
      },
    }));
  };
})();
