// Building the page: elements from data, never from HTML strings, so what
// guests wrote (log lines, summaries, errors) is always text. Times in the
// browser's zone, with UTC on hover.

import { t, stateName } from "./i18n.js";

/** An element: `h("a", {href: "/x", class: "y"}, "text", child, …)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Empties `el` and fills it with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const local = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** A time (ms since the epoch) in the browser's zone; UTC on hover. */
export function when(ms) {
  if (ms === null || ms === undefined) return h("span", { class: "muted" }, t("none"));
  const date = new Date(ms);
  return h("time", { datetime: date.toISOString(), title: `${date.toISOString().replace("T", " ").slice(0, 19)} UTC` },
    local.format(date));
}

/** `3 min ago` / `in 20 s`. */
export function relative(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return t("never");
  const diff = Math.round((ms - now) / 1000);
  const n = Math.abs(diff);
  const [minutes, hours] = [Math.round(n / 60), Math.round(n / 3600)];
  const [unit, value] = n < 60 ? ["s", n] : minutes < 60 ? ["m", minutes]
    : hours < 24 ? ["h", hours] : ["d", Math.round(n / 86400)];
  return t(`${diff < 0 ? "ago" : "in"}.${unit}`, { n: value });
}

/** A time with its distance from now beside it. */
export function whenRelative(ms) {
  if (ms === null || ms === undefined) return h("span", { class: "muted" }, t("never"));
  const el = when(ms);
  return h("span", { class: "when" }, el, h("span", { class: "muted small" }, ` · ${relative(ms)}`));
}

/** A duration in ms, as a person reads it. */
export function took(ms) {
  if (ms === null || ms === undefined || ms < 0) return t("none");
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

/** A state as a coloured badge. */
export function badge(state) {
  return h("span", { class: `badge s-${state}` }, stateName(state));
}

/** The strip of a task's recent runs: one square per run, oldest first. */
export function strip(runs) {
  return h("span", { class: "strip", role: "img",
    "aria-label": runs.map((r) => stateName(r.state)).join(", ") || t("none") },
    runs.slice().reverse().map((r) => h("a", {
      href: `/runs/${r.id}`, class: `dot s-${r.state}`,
      title: `${r.id} · ${stateName(r.state)} · ${new Date(r.scheduled_at).toLocaleString()}`,
      tabindex: "-1",
    })));
}

/** A line under the header saying what happened (or what went wrong). */
export function notify(message, kind = "ok") {
  const banner = document.getElementById("banner");
  fill(banner, h("span", {}, message), h("button", {
    type: "button", class: "ghost", "aria-label": "×", onclick: () => { banner.hidden = true; },
  }, "×"));
  banner.className = kind;
  banner.hidden = false;
}

/** A table with headers `columns` and rows of cells. */
export function table(columns, rows, { empty } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty || t("none"));
  // A column is its heading, or { label, attrs } for a heading with attributes.
  const heading = (c) => (c && c.label !== undefined
    ? h("th", { scope: "col", ...c.attrs }, c.label) : h("th", { scope: "col" }, c));
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, columns.map(heading))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c)))))));
}

/** A labelled select of `options` ([value, text]). */
export function select(label, name, options, value) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))));
}

/** A labelled input. */
export function input(label, name, value = "", attrs = {}) {
  return h("label", { class: "field" }, h("span", {}, label),
    h("input", { name, value, ...attrs }));
}

/**
 * Checkboxes to pick rows: `row(key, label, attrs)` makes a row's box,
 * `all` ticks or clears every row of the page, `keys` holds the ticked
 * keys, and `changed` runs after every change.
 */
export function ticks(pageLabel, changed) {
  const keys = new Set();
  const boxes = [];
  const row = (key, label, attrs = {}) => {
    const box = h("input", { type: "checkbox", "aria-label": label, ...attrs,
      onchange: () => { box.checked ? keys.add(key) : keys.delete(key); changed(); } });
    boxes.push([box, key]);
    return box;
  };
  const all = h("input", { type: "checkbox", "aria-label": pageLabel, onchange: () => {
    for (const [box, key] of boxes) {
      box.checked = all.checked;
      all.checked ? keys.add(key) : keys.delete(key);
    }
    changed();
  } });
  return { keys, row, all };
}
