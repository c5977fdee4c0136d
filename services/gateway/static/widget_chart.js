// ChatKit's Chart widget as inline SVG: bar, line and area series over one x axis, stacked
// where a series names a `stack`, with a legend, an optional y axis and a tooltip (`<title>`)
// on every bar and point. Screen readers get the numbers as a table.

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = {
  blue: "#3b82f6",
  purple: "#8b5cf6",
  orange: "#f97316",
  green: "#22a06b",
  red: "#e5484d",
  yellow: "#eab308",
  pink: "#ec4899",
};
const ORDER = Object.keys(PALETTE);
const WIDTH = 320;
const PAD = { top: 8, right: 8, bottom: 22, left: 8 };
const MAX_POINTS = 500; // a chart is a summary: more data is cut, not drawn

/** The chart's element: an `<svg>`, its legend and a table of its data. */
export function chart(node) {
  const data = (Array.isArray(node.data) ? node.data : []).slice(0, MAX_POINTS);
  const series = (Array.isArray(node.series) ? node.series : []).filter((s) => s && s.dataKey);
  const axis = typeof node.xAxis === "string" ? { dataKey: node.xAxis } : node.xAxis || {};
  const labels = axis.labels || {};
  const category = (row) => String(labels[row[axis.dataKey]] ?? row[axis.dataKey] ?? "");
  const height = typeof node.height === "number" ? Math.min(Math.max(node.height, 80), 600) : 180;
  const left = PAD.left + (node.showYAxis ? 28 : 0);
  const plot = { x: left, y: PAD.top, w: WIDTH - left - PAD.right, h: height - PAD.top - PAD.bottom };

  const value = (row, s) => {
    const v = Number(row[s.dataKey]);
    return Number.isFinite(v) ? v : 0;
  };
  // Stacked series sit on the ones before them in their stack, point by point.
  const bases = series.map(() => data.map(() => 0));
  const tops = new Map();
  series.forEach((s, i) => {
    if (!s.stack || s.type === "line") return;
    const key = `${s.type}:${s.stack}`;
    const below = tops.get(key) || data.map(() => 0);
    bases[i] = below.slice();
    tops.set(key, below.map((b, j) => b + value(data[j], s)));
  });
  const highs = series.flatMap((s, i) => data.map((row, j) => bases[i][j] + value(row, s)));
  const max = Math.max(0, ...highs);
  const min = Math.min(0, ...highs);
  const span = max - min || 1;
  const y = (v) => plot.y + plot.h - ((v - min) / span) * plot.h;
  const band = plot.w / Math.max(data.length, 1);
  const center = (j) => plot.x + band * (j + 0.5);

  const svg = element("svg", { viewBox: `0 0 ${WIDTH} ${height}`, role: "img" });
  svg.setAttribute("aria-label", describe(series, data.length));
  const bars = series.filter((s) => s.type === "bar");
  const unstacked = bars.filter((s) => !s.stack);
  const slots = unstacked.length + new Set(bars.filter((s) => s.stack).map((s) => s.stack)).size;
  const width = (band * 0.8) / Math.max(slots, 1);
  const slotOf = new Map();
  for (const s of bars) {
    const key = s.stack ? `stack:${s.stack}` : s;
    if (!slotOf.has(key)) slotOf.set(key, slotOf.size);
  }
  series.forEach((s, i) => {
    const color = colorOf(s.color, i);
    const name = String(s.label ?? s.dataKey);
    if (s.type === "bar") {
      const slot = slotOf.get(s.stack ? `stack:${s.stack}` : s);
      data.forEach((row, j) => {
        const from = bases[i][j];
        const to = from + value(row, s);
        const x = plot.x + band * j + band * 0.1 + width * slot;
        const rect = element("rect", {
          x,
          y: Math.min(y(from), y(to)),
          width: Math.max(width - 1, 1),
          height: Math.abs(y(to) - y(from)),
          fill: color,
          class: "w-chart-bar",
        });
        tip(rect, node, `${category(row)} · ${name}: ${value(row, s)}`);
        svg.append(rect);
      });
      return;
    }
    const points = data.map((row, j) => [center(j), y(bases[i][j] + value(row, s))]);
    const line = points.length ? `M${xy(points[0])}${curve(points, s.curveType)}` : "";
    if (s.type === "area" && points.length) {
      const floor = data.map((_, j) => [center(j), y(bases[i][j])]).reverse();
      const back = `L${xy(floor[0])}${curve(floor, s.curveType)}`;
      svg.append(
        element("path", {
          d: `${line}${back}Z`,
          fill: color,
          "fill-opacity": 0.25,
          stroke: "none",
          class: "w-chart-area",
        }),
      );
    }
    svg.append(element("path", { d: line, fill: "none", stroke: color, "stroke-width": 2, class: "w-chart-line" }));
    points.forEach(([px, py], j) => {
      const dot = element("circle", { cx: px, cy: py, r: 2.5, fill: color, class: "w-chart-point" });
      tip(dot, node, `${category(data[j])} · ${name}: ${value(data[j], s)}`);
      svg.append(dot);
    });
  });
  if (!axis.hide) {
    data.forEach((row, j) => {
      const text = element("text", { x: center(j), y: height - 6, "text-anchor": "middle", class: "w-chart-label" });
      text.textContent = category(row);
      svg.append(text);
    });
  }
  if (node.showYAxis) {
    for (const v of [min, (min + max) / 2, max]) {
      const text = element("text", { x: left - 4, y: y(v) + 3, "text-anchor": "end", class: "w-chart-label" });
      text.textContent = String(Math.round(v * 100) / 100);
      svg.append(text);
    }
  }

  const box = document.createElement("figure");
  box.append(svg);
  if (node.showLegend !== false && series.length) {
    const legend = document.createElement("figcaption");
    legend.className = "w-chart-legend";
    series.forEach((s, i) => {
      const entry = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = colorOf(s.color, i);
      entry.append(swatch, String(s.label ?? s.dataKey));
      legend.append(entry);
    });
    box.append(legend);
  }
  box.append(table(data, series, category, value));
  return box;
}

function table(data, series, category, value) {
  const el = document.createElement("table");
  el.className = "w-sr-only";
  const head = el.createTHead().insertRow();
  for (const text of ["", ...series.map((s) => String(s.label ?? s.dataKey))]) {
    const th = document.createElement("th");
    th.textContent = text;
    head.append(th);
  }
  const body = el.createTBody();
  for (const row of data) {
    const tr = body.insertRow();
    tr.insertCell().textContent = category(row);
    for (const s of series) tr.insertCell().textContent = String(value(row, s));
  }
  return el;
}

function describe(series, points) {
  const kinds = [...new Set(series.map((s) => s.type || "bar"))].join(", ");
  return `Chart (${kinds}) of ${series.map((s) => s.label ?? s.dataKey).join(", ")} over ${points} points`;
}

/** A chart color token, or a plain CSS color (hex or a name); else the i-th default. */
function colorOf(color, i) {
  const given = typeof color === "object" && color ? color.light : color;
  if (typeof given === "string") {
    const token = given.split("-")[0];
    if (token in PALETTE) return PALETTE[token];
    if (/^#[0-9a-f]{3,8}$/i.test(given) || /^[a-z]{3,20}$/i.test(given)) return given;
  }
  return PALETTE[ORDER[i % ORDER.length]];
}

function tip(el, node, text) {
  if (node.showTooltip === false) return;
  const title = element("title", {});
  title.textContent = text;
  el.append(title);
}

function element(name, attributes) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) el.setAttribute(key, String(value));
  return el;
}

const xy = ([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`;

/** The path from the first of `points` through the rest, drawn as `curveType` says
 * (ChatKit's, d3's names): straight (`linear`, the default), in steps (`step`: the change
 * at the midpoint, `stepBefore`, `stepAfter`), or smooth without overshooting a point
 * (monotone cubic: `monotone`, `monotoneX`, and the smoothing kinds `natural`, `basis`,
 * `bump`, `cardinal`, `catmullRom` drawn the same way). */
export function curve(points, curveType) {
  const kind = String(curveType || "linear").replace(/Closed|Open|X$|Y$/g, "");
  const rest = points.slice(1);
  if (kind === "step" || kind === "stepBefore" || kind === "stepAfter") {
    return rest.map(([px, py], j) => {
      const [qx] = points[j];
      if (kind === "stepBefore") return `V${py.toFixed(1)}H${px.toFixed(1)}`;
      if (kind === "stepAfter") return `H${px.toFixed(1)}V${py.toFixed(1)}`;
      return `H${((qx + px) / 2).toFixed(1)}V${py.toFixed(1)}H${px.toFixed(1)}`;
    }).join("");
  }
  if (kind === "linear" || points.length < 3) return rest.map((p) => `L${xy(p)}`).join("");
  const slopes = monotoneSlopes(points);
  return rest.map(([px, py], j) => {
    const [qx, qy] = points[j];
    const h = (px - qx) / 3;
    return `C${xy([qx + h, qy + slopes[j] * h])} ${xy([px - h, py - slopes[j + 1] * h])} ${xy([px, py])}`;
  }).join("");
}

/** Tangents of a monotone cubic through `points` (Fritsch-Carlson): the curve never
 * rises above or dips below its neighbouring points. */
function monotoneSlopes(points) {
  const n = points.length;
  const secant = [];
  for (let k = 0; k < n - 1; k++) {
    const dx = points[k + 1][0] - points[k][0];
    secant.push(dx ? (points[k + 1][1] - points[k][1]) / dx : 0);
  }
  const m = points.map((_, k) => {
    if (k === 0) return secant[0];
    if (k === n - 1) return secant[n - 2];
    return secant[k - 1] * secant[k] > 0 ? (secant[k - 1] + secant[k]) / 2 : 0;
  });
  for (let k = 0; k < n - 1; k++) {
    if (!secant[k]) {
      m[k] = m[k + 1] = 0;
      continue;
    }
    const a = m[k] / secant[k];
    const b = m[k + 1] / secant[k];
    const size = a * a + b * b;
    if (size > 9) {
      const t = 3 / Math.sqrt(size);
      m[k] = t * a * secant[k];
      m[k + 1] = t * b * secant[k];
    }
  }
  return m;
}
