// The filters' help text: the rules as the served OpenAPI document describes AwardFilters
// (written once in libs/contracts filter_semantics.py), so the page never restates them.

import { $, h, replaceChildren } from "./dom.js";

const OPENAPI = "/api/v1/openapi.json";

// "Heading: text" paragraphs, then one line per filter with its rule.
export function helpNodes(schema) {
  const [intro, ...sections] = String(schema.description || "").split("\n\n");
  const paragraphs = sections.map((paragraph) => {
    const cut = paragraph.indexOf(": ");
    return h("p", {}, h("strong", {}, paragraph.slice(0, cut + 1)), paragraph.slice(cut + 1));
  });
  const fields = Object.entries(schema.properties || {}).map(([name, property]) =>
    h("li", {}, h("code", {}, name), ": ", property.description || ""));
  return [h("p", {}, intro), ...paragraphs, h("ul", {}, fields)];
}

export async function showFilterHelp(target = $("#filter-help-text")) {
  if (!target) return;
  try {
    const response = await fetch(OPENAPI);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const document_ = await response.json();
    replaceChildren(target, helpNodes(document_.components.schemas.AwardFilters));
  } catch (error) {
    replaceChildren(target, h("p", {}, "The rules are in the ",
      h("a", { href: OPENAPI }, "OpenAPI document"), ` (not loaded: ${error.message}).`));
  }
}

showFilterHelp();
