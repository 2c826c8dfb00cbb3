// Inline SVG charts with axis and value labels; each carries a text alternative (title and
// description), and the table next to it holds every figure.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
let chartCount = 0;

function svgNode(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// role=img with <title> and <desc> referenced by id: screen readers read both, once.
function frame(height, title, description) {
  const id = `chart-${++chartCount}`;
  const svg = svgNode("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`, class: "chart", role: "img",
    "aria-labelledby": `${id}-title ${id}-desc`,
  });
  svg.append(svgNode("title", { id: `${id}-title` }, title),
    svgNode("desc", { id: `${id}-desc` }, description));
  return svg;
}

function extremes(rows, label, value, formatValue) {
  if (!rows.length) return "No data.";
  let high = rows[0];
  let low = rows[0];
  for (const row of rows) {
    if (row[value] > high[value]) high = row;
    if (row[value] < low[value]) low = row;
  }
  return `${rows.length} values. Highest: ${high[label]} at ${formatValue(high[value])}; `
    + `lowest: ${low[label]} at ${formatValue(low[value])}. The table lists every value.`;
}

function truncate(text, length) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

// Vertical columns over an ordered axis (years, months): y axis with three ticks, x labels
// thinned out to about a dozen, value labels on top while the bars are wide enough.
export function columnChart(rows, { label, value, title, xTitle, yTitle, formatValue, formatTick, tickLabel }) {
  const height = 240;
  const left = 72;
  const right = 8;
  const top = 18;
  const bottom = 44;
  const plotW = WIDTH - left - right;
  const plotH = height - top - bottom;
  const svg = frame(height, title, extremes(rows, label, value, formatValue));
  const max = Math.max(...rows.map((r) => Number(r[value]) || 0), 1);
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotH - fraction * plotH;
    svg.append(svgNode("line", { x1: left, x2: WIDTH - right, y1: y, y2: y, class: "grid" }),
      svgNode("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" },
        formatTick(max * fraction)));
  }
  const step = plotW / Math.max(rows.length, 1);
  const labelEvery = Math.ceil(rows.length / 13);
  const showValues = rows.length <= 16;
  rows.forEach((row, i) => {
    const v = Number(row[value]) || 0;
    const h = Math.max(1, (v / max) * plotH);
    const x = left + i * step;
    const bar = svgNode("rect", { x: x + step * 0.1, y: top + plotH - h, width: Math.max(1, step * 0.8), height: h });
    bar.append(svgNode("title", {}, `${row[label]}: ${formatValue(v)}`));
    svg.append(bar);
    if (showValues) {
      svg.append(svgNode("text", { x: x + step / 2, y: top + plotH - h - 4, "text-anchor": "middle", class: "value" },
        formatTick(v)));
    }
    const tick = tickLabel ? tickLabel(row[label]) : (i % labelEvery === 0 ? String(row[label]) : null);
    if (tick) {
      svg.append(svgNode("text", { x: x + step / 2, y: top + plotH + 14, "text-anchor": "middle", class: "tick" },
        tick));
    }
  });
  svg.append(
    svgNode("text", { x: left + plotW / 2, y: height - 6, "text-anchor": "middle", class: "axis" }, xTitle),
    svgNode("text", { x: 12, y: top + plotH / 2, "text-anchor": "middle", class: "axis",
      transform: `rotate(-90 12 ${top + plotH / 2})` }, yTitle));
  return svg;
}

// Horizontal bars for ranked names (top N): the name on the left, the value at the bar's end.
export function barChart(rows, { label, value, title, formatValue, formatTick }) {
  const rowH = 26;
  const left = 270;
  const right = 78;
  const top = 4;
  const height = top + rows.length * rowH + 4;
  const plotW = WIDTH - left - right;
  const svg = frame(height, title, extremes(rows, label, value, formatValue));
  const max = Math.max(...rows.map((r) => Number(r[value]) || 0), 1);
  rows.forEach((row, i) => {
    const v = Number(row[value]) || 0;
    const w = Math.max(1, (v / max) * plotW);
    const y = top + i * rowH;
    const name = String(row[label] ?? "");
    const text = svgNode("text", { x: left - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "tick" },
      truncate(name, 32));
    text.append(svgNode("title", {}, name));
    const bar = svgNode("rect", { x: left, y: y + 4, width: w, height: rowH - 8 });
    bar.append(svgNode("title", {}, `${name}: ${formatValue(v)}`));
    svg.append(text, bar,
      svgNode("text", { x: left + w + 6, y: y + rowH / 2 + 4, class: "value" }, formatTick(v)));
  });
  return svg;
}
