// A scatter plot and parallel coordinates with brushing, on canvases.
"use strict";
(function () {
  const h = M.h;

  // A dimension's values as positions in [0, 1]: numbers linearly, other values by rank.
  function scale(values) {
    const nums = values.map(M.asNumber);
    const numeric = values.every((v, i) => v === null || v === undefined || v === "" || !isNaN(nums[i]));
    if (numeric) {
      const ok = nums.filter((v) => !isNaN(v));
      const lo = Math.min(...ok), hi = Math.max(...ok);
      const short = (v) => M.num(Number(v.toPrecision(3)));
      if (!(hi > lo)) { // one value: in the middle
        return { numeric: true, lo, hi, pos: (v) => (isNaN(M.asNumber(v)) ? NaN : 0.5), ticks: ok.length ? [[0.5, short(lo)]] : [] };
      }
      const span = hi - lo;
      return { numeric: true, lo, hi, pos: (v) => (isNaN(M.asNumber(v)) ? NaN : (M.asNumber(v) - lo) / span),
        ticks: M.ticks(lo, hi, 4).map((v) => [(v - lo) / span, short(v)]) };
    }
    const cats = [...new Set(values.filter((v) => v !== null && v !== undefined).map(String))].sort();
    const at = Object.fromEntries(cats.map((c, i) => [c, cats.length === 1 ? 0.5 : i / (cats.length - 1)]));
    return { numeric: false, cats, pos: (v) => (v === null || v === undefined ? NaN : at[String(v)]),
      ticks: cats.slice(0, 20).map((c) => [at[c], c]) };
  }
  M.scale = scale;

  function canvas(parent, height) {
    const c = h("canvas", { height });
    parent.appendChild(c);
    const dpr = window.devicePixelRatio || 1, W = c.clientWidth || 500;
    c.width = W * dpr; c.height = height * dpr; c.style.height = height + "px";
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.font = "10px system-ui, sans-serif";
    return { c, g, W, H: height };
  }

  // points: [{x, y, label, color, big}]
  M.scatter = function (parent, points, xName, yName) {
    const box = h("div.chart", h("div.ctl", h("span.title", yName + " against " + xName)));
    parent.appendChild(box);
    const { c, g, W, H } = canvas(box, 240);
    box.dataset.points = String(points.length);
    const L = 52, R = 10, T = 8, B = 22, pw = W - L - R, ph = H - T - B;
    const sx = scale(points.map((p) => p.x)), sy = scale(points.map((p) => p.y));
    const inset = (t) => 0.04 + 0.92 * t; // no point sits on the frame
    g.strokeStyle = "#e6e6e1"; g.fillStyle = "#6b7280";
    g.textAlign = "right"; g.textBaseline = "middle";
    for (const [t, lab] of sy.ticks) { const y = T + ph - inset(t) * ph; g.beginPath(); g.moveTo(L, y); g.lineTo(L + pw, y); g.stroke(); g.fillText(lab, L - 4, y); }
    g.textAlign = "center"; g.textBaseline = "top";
    for (const [t, lab] of sx.ticks) { const x = L + inset(t) * pw; g.beginPath(); g.moveTo(x, T); g.lineTo(x, T + ph); g.stroke(); g.fillText(String(lab).slice(0, 12), x, T + ph + 4); }
    g.strokeStyle = "#b9b9b3"; g.strokeRect(L, T, pw, ph);
    const placed = [];
    for (const p of points) {
      const x = L + inset(sx.pos(p.x)) * pw, y = T + ph - inset(sy.pos(p.y)) * ph;
      if (!isFinite(x) || !isFinite(y)) continue;
      g.fillStyle = p.color || "#2457c5"; g.globalAlpha = 0.8;
      g.beginPath(); g.arc(x, y, p.big ? 6 : 3.5, 0, 7); g.fill();
      placed.push([x, y, p]);
    }
    g.globalAlpha = 1;
    const tip = h("div.tip");
    box.appendChild(tip);
    c.addEventListener("mousemove", (e) => {
      const r = c.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
      let best = null, d0 = 100;
      for (const [x, y, p] of placed) { const d = (x - mx) ** 2 + (y - my) ** 2; if (d < d0) { d0 = d; best = [x, y, p]; } }
      if (!best) { tip.style.display = "none"; return; }
      tip.textContent = best[2].label + ": " + xName + "=" + M.num(best[2].x) + ", " + yName + "=" + M.num(best[2].y);
      tip.style.display = "block"; tip.style.left = Math.min(best[0] + 10, W - 200) + "px"; tip.style.top = best[1] + 10 + "px";
    });
    return box;
  };

  // dims: [{name, values}] (values aligned with rows); rows: [{label, color, big}].
  // Dragging along an axis keeps the lines inside the range (brushing); a click clears it.
  M.parallel = function (parent, dims, rows, onBrush) {
    const box = h("div.chart", h("div.ctl", h("span.title", "parallel coordinates"), h("span.pts", "drag along an axis to select")));
    parent.appendChild(box);
    const { c, g, W, H } = canvas(box, 280);
    const info = h("div.ctl");
    box.appendChild(info);
    const T = 22, B = 26, ph = H - T - B, L = 40, R = 40;
    const step = dims.length > 1 ? (W - L - R) / (dims.length - 1) : 0;
    const scales = dims.map((d) => scale(d.values));
    const brush = dims.map(() => null); // [lo, hi] in [0, 1] per axis
    const ax = (j) => L + j * step;
    const yOf = (t) => T + ph - t * ph;
    const inside = (i) => brush.every((b, j) => {
      if (!b) return true;
      const t = scales[j].pos(dims[j].values[i]);
      return t >= b[0] && t <= b[1];
    });
    function draw() {
      g.clearRect(0, 0, W, H);
      const chosen = [];
      for (const pass of [0, 1]) {
        rows.forEach((r, i) => {
          const keep = inside(i);
          if ((pass === 0) === keep) return;
          if (keep) chosen.push(i);
          g.strokeStyle = keep ? r.color || "#2457c5" : "#d5d5d0";
          g.globalAlpha = keep ? (r.big ? 1 : Math.max(0.15, Math.min(0.8, 60 / rows.length))) : 0.3;
          g.lineWidth = r.big ? 3 : 1;
          g.beginPath();
          let pen = false;
          dims.forEach((d, j) => {
            const t = scales[j].pos(d.values[i]);
            if (isNaN(t)) { pen = false; return; }
            if (!pen) { g.moveTo(ax(j), yOf(t)); pen = true; } else g.lineTo(ax(j), yOf(t));
          });
          g.stroke();
        });
      }
      g.globalAlpha = 1; g.lineWidth = 1;
      dims.forEach((d, j) => {
        g.strokeStyle = "#555"; g.beginPath(); g.moveTo(ax(j), T); g.lineTo(ax(j), T + ph); g.stroke();
        g.fillStyle = "#1d2330"; g.textAlign = "center"; g.textBaseline = "bottom";
        g.fillText(d.name.slice(0, 18), ax(j), T - 6);
        g.fillStyle = "#6b7280"; g.textAlign = j === dims.length - 1 ? "right" : "left"; g.textBaseline = "middle";
        for (const [t, lab] of scales[j].ticks) g.fillText(String(lab).slice(0, 10), ax(j) + (j === dims.length - 1 ? -4 : 4), yOf(t));
        if (brush[j]) {
          g.fillStyle = "rgba(36,87,197,.2)";
          g.fillRect(ax(j) - 6, yOf(brush[j][1]), 12, yOf(brush[j][0]) - yOf(brush[j][1]));
        }
      });
      info.textContent = chosen.length + " of " + rows.length + " runs selected";
      box.dataset.selected = String(chosen.length);
      if (onBrush) onBrush(chosen);
    }
    let drag = null;
    const tOf = (e) => Math.max(0, Math.min(1, (T + ph - (e.clientY - c.getBoundingClientRect().top)) / ph));
    c.addEventListener("mousedown", (e) => {
      const x = e.clientX - c.getBoundingClientRect().left;
      let j = 0;
      dims.forEach((d, k) => { if (Math.abs(ax(k) - x) < Math.abs(ax(j) - x)) j = k; });
      if (Math.abs(ax(j) - x) > 20) return;
      drag = { j, t0: tOf(e) };
    });
    c.addEventListener("mousemove", (e) => {
      if (!drag) return;
      const t = tOf(e);
      brush[drag.j] = Math.abs(t - drag.t0) < 0.01 ? null : [Math.min(t, drag.t0), Math.max(t, drag.t0)];
      draw();
    });
    window.addEventListener("mouseup", () => {
      if (drag && brush[drag.j] === undefined) brush[drag.j] = null;
      drag = null;
    });
    c.addEventListener("click", (e) => {
      if (drag) return;
      const t = tOf(e);
      const x = e.clientX - c.getBoundingClientRect().left;
      dims.forEach((d, j) => {
        if (Math.abs(ax(j) - x) < 20 && brush[j] && (t < brush[j][0] || t > brush[j][1])) brush[j] = null;
      });
      draw();
    });
    box.brush = (j, lo, hi) => { brush[j] = lo === null ? null : [lo, hi]; draw(); };
    draw();
    return box;
  };
})();
