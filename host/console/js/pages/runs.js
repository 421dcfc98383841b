// The run list: filter by task, state, node and time range; newest first,
// a page at a time by id (each page is an index range, as fast on the
// millionth run as on the first).

import { api } from "../api.js";
import { h, fill, when, whenRelative, badge, table, took, input, select } from "../dom.js";
import { t, stateName } from "../i18n.js";

const PAGE = 50;
const STATES = ["pending", "running", "succeeded", "failed", "timed-out", "cancelled", "orphaned", "skipped"];

/** `datetime-local` text in the browser's zone, and back. */
const toLocal = (ms) => (ms ? new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");
const fromLocal = (text) => (text ? String(new Date(text).getTime()) : "");

export async function runs(view, app) {
  const params = new URLSearchParams(location.search);
  const filter = Object.fromEntries(["task", "state", "node", "from", "to"].map((k) => [k, params.get(k) || ""]));
  const before = params.get("before") || "";
  const list = await api("/runs", { query: { ...filter, before, limit: PAGE } });
  const go = (extra) => {
    const q = new URLSearchParams(Object.entries({ ...filter, ...extra }).filter(([, v]) => v));
    app.go(`/runs${[...q].length ? `?${q}` : ""}`);
  };
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target).entries());
    go({ task: data.task.trim(), state: data.state, node: data.node.trim(),
      from: fromLocal(data.from), to: fromLocal(data.to) });
  } },
  input(t("runs.task"), "task", filter.task),
  select(t("runs.state"), "state", [["", t("tasks.any")], ...STATES.map((s) => [s, stateName(s)])], filter.state),
  input(t("runs.node"), "node", filter.node),
  input(t("runs.from"), "from", toLocal(Number(filter.from)), { type: "datetime-local" }),
  input(t("runs.to"), "to", toLocal(Number(filter.to)), { type: "datetime-local" }),
  h("button", { type: "submit" }, t("filter")),
  h("a", { class: "button ghost", href: "/runs" }, t("clear")));
  fill(view,
    h("h1", {}, t("runs.title")),
    form,
    table([t("col.id"), t("col.task"), t("col.state"), t("col.slot"), t("col.started"), t("col.took"),
      t("col.attempt"), t("col.node"), t("col.summary")],
    list.runs.map((r) => [
      h("a", { href: `/runs/${r.id}` }, `#${r.id}`),
      h("a", { href: `/tasks/${encodeURIComponent(r.task)}` }, r.task),
      badge(r.state), whenRelative(r.scheduled_at), when(r.started_at),
      took(r.finished_at && r.started_at ? r.finished_at - r.started_at : null),
      String(r.attempt), r.node || "", h("span", { class: "clip" }, r.error || r.summary || ""),
    ]), { empty: t("runs.none") }),
    h("nav", { class: "pager", "aria-label": "pages" },
      before ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({}); } }, t("first")) : null,
      list.next ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({ before: list.next }); } }, t("more")) : null));
}
