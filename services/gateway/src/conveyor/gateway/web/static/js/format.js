// How values read on the page: pesos, lists as words, local times with a relative hint,
// schedule triggers in words.

import { h } from "./dom.js";

// The awards are Philippine procurement: amounts are pesos whatever the browser's locale.
const PESOS = new Intl.NumberFormat("en-PH", { style: "currency", currency: "PHP" });
const PESOS_SHORT = new Intl.NumberFormat("en-PH", {
  style: "currency", currency: "PHP", notation: "compact", maximumFractionDigits: 1,
});
const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const SAME_DAY = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const OTHER_DAY = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

export function formatMoney(value) {
  return typeof value === "number" && Number.isFinite(value) ? PESOS.format(value) : "—";
}

// Axis and bar labels, where "₱2.2B" reads better than sixteen digits.
export function formatMoneyShort(value) {
  return typeof value === "number" && Number.isFinite(value) ? PESOS_SHORT.format(value) : "";
}

export function formatList(values) {
  if (!Array.isArray(values) || !values.length) return "none";
  return values.join(", ");
}

const UNITS = [
  ["year", 365 * 86400], ["month", 30 * 86400], ["week", 7 * 86400], ["day", 86400],
  ["hour", 3600], ["minute", 60], ["second", 1],
];

// "in 5 minutes", "3 hours ago": the unit that keeps the number small.
export function formatRelative(date, now = Date.now()) {
  const seconds = (date.getTime() - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return RELATIVE.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

// A <time> element: local time (date too unless today), the relative hint after it, and
// the full date and zone on hover.
export function timeNode(iso) {
  if (!iso) return h("span", { class: "hint" }, "—");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const today = new Date().toDateString() === date.toDateString();
  return h("time", { datetime: date.toISOString(), title: FULL.format(date) },
    (today ? SAME_DAY : OTHER_DAY).format(date), " ",
    h("span", { class: "relative" }, `(${formatRelative(date)})`));
}

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function plural(n, unit) {
  return n === 1 ? `every ${unit}` : `every ${n} ${unit}s`;
}

export function describeInterval(seconds) {
  if (seconds % 86400 === 0) return plural(seconds / 86400, "day");
  if (seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(seconds, "second");
}

const isNumber = (field) => /^\d+$/.test(field);
const clock = (hour, minute) => `${hour.padStart(2, "0")}:${minute.padStart(2, "0")}`;

// The common crontab shapes in words; anything else is shown as the expression itself.
export function describeCron(expression) {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return expression;
  const [minute, hour, day, month, weekday] = fields;
  const every = /^\*\/(\d+)$/;
  if (month !== "*") return expression;
  if (every.test(minute) && hour === "*" && day === "*" && weekday === "*") {
    return plural(Number(every.exec(minute)[1]), "minute");
  }
  if (minute === "*" && hour === "*" && day === "*" && weekday === "*") return "every minute";
  if (!isNumber(minute)) return expression;
  if (hour === "*" && day === "*" && weekday === "*") return `hourly at minute ${minute}`;
  if (!isNumber(hour)) return expression;
  const at = clock(hour, minute);
  if (day === "*" && weekday === "*") return `daily at ${at}`;
  if (day === "*" && isNumber(weekday) && Number(weekday) <= 7) {
    return `weekly on ${DAYS[Number(weekday) % 7]} at ${at}`;
  }
  if (isNumber(day) && weekday === "*") return `monthly on day ${day} at ${at}`;
  return expression;
}

// A schedule's trigger: words first, the exact expression after them.
export function describeTrigger(schedule) {
  const zone = schedule.timezone && schedule.timezone !== "UTC" ? ` (${schedule.timezone})` : " (UTC)";
  if (schedule.trigger === "interval" && schedule.interval_seconds) {
    return [describeInterval(schedule.interval_seconds), zone];
  }
  if (schedule.cron) {
    const words = describeCron(schedule.cron);
    if (words === schedule.cron) return [h("code", {}, schedule.cron), zone];
    return [words, zone, " ", h("code", { class: "hint" }, schedule.cron)];
  }
  return [schedule.trigger || "—"];
}
