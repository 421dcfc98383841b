// The audit log: who changed what through the API (and so the console),
// when, with the object before and after.

import { api } from "../api.js";
import { h, fill, whenRelative, table } from "../dom.js";
import { t } from "../i18n.js";
import { pager } from "./paging.js";

export async function audit(view, app) {
  const before = new URLSearchParams(location.search).get("before") || "";
  const list = await api("/audit", { query: { before, limit: 50 } });
  const shown = (value) => (value === null || value === undefined ? t("none") : JSON.stringify(value, null, 2));
  fill(view, h("h1", {}, t("audit.title")),
    table([t("audit.at"), t("audit.actor"), t("audit.action"), t("audit.target"), t("audit.change")],
      list.events.map((e) => [
        whenRelative(e.at), h("code", {}, e.actor), h("code", {}, e.action), h("code", {}, e.target),
        e.before || e.after ? h("details", {}, h("summary", {}, t("audit.show")),
          h("div", { class: "diff" },
            h("div", {}, h("strong", {}, t("audit.before")), h("pre", {}, shown(e.before))),
            h("div", {}, h("strong", {}, t("audit.after")), h("pre", {}, shown(e.after))))) : "",
      ]), { empty: t("audit.none") }),
    pager(app, "/audit", {}, "before", list.next));
}
