// The newest day's statistics of the awards dataset (GET /api/v1/statistics/daily), as a card
// on the results tab. The card builds itself, so the page's markup does not change.

import { ApiError } from "./api.js";
import { $, formatNumber, h, replaceChildren } from "./dom.js";
import { formatMoney } from "./format.js";

export const DAILY_STATISTICS_PATH = "/api/v1/statistics/daily";

export class DailyStatsCard {
  constructor({ api }) {
    this.api = api;
    this.body = h("div", { id: "daily-stats-body" });
    this.card = h("section", { class: "card", id: "daily-stats", "aria-labelledby": "daily-stats-title" },
      h("h2", { id: "daily-stats-title" }, "Dataset statistics"), this.body);
  }

  // Called whenever the results tab opens: the numbers change once a day, a read is cheap.
  async refresh() {
    if (!this.card.isConnected) $("#view-results").append(this.card);
    let stats;
    try {
      stats = await this.api.get(DAILY_STATISTICS_PATH);
    } catch (error) {
      const text = error instanceof ApiError && error.code === "no_statistics"
        ? "No daily statistics have been computed yet."
        : `Could not load the daily statistics: ${error.message}`;
      replaceChildren(this.body, h("p", { class: "hint" }, text));
      return;
    }
    replaceChildren(this.body, h("p", { class: "hint" }, `Awards up to ${stats.day}`), figures(stats));
  }
}

function figures(stats) {
  const figure = (label, value) => h("div", { class: "figure" }, h("dt", {}, label), h("dd", {}, value));
  return h("dl", { class: "figures", "aria-label": `Statistics for ${stats.day}` },
    figure("Awards", formatNumber(stats.awards)),
    figure("Total value", formatMoney(stats.total_contract_amount)),
    figure("Median award", formatMoney(stats.median_contract_amount ?? null)),
    figure("Contractors", formatNumber(stats.contractors)),
    figure("Awards that day", formatNumber(stats.day_awards)),
    figure("Value that day", formatMoney(stats.day_contract_amount)));
}
