// The task manager: sign in, wire the live feed to the job board, switch views.

import { AdminView } from "./admin.js";
import { Api, ApiError, claimsOf } from "./api.js";
import { rejectedMessage, signedOutMessage } from "./auth.js";
import { DailyStatsCard } from "./daily_stats.js";
import { $, notify } from "./dom.js";
import { setUpSubmitForm } from "./forms.js";
import { JobBoard } from "./jobs.js";
import { LiveFeed } from "./live.js";
import { ResultView } from "./results.js";

const TOKEN_KEY = "conveyor.token";
const THEME_KEY = "conveyor.theme";

// What tests and curious developers can inspect: every live event the page applied.
const debug = { events: [], connections: 0 };
window.conveyor = debug;

let session = null;

function setTheme(theme) {
  document.documentElement.dataset.theme = theme;
  // The button names what it does (the theme it switches to), so it has no aria-pressed.
  const button = $("#theme-toggle");
  button.textContent = theme === "dark" ? "Light mode" : "Dark mode";
  button.title = `Switch to the ${theme === "dark" ? "light" : "dark"} theme`;
}

function initialTheme() {
  const saved = localStorage.getItem(THEME_KEY);
  if (saved) return saved;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

function showTab(name) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !selected;
  }
  if (name === "admin" && session) session.admin.refresh();
  if (name === "results" && session) session.dailyStats.refresh();
}

// The tabs pattern: arrow keys move between tabs, Tab moves on into the panel.
function moveBetweenTabs(event) {
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (!step) return;
  const tabs = [...document.querySelectorAll('[role="tab"]')].filter((tab) => !tab.hidden);
  const next = tabs[(tabs.indexOf(event.currentTarget) + step + tabs.length) % tabs.length];
  showTab(next.id.replace("tab-", ""));
  next.focus();
  event.preventDefault();
}

function setConnection(state) {
  const badge = $("#connection");
  badge.dataset.state = state;
  badge.textContent = { live: "live", connecting: "connecting…", reconnecting: "reconnecting…",
    offline: "offline" }[state] || state;
}

// A 401 has already ended the session and said why; anything else is worth a notice.
function listFailed(error) {
  if (error instanceof ApiError && error.status === 401) return;
  notify(`Could not list jobs: ${error.message}`, "error");
}

function showSignIn() {
  $("#workspace").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-out").hidden = true;
  $("#who").textContent = "not signed in";
}

// ``reason``: why the gateway refused the token mid-session; none when the user signed out.
function signOut(reason) {
  if (!session) return;
  session.feed.stop();
  session.admin.stop();
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn();
  if (reason === undefined) notify("Signed out.");
  else notify(signedOutMessage(reason), "error");
}

// The gateway checks the token before the page shows anything: a refused one leaves the user
// on the sign-in form, told why. ``restored``: the tab's saved token, signed in before.
async function signIn(token, { restored = false } = {}) {
  const claims = claimsOf(token);
  if (!claims || !claims.sub) {
    notify("Not signed in: that does not look like a bearer token (a JWT).", "error");
    return;
  }
  const api = new Api(token);
  try {
    await api.listJobs({ limit: 1 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      notify(restored ? signedOutMessage(error.message) : rejectedMessage(error.message), "error");
      return;
    }
    // Anything else (the gateway restarting, a network blip): the live feed retries.
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  api.onUnauthorized = (reason) => signOut(reason);
  const roles = claims.roles || [];
  const observer = roles.includes("admin") || roles.includes("operator");
  const board = new JobBoard({ api, onViewResult: (record) => results.open(record) });
  const results = new ResultView({
    api,
    show: () => showTab("results"),
    onSubmitted: (record) => { board.merge(record); board.render(); },
  });
  const feed = new LiveFeed({
    token,
    onState: setConnection,
    onEvent: (event, cursor) => {
      debug.events.push({ job_id: event.job_id, seq: event.seq, event: event.event, cursor });
      board.applyEvent(event);
    },
    // Listing after the subscription is live: whatever happens in between arrives as an
    // event, and records and events are reconciled by seq.
    onSubscribed: ({ resumed }) => {
      debug.connections += 1;
      if (!resumed) board.reload().catch(listFailed);
    },
    onUnauthorized: (reason) => signOut(reason || "the token was refused"),
  });
  const admin = new AdminView({ api });
  session = { api, board, feed, admin, dailyStats: new DailyStatsCard({ api }) };
  $("#who").textContent = `${claims.sub}${roles.length ? ` (${roles.join(", ")})` : ""}`;
  $("#tab-admin").hidden = !observer;
  $("#sign-in").hidden = true;
  $("#workspace").hidden = false;
  $("#sign-out").hidden = false;
  showTab("jobs");
  feed.start();
}

function main() {
  setTheme(initialTheme());
  showSignIn();
  $("#theme-toggle").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
    localStorage.setItem(THEME_KEY, next);
    setTheme(next);
  });
  $("#sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("#token").value.trim());
  });
  $("#sign-out").addEventListener("click", () => signOut());
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    tab.addEventListener("click", () => showTab(tab.id.replace("tab-", "")));
    tab.addEventListener("keydown", moveBetweenTabs);
  }
  setUpSubmitForm({
    api: { submit: (type, request) => session.api.submit(type, request) },
    onSubmitted: (record) => { session.board.merge(record); session.board.render(); },
  });
  const reload = () => {
    if (!session) return;
    session.board.filters = { state: $("#filter-state").value, type: $("#filter-type").value };
    session.board.reload().catch(listFailed);
  };
  $("#filter-state").addEventListener("change", reload);
  $("#filter-type").addEventListener("change", reload);
  $("#refresh-jobs").addEventListener("click", reload);
  $("#older-jobs").addEventListener("click", () => session?.board.loadMore()
    .catch(listFailed));
  $("#refresh-admin").addEventListener("click", () => session?.admin.refresh());
  $("#stats-window").addEventListener("change", () => session?.admin.reloadStats());
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) signIn(saved, { restored: true });
}

main();
