// Two admin panels built from the admin API: job statistics over a chosen window, and the
// job types with their pause and resume buttons (what `conveyor job-types` does).

import { columnChart } from "./charts.js";
import { $, formatNumber, h } from "./dom.js";
import { timeNode } from "./format.js";

const enc = encodeURIComponent;
const STATES = ["queued", "running", "retrying", "succeeded", "failed", "cancelled"];
// Short tick labels: twelve of them share the chart's width.
const CLOCK = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const DAY = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

function count(value) {
  return value ? formatNumber(value) : h("span", { class: "hint" }, "0");
}

// Rows by type, then a total row; the states in their lifecycle order.
const STATS_COLUMNS = [
  ["Job type", (t) => (t.total_row ? h("strong", {}, t.job_type) : t.job_type)],
  ["Total", (t) => h("strong", {}, formatNumber(t.total)), "number"],
  ...STATES.map((state) => [state, (t) => count(t.by_state[state]), "number"]),
];

export function jobStatsPanel() {
  return {
    box: "#admin-stats", title: "Job statistics", columns: STATS_COLUMNS,
    path: () => `/api/v1/admin/stats/jobs?window=${enc($("#stats-window").value)}`,
    empty: "No jobs were created in this window.", key: (t) => t.job_type,
    rows: (data) => {
      const types = [...(data.by_type || [])].sort((a, b) => b.total - a.total);
      if (!types.length) return [];
      const all = { job_type: "All types", total: data.total, by_state: {}, total_row: true };
      for (const t of types) {
        for (const [state, n] of Object.entries(t.by_state)) all.by_state[state] = (all.by_state[state] || 0) + n;
      }
      return [...types, all];
    },
    intro: (data) => [h("p", { class: "hint" },
      `${formatNumber(data.total)} jobs created from `, timeNode(data.since), " to ", timeNode(data.until),
      ", counted by the state they are in now.",
      data.truncated ? " The window held more jobs than one count covers: these are the newest." : ""),
    data.total ? bucketChart(data) : null],
  };
}

// Jobs created in each of the window's buckets (all types and states together).
function bucketChart(data) {
  const days = data.window_seconds > 86400;
  const rows = (data.buckets || []).map((bucket) => ({
    start: (days ? DAY : CLOCK).format(new Date(bucket.start)),
    jobs: Object.values(bucket.counts).reduce(
      (sum, states) => sum + Object.values(states).reduce((a, b) => a + b, 0), 0),
  }));
  return columnChart(rows, {
    label: "start", value: "jobs", title: "Jobs created over the window", xTitle: "Interval starting",
    yTitle: "Jobs", formatValue: formatNumber, formatTick: (v) => formatNumber(Math.round(v)),
  });
}

// Every job type some queue is bound to, and any paused one (its messages wait in a parked
// queue until it is resumed).
function jobTypes(data) {
  const queues = data.queues || [];
  const paused = new Set(data.paused_job_types || []);
  const names = new Set(paused);
  for (const queue of queues) for (const type of queue.job_types || []) names.add(type);
  return [...names].sort().map((type) => {
    const service = queues.find((q) => q.kind === "service" && (q.job_types || []).includes(type));
    const parked = queues.find((q) => q.kind === "parked" && (q.job_types || []).includes(type));
    return { job_type: type, paused: paused.has(type), queue: service?.name ?? "—", parked: parked?.messages ?? 0 };
  });
}

const JOB_TYPE_COLUMNS = [
  ["Job type", (t) => h("code", {}, t.job_type)],
  ["State", (t) => (t.paused
    ? h("span", { class: "badge retrying" }, "paused")
    : h("span", { class: "badge succeeded" }, "consuming"))],
  ["Parked", (t) => count(t.parked), "number"],
  ["Queue", (t) => t.queue, "wrap"],
];

export function jobTypesPanel({ button }) {
  return {
    box: "#admin-job-types", title: "Pause and resume by type", path: "/api/v1/admin/queues", columns: JOB_TYPE_COLUMNS,
    rows: jobTypes, empty: "No job types are bound to a queue.", key: (t) => t.job_type,
    intro: () => h("p", { class: "hint" },
      "A paused type's new and queued jobs wait (parked) until it is resumed; running jobs finish."),
    actions: (t) => [t.paused
      ? button(`Resume ${t.job_type} jobs`, "Resume",
        (api) => api.post(`/api/v1/admin/job-types/${enc(t.job_type)}/resume`))
      : button(`Pause ${t.job_type} jobs`, "Pause",
        (api) => api.post(`/api/v1/admin/job-types/${enc(t.job_type)}/pause`), { kind: "cancel" })],
  };
}
