// The admin view: job statistics, job types, workers, queues, dead letters and schedules from
// the admin API, with their actions. Each panel says "not available" while its endpoint does
// not exist on this gateway.

import { jobStatsPanel, jobTypesPanel } from "./admin_panels.js";
import { ApiError } from "./api.js";
import { copyableId } from "./copy.js";
import { $, formatNumber, h, notify, replaceChildren } from "./dom.js";
import { describeTrigger, formatList, timeNode } from "./format.js";
import { RescheduleForm } from "./reschedule.js";

const enc = encodeURIComponent;
const AUTO_REFRESH_MS = 10_000;

function badge(text, kind = text) {
  return h("span", { class: `badge ${kind}` }, text);
}

function rate(value, unit) {
  if (value === null || value === undefined) return h("span", { class: "hint" }, "—");
  const sign = value > 0 ? "+" : "";
  return `${unit === "change" ? sign : ""}${value.toFixed(1)}/s`;
}

// Dotted and dashed names (queues, instances) may wrap after a separator, not mid-word.
function breakable(name) {
  return name.split(/(?<=[._-])/).flatMap((part, i) => (i ? [h("wbr"), part] : [part]));
}

// Columns in order of importance: on a narrow screen each row becomes a card, what matters
// most first.
const WORKER_COLUMNS = [
  ["Instance", (w) => [breakable(w.instance), h("div", { class: "hint" }, `${w.service} on ${w.host} (pid ${w.pid})`)]],
  ["State", (w) => badge(w.status, w.status === "alive" ? "succeeded" : "failed")],
  ["Running", (w) => `${formatNumber(w.running_jobs.length)} of ${formatNumber(w.concurrency)}`, "number"],
  ["Processed", (w) => formatNumber(w.processed), "number"],
  ["Failed", (w) => formatNumber(w.failed), "number"],
  ["Last seen", (w) => timeNode(w.last_seen)],
  ["Job types", (w) => formatList(w.job_types), "wrap"],
];

const QUEUE_COLUMNS = [
  ["Queue", (q) => breakable(q.name)],
  ["Depth", (q) => formatNumber(q.messages), "number"],
  ["Consumers", (q) => formatNumber(q.consumers), "number"],
  ["Depth change", (q) => rate(q.depth_rate, "change"), "number"],
  ["Arriving", (q) => rate(q.enqueued_per_second, "in"), "number"],
  ["Kind", (q) => q.kind.replace(/_/g, " ")],
  ["Job types", (q) => formatList(q.job_types), "wrap"],
];

const DEAD_LETTER_COLUMNS = [
  ["Job", (d) => copyableId(d.job_id ?? d.id)],
  ["Type", (d) => d.job_type ?? "unknown"],
  ["Reason", (d) => [d.error_code ? h("div", {}, badge(d.error_code.replace(/_/g, " "), "failed")) : null, d.reason]],
  ["Dead-lettered", (d) => timeNode(d.dead_lettered_at)],
  ["Owner", (d) => d.owner ?? "—"],
  ["Payload", (d) => h("details", {}, h("summary", {}, `${formatNumber(d.payload_bytes)} bytes`),
    h("pre", { class: "preview" }, d.payload_preview))],
];

const SCHEDULE_COLUMNS = [
  ["Schedule", (s) => [h("strong", {}, s.name), h("div", { class: "hint" }, breakable(s.job_type))]],
  ["Trigger", (s) => describeTrigger(s), "trigger"],
  ["Next run", (s) => (s.paused ? h("span", { class: "hint" }, "paused") : timeNode(s.next_run))],
  ["Last run", (s) => timeNode(s.last_run)],
  ["Last outcome", (s) => (s.last_outcome
    ? [badge(s.last_outcome.replace(/_/g, " "), s.last_outcome), " ", copyableId(s.last_job_id)]
    : h("span", { class: "hint" }, "never run"))],
  ["Paused", (s) => (s.paused ? badge("paused", "retrying") : "no")],
];

export class AdminView {
  constructor({ api }) {
    this.api = api;
    this.reschedule = new RescheduleForm({ api, onSaved: () => this.refresh() });
    this.loading = null; // the refresh under way
    this.again = false;
    this.panels = [
      jobStatsPanel(),
      jobTypesPanel({
        button: (label, text, action, options) => this.button(label, text, () => action(this.api), options),
      }),
      {
        box: "#admin-workers", title: "Workers", path: "/api/v1/admin/workers", list: "workers", columns: WORKER_COLUMNS,
        empty: "No worker has sent a heartbeat.", key: (w) => w.instance,
        actions: (w) => (w.status === "alive"
          ? [this.button(`Drain ${w.instance}`, "Drain",
            () => this.api.post(`/api/v1/admin/workers/${enc(w.instance)}/drain`))]
          : []),
      },
      {
        box: "#admin-queues", title: "Queues", path: "/api/v1/admin/queues", list: "queues", columns: QUEUE_COLUMNS,
        empty: "No queues.", key: (q) => q.name,
        intro: (data) => h("p", { class: "hint" }, `Paused job types: ${formatList(data.paused_job_types)}`),
      },
      {
        box: "#admin-dead-letters", title: "Dead letters", path: "/api/v1/admin/dead-letters", list: "dead_letters",
        columns: DEAD_LETTER_COLUMNS, empty: "No dead letters.", key: (d) => d.id,
        intro: (data) => h("div", { class: "row" },
          h("span", { class: "count" }, `${formatNumber(data.total ?? 0)} in the queue`),
          this.button("Replay every dead letter", "Replay all",
            () => this.api.post("/api/v1/admin/dead-letters/replay", { all: true }), { disabled: !data.total }),
          this.button("Delete every dead letter", "Purge",
            () => this.api.delete("/api/v1/admin/dead-letters"), {
              disabled: !data.total, kind: "cancel",
              confirm: "Delete every dead letter? Their jobs cannot be replayed afterwards.",
            })),
        actions: (d) => [this.button(`Replay ${d.id}`, "Replay",
          () => this.api.post("/api/v1/admin/dead-letters/replay", { ids: [d.id] }))],
      },
      {
        box: "#admin-schedules", title: "Schedules", path: "/api/v1/admin/schedules", list: "schedules", columns: SCHEDULE_COLUMNS,
        empty: "No schedules yet (the maintenance service seeds them when it starts).", key: (s) => s.name,
        loaded: (rows) => this.reschedule.setSchedules(rows),
        actions: (s) => [
          s.paused
            ? this.button(`Resume schedule ${s.name}`, "Resume",
              () => this.api.post(`/api/v1/admin/schedules/${enc(s.name)}/resume`))
            : this.button(`Pause schedule ${s.name}`, "Pause",
              () => this.api.post(`/api/v1/admin/schedules/${enc(s.name)}/pause`)),
          this.button(`Run schedule ${s.name} now`, "Run now",
            () => this.api.post(`/api/v1/admin/schedules/${enc(s.name)}/run`)),
          h("button", { type: "button", class: "secondary", "aria-label": `Reschedule ${s.name}`,
            onclick: () => this.reschedule.edit(s) }, "Reschedule"),
        ],
      },
    ];
    // Heartbeats and queue depths change on their own: refresh while the view is in sight.
    this.timer = setInterval(() => {
      if (!$("#view-admin").hidden && document.visibilityState === "visible") this.refresh();
    }, AUTO_REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  // A new statistics window: reload that panel alone.
  reloadStats() {
    return this.load(this.panels[0]);
  }

  button(label, text, action, { disabled = false, kind = null, confirm: question = null } = {}) {
    return h("button", {
      type: "button", "aria-label": label, disabled, class: kind,
      onclick: async () => {
        if (question && !window.confirm(question)) return;
        try {
          await action();
          notify(`${label}: done`);
        } catch (error) {
          // A 401 has already signed the user out, saying why.
          if (error?.status !== 401) notify(`${label}: ${error.message}`, "error");
        }
        await this.refresh();
      },
    }, text);
  }

  // One refresh at a time; one asked for meanwhile (e.g. after an action) runs once the
  // current one ends, so what an action changed is always shown.
  refresh() {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      try {
        do {
          this.again = false;
          await Promise.all(this.panels.map((panel) => this.load(panel)));
        } while (this.again);
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  async load(panel) {
    const box = $(panel.box);
    // A refresh replaces the buttons: keep keyboard focus on the same one.
    const focused = box.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
    try {
      const data = await this.api.get(typeof panel.path === "function" ? panel.path() : panel.path);
      const rows = panel.rows ? panel.rows(data) : (Array.isArray(data?.[panel.list]) ? data[panel.list] : []);
      if (panel.loaded) panel.loaded(rows);
      replaceChildren(box, panel.intro ? panel.intro(data) : null,
        rows.length ? adminTable(panel, rows) : h("p", { class: "hint" }, panel.empty));
    } catch (error) {
      let text = `Could not load: ${error.message}`;
      if (error instanceof ApiError && error.notAvailable) text = "Not available on this gateway yet.";
      else if (error instanceof ApiError && error.status === 403) text = "Your token's role may not see this.";
      replaceChildren(box, h("p", { class: "unavailable" }, text));
    }
    if (focused) box.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
  }
}

function adminTable(panel, rows) {
  const columns = panel.actions ? [...panel.columns, ["Actions", panel.actions, "actions"]] : panel.columns;
  const { title } = panel;
  return h("div", { class: "table-scroll", role: "region", tabindex: "0", "aria-label": `${title} table` },
    h("table", { class: "data admin cards" },
      h("caption", { class: "visually-hidden" }, title),
      h("thead", {}, h("tr", {}, columns.map(([label, , cls]) => h("th", { scope: "col", class: cls }, label)))),
      h("tbody", {}, rows.map((row) => h("tr", { "data-key": panel.key(row) },
        // data-label: a narrow screen shows each row as a card, its cells named by these.
        columns.map(([label, cell, cls], i) => h("td", {
          class: cls, "data-label": i && cls !== "actions" ? label : null,
        }, cell(row))))))));
}
