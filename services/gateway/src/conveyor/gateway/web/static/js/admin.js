// The admin view: workers, queues, dead letters and schedules, from the admin API.
// Each panel shows "not available" while its endpoint does not exist on this gateway.

import { ApiError } from "./api.js";
import { $, h, notify, replaceChildren } from "./dom.js";
import { table } from "./results.js";

const enc = encodeURIComponent;

function rowsOf(data, names) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === "object") {
    for (const name of names) if (Array.isArray(data[name])) return data[name];
    const lists = Object.values(data).filter(Array.isArray);
    if (lists.length === 1) return lists[0];
  }
  return [];
}

export class AdminView {
  constructor({ api }) {
    this.api = api;
    this.panels = [
      { id: "#admin-workers", path: "/api/v1/admin/workers", names: ["workers"], caption: "Workers",
        key: (r) => r.instance, actions: (r) => [this.button(`Drain ${r.instance}`, "Drain",
          () => this.api.post(`/api/v1/admin/workers/${enc(r.instance)}/drain`))] },
      { id: "#admin-queues", path: "/api/v1/admin/queues", names: ["queues"], caption: "Queues" },
      { id: "#admin-dead-letters", path: "/api/v1/admin/dead-letters",
        names: ["dead_letters", "messages", "items"], caption: "Dead letters",
        tools: () => [
          this.button("Replay every dead letter", "Replay all",
            () => this.api.post("/api/v1/admin/dead-letters/replay", { all: true })),
          this.button("Delete every dead letter", "Purge",
            () => this.api.delete("/api/v1/admin/dead-letters")),
        ],
        key: (r) => r.id ?? r.message_id, actions: (r) => [this.button(`Replay ${r.id ?? r.message_id}`,
          "Replay", () => this.api.post("/api/v1/admin/dead-letters/replay", { ids: [r.id ?? r.message_id] }))] },
      { id: "#admin-schedules", path: "/api/v1/admin/schedules", names: ["schedules"], caption: "Schedules",
        key: (r) => r.name, actions: (r) => [
          r.paused
            ? this.button(`Resume schedule ${r.name}`, "Resume",
              () => this.api.post(`/api/v1/admin/schedules/${enc(r.name)}/resume`))
            : this.button(`Pause schedule ${r.name}`, "Pause",
              () => this.api.post(`/api/v1/admin/schedules/${enc(r.name)}/pause`)),
          this.button(`Run schedule ${r.name} now`, "Run now",
            () => this.api.post(`/api/v1/admin/schedules/${enc(r.name)}/run`)),
        ] },
    ];
  }

  button(label, text, action) {
    return h("button", {
      type: "button", "aria-label": label,
      onclick: async () => {
        try {
          await action();
          notify(`${label}: done`);
        } catch (error) {
          notify(`${label}: ${error.message}`, "error");
        }
        await this.refresh();
      },
    }, text);
  }

  async refresh() {
    await Promise.all(this.panels.map((panel) => this.load(panel)));
  }

  async load(panel) {
    const box = $(panel.id);
    try {
      const rows = rowsOf(await this.api.get(panel.path), panel.names);
      const shown = rows.map((row) => ({ ...row }));
      const tableNode = table(shown, panel.caption);
      if (panel.actions && rows.length) addActions(tableNode, rows, panel.actions);
      replaceChildren(box, panel.tools ? h("div", { class: "row" }, panel.tools()) : null, tableNode);
    } catch (error) {
      let text = `Could not load: ${error.message}`;
      if (error instanceof ApiError && error.notAvailable) text = "Not available on this gateway yet.";
      else if (error instanceof ApiError && error.status === 403) text = "Your token's role may not see this.";
      replaceChildren(box, h("p", { class: "unavailable" }, text));
    }
  }
}

function addActions(tableNode, rows, actions) {
  const head = tableNode.querySelector("thead tr");
  // First column: wide tables scroll, and the buttons must stay in view.
  if (head) head.prepend(h("th", { scope: "col" }, "actions"));
  tableNode.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.prepend(h("td", { class: "actions" }, actions(rows[i])));
  });
}
