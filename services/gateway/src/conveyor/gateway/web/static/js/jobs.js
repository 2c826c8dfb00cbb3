// "My jobs": the job table, kept current by REST pages and live events (applied by seq).

import { copyableId } from "./copy.js";
import { $, formatDuration, formatNumber, h, notify, replaceChildren } from "./dom.js";
import { timeNode } from "./format.js";

const ACTIVE = new Set(["queued", "running", "retrying"]);
const STATE_OF_EVENT = {
  "job.queued": "queued",
  "job.started": "running",
  "job.progressed": "running",
  "job.retrying": "retrying",
  "job.succeeded": "succeeded",
  "job.failed": "failed",
  "job.cancelled": "cancelled",
};
const RESULT_TYPES = new Set(["aggregates", "search"]);

export class JobBoard {
  constructor({ api, onViewResult }) {
    this.api = api;
    this.onViewResult = onViewResult;
    this.jobs = new Map(); // job_id -> record (as the API shows it, updated by events)
    this.order = []; // job ids, newest first
    this.nextCursor = null;
    this.filters = { state: "", type: "" };
    this.fetching = new Set();
  }

  async reload() {
    this.jobs.clear();
    this.order = [];
    this.nextCursor = null;
    await this.loadMore();
  }

  async loadMore() {
    const page = await this.api.listJobs({ ...this.filters, cursor: this.nextCursor });
    for (const record of page.jobs) this.merge(record, { append: true });
    this.nextCursor = page.next_cursor || null;
    this.render();
  }

  // A record from REST: keep whichever of it and what the events told us is newer.
  merge(record, { append = false } = {}) {
    const known = this.jobs.get(record.job_id);
    if (known && known.last_seq > record.last_seq) return;
    this.jobs.set(record.job_id, { ...known, ...record, seen_at: known?.seen_at ?? Date.now() });
    if (!this.order.includes(record.job_id)) {
      if (append) this.order.push(record.job_id);
      else this.order.unshift(record.job_id);
    }
  }

  matchesFilters(record) {
    return (!this.filters.state || record.state === this.filters.state)
      && (!this.filters.type || record.job_type === this.filters.type);
  }

  applyEvent(event) {
    const state = STATE_OF_EVENT[event.event];
    if (!state) return;
    let record = this.jobs.get(event.job_id);
    if (!record) {
      // A job we have not listed (submitted elsewhere, or older): show what the event says
      // now and fill in the rest from the API.
      record = {
        job_id: event.job_id, job_type: event.job_type, owner: event.owner, state,
        last_seq: 0, created_at: event.at, request: null, seen_at: Date.now(),
      };
      this.jobs.set(event.job_id, record);
      this.order.unshift(event.job_id);
      this.fetch(event.job_id);
    }
    if (event.seq <= record.last_seq) return; // the REST record already includes it
    record.last_seq = event.seq;
    record.state = state;
    record.updated_at = event.at;
    switch (event.event) {
      case "job.started":
        record.started_at = event.at;
        record.attempt = event.attempt;
        break;
      case "job.progressed":
        record.progress = {
          done: event.done, total: event.total, message: event.message,
          eta_seconds: event.eta_seconds,
        };
        break;
      case "job.succeeded":
        record.result = event.result ?? null;
        record.finished_at = event.at;
        if (record.progress && record.progress.total) {
          record.progress = { ...record.progress, done: record.progress.total, eta_seconds: 0 };
        }
        break;
      case "job.failed":
        record.error = event.error;
        record.finished_at = event.at;
        break;
      case "job.retrying":
        record.error = event.error;
        break;
      case "job.cancelled":
        record.finished_at = event.at;
        break;
      default:
        break;
    }
    this.renderRow(record);
  }

  async fetch(jobId) {
    if (this.fetching.has(jobId)) return;
    this.fetching.add(jobId);
    try {
      this.merge(await this.api.getJob(jobId));
      this.render();
    } catch (error) {
      console.warn("could not read job", jobId, error);
    } finally {
      this.fetching.delete(jobId);
    }
  }

  render() {
    const body = $("#jobs-body");
    const rows = this.order
      .map((id) => this.jobs.get(id))
      .filter((record) => record && this.matchesFilters(record))
      .map((record) => this.row(record));
    replaceChildren(body, rows);
    $("#jobs-empty").hidden = rows.length > 0;
    $("#older-jobs").hidden = !this.nextCursor;
  }

  renderRow(record) {
    const existing = document.getElementById(`job-${record.job_id}`);
    if (!this.matchesFilters(record)) {
      existing?.remove();
      return;
    }
    if (existing) existing.replaceWith(this.row(record));
    else this.render();
  }

  row(record) {
    const progress = record.progress || {};
    const total = progress.total ?? null;
    const done = progress.done ?? 0;
    const finished = record.state === "succeeded";
    const percent = total ? Math.min(100, Math.round((100 * done) / total)) : (finished ? 100 : 0);
    const label = `Progress of job ${shortId(record.job_id)}`;
    const bar = h("progress", {
      max: 100, value: percent, "aria-label": label, "aria-valuetext": `${percent} %`,
    });
    // data-label names each cell where a narrow screen shows rows as cards, without headers.
    return h("tr", { id: `job-${record.job_id}`, dataset: { state: record.state, jobId: record.job_id } },
      h("td", { class: "job-id" }, copyableId(record.job_id)),
      h("td", { "data-label": "Type" }, record.job_type),
      h("td", { class: "state" }, h("span", { class: `badge ${record.state}` }, record.state),
        attempts(record), truncatedNote(record)),
      h("td", { class: "progress", "data-label": "Progress" }, bar,
        h("span", { class: "percent" }, `${percent} %`),
        progress.message ? h("div", { class: "hint" }, progress.message) : null),
      h("td", { class: "rows", "data-label": "Rows" },
        total !== null ? `${formatNumber(done)} / ${formatNumber(total)}` : ""),
      h("td", { class: "eta", "data-label": "ETA" }, ACTIVE.has(record.state) ? eta(record) : ""),
      h("td", { class: "submitted", "data-label": "Submitted" }, timeNode(record.created_at)),
      h("td", { class: "actions" }, this.actions(record)),
    );
  }

  actions(record) {
    const buttons = [];
    const name = `job ${shortId(record.job_id)}`;
    if (ACTIVE.has(record.state)) {
      buttons.push(h("button", {
        type: "button", class: "cancel", "aria-label": `Cancel ${name}`,
        onclick: () => this.cancel(record),
      }, "Cancel"));
    }
    if (isEmptyFile(record)) {
      // A file of headers only: nothing to download, and the filters are what to change.
      buttons.push(h("span", { class: "no-match" }, "No awards match these filters"));
    } else if (record.state === "succeeded" && record.result && record.result.type === "file") {
      buttons.push(h("button", {
        type: "button", class: "download", "aria-label": `Download the file of ${name}`,
        onclick: () => this.download(record),
      }, "Download"));
    }
    if (record.state === "succeeded" && RESULT_TYPES.has(record.job_type)) {
      buttons.push(h("button", {
        type: "button", class: "view", "aria-label": `View the result of ${name}`,
        onclick: () => this.onViewResult(record),
      }, "View"));
    }
    if (record.state === "failed" || record.state === "cancelled") {
      buttons.push(h("button", {
        type: "button", class: "retry", "aria-label": `Submit ${name} again`,
        onclick: () => this.retry(record),
      }, "Retry"));
    }
    return buttons;
  }

  async cancel(record) {
    try {
      this.merge(await this.api.cancel(record.job_id));
      this.renderRow(this.jobs.get(record.job_id));
    } catch (error) {
      failed("cancel", error);
    }
  }

  async download(record) {
    try {
      const { blob, filename } = await this.api.download(record.job_id);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: filename, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (error) {
      failed("download", error);
    }
  }

  // Retrying means submitting the same request again, as a new job.
  async retry(record) {
    try {
      let request = record.request;
      if (!request) request = (await this.api.getJob(record.job_id)).request;
      const created = await this.api.submit(record.job_type, request);
      this.merge(created);
      this.render();
      notify(`Submitted again as job ${shortId(created.job_id)}`);
    } catch (error) {
      failed("retry", error);
    }
  }
}

// A 401 has already signed the user out, saying why; other errors get a notice.
function failed(action, error) {
  if (error?.status !== 401) notify(`Could not ${action}: ${error.message}`, "error");
}

function isEmptyFile(record) {
  return record.state === "succeeded" && record.result?.type === "file" && record.result.rows === 0;
}

// The error shown under the state: red only when it is why the job failed. An earlier
// attempt's error on a job that went on (retrying, running again, succeeded) is history,
// shown muted and folded away.
function attempts(record) {
  const error = record.error;
  const attempt = record.attempt ?? 1;
  if (record.state === "failed") {
    return error ? h("div", { class: "error-text" }, error.message) : null;
  }
  if (record.state === "retrying") {
    return error ? h("div", { class: "retry-text" }, `Retrying after: ${error.message}`) : null;
  }
  if (!error && !(record.state === "succeeded" && attempt > 1)) return null;
  const summary = record.state === "succeeded" ? `succeeded on attempt ${attempt}` : `on attempt ${attempt}`;
  if (!error) return h("div", { class: "attempts hint" }, summary);
  return h("details", { class: "attempts hint" }, h("summary", {}, summary),
    h("div", {}, `An earlier attempt failed: ${error.message}`));
}

// An xlsx export whose longest texts did not fit in a cell says so where its state is.
function truncatedNote(record) {
  const cells = record.result?.truncated_cells;
  if (!cells) return null;
  return h("div", { class: "warning-text truncated" },
    `${formatNumber(cells)} ${cells === 1 ? "cell" : "cells"} cut at Excel's 32,767 characters`);
}

export function shortId(jobId) {
  return String(jobId).slice(0, 8);
}

function eta(record) {
  const progress = record.progress;
  if (!progress || !progress.total) return "";
  if (progress.eta_seconds !== null && progress.eta_seconds !== undefined) {
    return formatDuration(progress.eta_seconds);
  }
  const started = Date.parse(record.started_at || "");
  if (!started || !progress.done) return "";
  const elapsed = (Date.now() - started) / 1000;
  return formatDuration((elapsed / progress.done) * (progress.total - progress.done));
}
