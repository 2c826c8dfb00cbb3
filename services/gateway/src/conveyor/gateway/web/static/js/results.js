// Results of aggregates and search jobs: headline figures, charts, tables, and paging by
// resubmitting.

import { ApiError } from "./api.js";
import { barChart, columnChart } from "./charts.js";
import { $, formatNumber, h, notify, replaceChildren } from "./dom.js";
import { formatList, formatMoney, formatMoneyShort } from "./format.js";

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
      // The rows are what the user asked for: never folded away, however many.
      rows.length || page > 1
        ? table(rows, "Search results", { fold: false })
        : h("p", { class: "no-match" }, "No awards match this search and these filters."),
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

// The aggregate set as AggregatesResult declares it: headline figures, then one chart and
// one table per breakdown. Any other shape falls back to generic tables.
const BREAKDOWNS = [
  { key: "by_year", title: "Total value by year", label: "year", kind: "columns", axis: "Year" },
  // 150-odd months: the axis names each January's year.
  { key: "by_month", title: "Total value by month", label: "month", kind: "columns", axis: "Month",
    tickLabel: (month) => (month.endsWith("-01") ? month.slice(0, 4) : null) },
  { key: "top_contractors", title: "Top contractors", label: "name", kind: "bars" },
  { key: "top_organizations", title: "Top procuring entities", label: "name", kind: "bars" },
  { key: "top_areas", title: "Top areas of delivery", label: "name", kind: "bars" },
  { key: "top_regions", title: "Top regions", label: "name", kind: "bars" },
  { key: "top_categories", title: "Top business categories", label: "name", kind: "bars" },
];

function aggregates(payload) {
  if (!payload.summary || typeof payload.summary.count !== "number") return genericAggregates(payload);
  const parts = [headline(payload.summary)];
  if (payload.summary.count === 0) {
    parts.push(h("p", { class: "no-match" }, "No awards match these filters."));
  }
  if (payload.dataset_version) {
    parts.push(h("p", { class: "hint" }, `Dataset version ${payload.dataset_version}`));
  }
  for (const breakdown of BREAKDOWNS) {
    const rows = payload[breakdown.key];
    if (Array.isArray(rows)) parts.push(breakdownSection(breakdown, rows));
  }
  return h("div", { class: "aggregates" }, parts);
}

function headline(summary) {
  const figure = (label, value, title) => h("div", { class: "figure" },
    h("dt", {}, label), h("dd", { title }, value));
  return h("dl", { class: "figures", "aria-label": "Summary" },
    figure("Awards", formatNumber(summary.count)),
    figure("Total value", formatMoney(summary.total)),
    figure("Average award", formatMoney(summary.average ?? null)),
    figure("Median award", formatMoney(summary.median ?? null)));
}

let sectionCount = 0;

function breakdownSection(breakdown, rows) {
  const id = `aggregate-${++sectionCount}`;
  const heading = h("h4", { id }, breakdown.title);
  if (!rows.length) return h("section", { class: "aggregate", "aria-labelledby": id }, heading,
    h("p", { class: "hint" }, "No awards with a value here."));
  const options = {
    label: breakdown.label, value: "total", title: breakdown.title, xTitle: breakdown.axis,
    yTitle: "Total value (PHP)", formatValue: formatMoney, formatTick: formatMoneyShort,
    tickLabel: breakdown.tickLabel,
  };
  const chart = breakdown.kind === "columns" ? columnChart(rows, options) : barChart(rows, options);
  return h("section", { class: "aggregate", "aria-labelledby": id }, heading, chart,
    table(rows, breakdown.title, { labelledBy: id }));
}

function genericAggregates(payload) {
  const parts = [];
  for (const [name, value] of Object.entries(payload)) {
    if (name === "type") continue;
    const title = name.replace(/_/g, " ");
    if (Array.isArray(value)) {
      parts.push(h("section", { class: "aggregate" }, h("h4", {}, title), table(value, title)));
    } else if (value && typeof value === "object") {
      parts.push(h("section", { class: "aggregate" }, h("h4", {}, title), keyValues(value)));
    } else {
      parts.push(h("p", {}, `${title}: ${formatNumber(value)}`));
    }
  }
  return h("div", { class: "aggregates" }, parts);
}

function keyValues(object) {
  return h("table", { class: "data" },
    h("tbody", {}, Object.entries(object).map(([k, v]) =>
      h("tr", {}, h("th", { scope: "row" }, k.replace(/_/g, " ")), h("td", {}, formatCell(v, k))))));
}

const LONG_TABLE = 24;
const MONEY = new Set(["total", "total_value", "average", "median", "contract_amount", "approved_budget", "value", "amount"]);
const HEADERS = { total: "Total value (PHP)", count: "Awards", name: "Name", year: "Year", month: "Month" };

// The caption names the table for screen readers; a heading already shows it on screen.
export function table(rows, caption, { labelledBy, fold = true } = {}) {
  if (!rows.length) return h("p", { class: "hint" }, "Nothing to show.");
  const columns = [...new Set(rows.flatMap((row) => (row && typeof row === "object" ? Object.keys(row) : ["value"])))];
  const title = caption.replace(/_/g, " ");
  const numeric = (c) => MONEY.has(c) || c === "count";
  const node = h("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": `${title} table` },
    h("table", { class: "data", "aria-labelledby": labelledBy },
      labelledBy ? null : h("caption", { class: "visually-hidden" }, title),
      h("thead", {}, h("tr", {}, columns.map((c) =>
        h("th", { scope: "col", class: numeric(c) ? "number" : null }, HEADERS[c] || c.replace(/_/g, " "))))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) =>
        h("td", { class: numeric(c) ? "number" : null },
          formatCell(row && typeof row === "object" ? row[c] : row, c))))))));
  // Long tables (e.g. by month) fold away; the chart above already shows their shape.
  if (!fold || rows.length <= LONG_TABLE) return node;
  return h("details", {}, h("summary", {}, `${title}: all ${rows.length} rows`), node);
}

function formatCell(value, column = "") {
  if (value === null || value === undefined) return "";
  if (column === "year") return String(value);
  if (MONEY.has(column) && typeof value === "number") return formatMoney(value);
  if (typeof value === "number") return formatNumber(value);
  if (Array.isArray(value)) return formatList(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
