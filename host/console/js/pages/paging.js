// The pieces the list pages share: filters kept in the address (so a
// filtered page can be bookmarked and the back button works) and
// "first / next page" links for the API's keyset paging.

import { h } from "../dom.js";
import { t } from "../i18n.js";

/** The filter `keys` as the address holds them. */
export function filters(keys) {
  const params = new URLSearchParams(location.search);
  return Object.fromEntries(keys.map((k) => [k, params.get(k) || ""]));
}

/** Goes to `path` with `values` (empty ones left out). */
export function goWith(app, path, values) {
  const q = new URLSearchParams(Object.entries(values).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  app.go(`${path}${[...q].length ? `?${q}` : ""}`);
}

/** First-page and next-page links: `cursor` names the API's paging key. */
export function pager(app, path, filter, cursor, next) {
  const here = new URLSearchParams(location.search).get(cursor);
  const link = (label, extra) => h("a", { class: "button ghost", href: "#", onclick: (event) => {
    event.preventDefault();
    goWith(app, path, { ...filter, ...extra });
  } }, label);
  return h("nav", { class: "pager", "aria-label": t("pages") },
    here ? link(t("first"), {}) : null,
    next ? link(t("more"), { [cursor]: next }) : null);
}
