// The reschedule form under the schedules table: a new cron or interval for one schedule,
// with the gateway's 400 shown next to the field it names.

import { ApiError } from "./api.js";
import { $, h, notify, replaceChildren } from "./dom.js";
import { describeTrigger } from "./format.js";

// The error's field (``cron``, ``$.interval_seconds``...) -> the input to mark invalid.
const INPUT_OF_FIELD = { cron: "#reschedule-cron", interval_seconds: "#reschedule-interval" };

export class RescheduleForm {
  constructor({ api, onSaved }) {
    this.api = api;
    this.onSaved = onSaved;
    this.form = $("#reschedule-form");
    this.name = $("#reschedule-name");
    this.kind = $("#reschedule-kind");
    this.error = $("#reschedule-error");
    this.schedules = new Map();
    this.kind.addEventListener("change", () => this.showKind());
    this.name.addEventListener("change", () => this.fill(this.schedules.get(this.name.value)));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.showKind();
  }

  showKind() {
    for (const span of this.form.querySelectorAll("[data-trigger]")) {
      span.hidden = span.dataset.trigger !== this.kind.value;
    }
  }

  // New options after every refresh; the choice being edited stays selected.
  setSchedules(schedules) {
    const chosen = this.name.value;
    this.schedules = new Map(schedules.map((s) => [s.name, s]));
    replaceChildren(this.name, schedules.map((s) => h("option", { value: s.name }, s.name)));
    this.form.hidden = !schedules.length;
    if (this.schedules.has(chosen)) this.name.value = chosen;
    else if (schedules.length) this.fill(schedules[0]); // first load: show its current trigger
  }

  // The form shows a schedule's current trigger, ready to edit.
  fill(schedule) {
    if (!schedule) return;
    this.name.value = schedule.name;
    this.kind.value = schedule.trigger === "interval" ? "interval" : "cron";
    $("#reschedule-cron").value = schedule.cron ?? "";
    $("#reschedule-interval").value = schedule.interval_seconds ?? "";
    this.showKind();
    this.clearError();
  }

  // "Reschedule" on a row: the form shows that schedule and takes the focus.
  edit(schedule) {
    this.fill(schedule);
    const input = this.kind.value === "cron" ? $("#reschedule-cron") : $("#reschedule-interval");
    input.focus();
  }

  clearError() {
    this.error.hidden = true;
    this.error.textContent = "";
    for (const selector of Object.values(INPUT_OF_FIELD)) $(selector).removeAttribute("aria-invalid");
  }

  showError(error) {
    const field = (error instanceof ApiError && error.field ? error.field : "").replace(/^\$\./, "");
    const input = INPUT_OF_FIELD[field] ? $(INPUT_OF_FIELD[field]) : null;
    // The message without the "(field)" suffix ApiError adds: the text names the field itself.
    const message = error instanceof ApiError && error.field
      ? error.message.replace(` (${error.field})`, "") : error.message;
    this.error.textContent = field ? `${field}: ${message}` : message;
    this.error.hidden = false;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }

  async save() {
    this.clearError();
    const name = this.name.value;
    const body = this.kind.value === "cron"
      ? { cron: $("#reschedule-cron").value.trim() }
      : { interval_seconds: Number($("#reschedule-interval").value) };
    const button = $("#reschedule-save");
    button.disabled = true;
    try {
      const view = await this.api.put(`/api/v1/admin/schedules/${encodeURIComponent(name)}/trigger`, body);
      const words = describeTrigger(view).map((part) => (typeof part === "string" ? part : part.textContent)).join("");
      notify(`Schedule ${name} now runs ${words}`);
      await this.onSaved();
    } catch (error) {
      this.showError(error);
    } finally {
      button.disabled = false;
    }
  }
}
