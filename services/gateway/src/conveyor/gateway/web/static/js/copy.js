// Job ids on screen are short; a copy button next to each puts the full id on the clipboard.

import { h, notify } from "./dom.js";

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (a plain-http host other than localhost): select and copy instead.
    const area = h("textarea", { readonly: true, class: "visually-hidden" }, text);
    document.body.append(area);
    area.select();
    const copied = document.execCommand("copy");
    area.remove();
    return copied;
  }
}

// The short id as code (the full one on hover) and a button that copies the full id.
export function copyableId(id, { length = 8 } = {}) {
  if (!id) return "—";
  return h("span", { class: "copyable" },
    h("code", { title: id }, id.slice(0, length)),
    h("button", {
      type: "button", class: "copy", "aria-label": `Copy id ${id}`, title: "Copy the full id",
      onclick: async (event) => {
        const button = event.currentTarget;
        const copied = await copyText(id);
        notify(copied ? `Copied ${id}` : `Could not copy; the id is ${id}`, copied ? "info" : "error");
        button.dataset.copied = String(copied);
      },
    }, "Copy"));
}
