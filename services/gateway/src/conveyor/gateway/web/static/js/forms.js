// The "New job" form: the shared award filters plus each job type's own fields.

import { $ } from "./dom.js";

const LIST_FILTERS = ["contractors", "organizations", "areas", "business_categories", "keywords"];

function lines(value) {
  return value.split("\n").map((line) => line.trim()).filter(Boolean);
}

function number(value) {
  return value === "" ? null : Number(value);
}

// AwardFilters as libs/contracts/jobs.py declares them; empty lists mean "no filter".
export function filtersFrom(form) {
  const data = new FormData(form);
  const filters = {};
  for (const name of LIST_FILTERS) {
    const values = lines(String(data.get(name) || ""));
    if (values.length) filters[name] = values;
  }
  const start = String(data.get("date_start") || "");
  const end = String(data.get("date_end") || "");
  if (start || end) {
    filters.time_ranges = [{ start: start || "1900-01-01", end: end || "2999-12-31" }];
  }
  const min = number(String(data.get("value_min") || ""));
  const max = number(String(data.get("value_max") || ""));
  if (min !== null || max !== null) filters.value_range = { min, max };
  return filters;
}

export function requestFrom(form) {
  const data = new FormData(form);
  const kind = String(data.get("kind"));
  const filters = filtersFrom(form);
  switch (kind) {
    case "export":
      return { kind, request: { filters, format: String(data.get("format")) } };
    case "aggregates":
      return { kind, request: { filters, top_n: Number(data.get("top_n") || 10) } };
    case "search":
      return {
        kind,
        request: {
          filters,
          query: String(data.get("query") || ""),
          page_size: Number(data.get("page_size") || 50),
        },
      };
    default:
      throw new Error(`unknown job type ${kind}`);
  }
}

export function setUpSubmitForm({ api, onSubmitted }) {
  const form = $("#submit-form");
  const kind = $("#job-kind");
  const status = $("#submit-status");
  const showFields = () => {
    for (const span of form.querySelectorAll("[data-for]")) {
      span.hidden = span.dataset.for !== kind.value;
    }
  };
  kind.addEventListener("change", showFields);
  showFields();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = $("#submit-button");
    button.disabled = true;
    status.textContent = "Submitting…";
    try {
      const { kind: type, request } = requestFrom(form);
      const record = await api.submit(type, request);
      status.textContent = `Submitted ${type} job ${record.job_id.slice(0, 8)}`;
      onSubmitted(record);
    } catch (error) {
      // The gateway names the field at fault (e.g. $.filters.value_range).
      status.textContent = `Not submitted: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
}
