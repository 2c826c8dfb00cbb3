// Results of aggregates and search jobs: tables, a bar chart, and paging by resubmitting.

import { ApiError } from "./api.js";
import { $, formatNumber, h, notify, replaceChildren } from "./dom.js";

const CHART_WIDTH = 640;
const CHART_HEIGHT = 180;

export class ResultView {
  constructor({ api, onSubmitted, show }) {
    this.api = api;
    this.onSubmitted = onSubmitted;
    this.show = show;
  }

  async open(record) {
    this.show();
    const body = $("#result-body");
    replaceChildren(body, h("p", { class: "hint" }, "Loading…"));
    let result;
    try {
      result = await this.api.result(record.job_id);
    } catch (error) {
      const text = error instanceof ApiError && error.notAvailable
        ? "Results are not available from this gateway yet."
        : `Could not load the result: ${error.message}`;
      replaceChildren(body, h("p", { class: "unavailable" }, text));
      return;
    }
    const payload = unwrap(result);
    const title = h("h3", {}, `${record.job_type} job ${record.job_id.slice(0, 8)}`);
    if (record.job_type === "search") replaceChildren(body, title, this.search(record, payload));
    else replaceChildren(body, title, aggregates(payload));
  }

  search(record, payload) {
    const rows = firstList(payload, ["rows", "items", "results", "awards"]) || [];
    const page = payload.page ?? record.request?.page ?? 1;
    const pageSize = payload.page_size ?? record.request?.page_size ?? rows.length;
    const total = payload.total ?? payload.total_rows ?? payload.matches ?? null;
    const pages = total !== null && pageSize ? Math.max(1, Math.ceil(total / pageSize)) : null;
    const go = (to) => this.resubmit(record, to);
    return h("div", {},
      h("p", {}, total !== null ? `${formatNumber(total)} matching awards` : ""),
      table(rows, "Search results"),
      h("nav", { class: "row", "aria-label": "Result pages" },
        h("button", { type: "button", disabled: page <= 1, onclick: () => go(page - 1) }, "Previous page"),
        h("span", {}, pages ? `Page ${page} of ${pages}` : `Page ${page}`),
        h("button", {
          type: "button", disabled: pages !== null ? page >= pages : rows.length < pageSize,
          onclick: () => go(page + 1),
        }, "Next page")));
  }

  // Another page is another search job with the same request.
  async resubmit(record, page) {
    try {
      const request = { ...(record.request || {}), page };
      delete request.type;
      const created = await this.api.submit("search", request);
      this.onSubmitted(created);
      notify(`Page ${page} requested as job ${created.job_id.slice(0, 8)}; view it when done.`);
    } catch (error) {
      notify(`Could not request page ${page}: ${error.message}`, "error");
    }
  }
}

function unwrap(result) {
  if (result && typeof result === "object" && result.result && typeof result.result === "object") {
    return result.result;
  }
  return result || {};
}

function firstList(payload, names) {
  for (const name of names) if (Array.isArray(payload[name])) return payload[name];
  return null;
}

function aggregates(payload) {
  const parts = [];
  for (const [name, value] of Object.entries(payload)) {
    if (name === "type") continue;
    const heading = h("h4", {}, name.replace(/_/g, " "));
    if (Array.isArray(value)) {
      parts.push(h("section", { class: "aggregate" }, heading, chart(value, name), table(value, name)));
    } else if (value && typeof value === "object") {
      const nestedLists = Object.entries(value).filter(([, v]) => Array.isArray(v));
      if (nestedLists.length) {
        for (const [sub, list] of nestedLists) {
          const label = `${name} ${sub}`.replace(/_/g, " ");
          parts.push(h("section", { class: "aggregate" }, h("h4", {}, label), chart(list, label), table(list, label)));
        }
      } else {
        parts.push(h("section", { class: "aggregate" }, heading, keyValues(value, name)));
      }
    } else {
      parts.push(h("p", {}, `${name.replace(/_/g, " ")}: ${formatNumber(value)}`));
    }
  }
  return h("div", { class: "aggregates" }, parts);
}

function keyValues(object, caption) {
  return h("table", { class: "data" }, h("caption", {}, caption.replace(/_/g, " ")),
    h("tbody", {}, Object.entries(object).map(([k, v]) =>
      h("tr", {}, h("th", { scope: "row" }, k.replace(/_/g, " ")), h("td", {}, formatCell(v))))));
}

const LONG_TABLE = 24;

export function table(rows, caption) {
  if (!rows.length) return h("p", { class: "hint" }, "Nothing to show.");
  const columns = [...new Set(rows.flatMap((row) => (row && typeof row === "object" ? Object.keys(row) : ["value"])))];
  const node = h("div", { class: "table-scroll" }, h("table", { class: "data" },
    h("caption", {}, caption.replace(/_/g, " ")),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.replace(/_/g, " "))))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
      h("td", {}, formatCell(row && typeof row === "object" ? row[c] : row, c))))))));
  // Long tables (e.g. by month) fold away; the chart above already shows their shape.
  if (rows.length <= LONG_TABLE) return node;
  return h("details", {}, h("summary", {}, `${caption.replace(/_/g, " ")}: ${rows.length} rows`), node);
}

function formatCell(value, column = "") {
  if (value === null || value === undefined) return "";
  if (column === "year") return String(value);
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A bar chart of the first numeric column against the first text-like one, as inline SVG.
function chart(rows, caption) {
  if (!rows.length || typeof rows[0] !== "object") return null;
  const keys = Object.keys(rows[0]);
  const valueKey = ["total", "total_value", "value", "amount", "count"].find((k) => typeof rows[0][k] === "number")
    || keys.find((k) => typeof rows[0][k] === "number");
  const labelKey = keys.find((k) => k !== valueKey && typeof rows[0][k] !== "number") || keys.find((k) => k !== valueKey);
  if (!valueKey || !labelKey) return null;
  const shown = rows.slice(0, 40);
  const max = Math.max(...shown.map((r) => Number(r[valueKey]) || 0), 1);
  const barWidth = CHART_WIDTH / shown.length;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${caption.replace(/_/g, " ")}: ${valueKey} by ${labelKey}`);
  shown.forEach((row, i) => {
    const value = Number(row[valueKey]) || 0;
    const height = Math.max(1, (value / max) * (CHART_HEIGHT - 4));
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", String(i * barWidth + 1));
    rect.setAttribute("y", String(CHART_HEIGHT - height));
    rect.setAttribute("width", String(Math.max(1, barWidth - 2)));
    rect.setAttribute("height", String(height));
    const tip = document.createElementNS(ns, "title");
    tip.textContent = `${row[labelKey]}: ${formatNumber(value)}`;
    rect.append(tip);
    svg.append(rect);
  });
  return svg;
}
