// Delay tasks: one-off HTTP callbacks due at a time, by topic and state,
// newest first; cancel a pending one.

import { api } from "../api.js";
import { h, fill, whenRelative, badge, table, input, select, notify } from "../dom.js";
import { t, stateName } from "../i18n.js";
import { filters, goWith, pager } from "./paging.js";

const STATES = ["pending", "delivering", "succeeded", "failed", "cancelled"];

export async function delays(view, app) {
  const filter = filters(["topic", "state"]);
  const before = new URLSearchParams(location.search).get("before") || "";
  const list = await api("/delays", { query: { ...filter, before, limit: 50 } });
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target).entries());
    goWith(app, "/delays", { topic: data.topic.trim(), state: data.state });
  } },
  input(t("delays.topic"), "topic", filter.topic),
  select(t("col.state"), "state", [["", t("tasks.any")], ...STATES.map((s) => [s, stateName(s)])], filter.state),
  h("button", { type: "submit" }, t("filter")),
  h("a", { class: "button ghost", href: "/delays" }, t("clear")));
  fill(view, h("h1", {}, t("delays.title")), form,
    table([t("delays.topic"), t("delays.key"), t("col.state"), t("delays.due"), t("delays.callback"),
      t("col.attempt"), t("delays.last"), ""],
    list.delays.map((d) => [
      h("code", {}, d.topic), h("code", {}, d.key), badge(d.state), whenRelative(d.due_at),
      h("span", { class: "clip" }, `${d.callback.method || "POST"} ${d.callback.url}`),
      `${d.attempts} / ${d.retries + 1}`,
      h("span", { class: "clip" }, d.last_error || (d.last_status ? String(d.last_status) : "")),
      app.can("operator") && d.state === "pending" ? h("button", { type: "button", class: "danger", onclick: async () => {
        try {
          await api(`/delays/${encodeURIComponent(d.topic)}/${encodeURIComponent(d.key)}`, { method: "DELETE" });
          app.go(location.pathname + location.search, { replace: true });
        } catch (error) {
          notify(error.message, "error");
        }
      } }, t("run.cancel")) : "",
    ]), { empty: t("delays.none") }),
    pager(app, "/delays", filter, "before", list.next));
}
