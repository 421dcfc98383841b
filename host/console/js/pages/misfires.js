// Misfires: slots a task missed (the host was down, or the task paused
// past them) and what its policy did about them.

import { api } from "../api.js";
import { h, fill, when, whenRelative, table, input } from "../dom.js";
import { t } from "../i18n.js";
import { filters, goWith, pager } from "./paging.js";

export async function misfires(view, app) {
  const filter = filters(["task"]);
  const before = new URLSearchParams(location.search).get("before") || "";
  const list = await api("/misfires", { query: { ...filter, before, limit: 50 } });
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    goWith(app, "/misfires", { task: new FormData(event.target).get("task").trim() });
  } },
  input(t("runs.task"), "task", filter.task),
  h("button", { type: "submit" }, t("filter")),
  h("a", { class: "button ghost", href: "/misfires" }, t("clear")));
  fill(view, h("h1", {}, t("misfires.title")), form,
    table([t("col.task"), t("misfires.first"), t("misfires.last"), t("misfires.missed"), t("misfires.policy"), t("misfires.recorded")],
      list.misfires.map((m) => [
        h("a", { href: `/tasks/${encodeURIComponent(m.task)}` }, m.task),
        when(m.first_slot), when(m.last_slot), String(m.missed), h("code", {}, m.policy), whenRelative(m.recorded_at),
      ]), { empty: t("misfires.none") }),
    pager(app, "/misfires", filter, "before", list.next));
}
