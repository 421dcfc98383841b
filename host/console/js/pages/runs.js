// The run list: filter by task, state, node and time range; newest first,
// a page at a time by id (each page is an index range, as fast on the
// millionth run as on the first). Operators cancel or retry the rows
// ticked or every run the filter matches, after a dry run says how many
// the action would take.

import { api } from "../api.js";
import { h, fill, when, whenRelative, badge, table, took, input, select, notify, ticks } from "../dom.js";
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
  const operator = app.can("operator");
  const picks = ticks(t("runs.selectPage"), () => drawChosen());
  const ticked = picks.keys;
  const chosen = h("div", { class: "bulk", hidden: true, "aria-live": "polite" });
  const drawChosen = () => {
    chosen.hidden = ticked.size === 0;
    fill(chosen, h("span", { class: "muted" }, t("tasks.selected", { n: ticked.size })),
      ["cancel", "retry"].map((action) => h("button", {
        type: "button", class: "ghost", "data-bulk-selected": action,
        onclick: () => bulkAction(app, action, { ids: [...ticked].map(Number) }),
      }, t(`run.${action}`))));
  };
  const everything = operator && list.runs.length ? h("div", { class: "bulk" },
    ["cancel", "retry"].map((action) => h("button", {
      type: "button", class: "ghost", "data-bulk": action,
      onclick: () => bulkAction(app, action, matching(filter)),
    }, t(`runs.${action}Matching`)))) : null;
  fill(view,
    h("h1", {}, t("runs.title")),
    form, everything, chosen,
    table([...(operator ? [{ label: picks.all, attrs: { class: "tick" } }] : []),
      t("col.id"), t("col.task"), t("col.state"), t("col.slot"), t("col.started"), t("col.took"),
      t("col.attempt"), t("col.node"), t("col.summary")],
    list.runs.map((r) => [
      ...(operator ? [picks.row(String(r.id), t("runs.select", { id: r.id }), { "data-run": r.id })] : []),
      h("a", { href: `/runs/${r.id}` }, `#${r.id}`),
      h("a", { href: `/tasks/${encodeURIComponent(r.task)}` }, r.task),
      badge(r.state), whenRelative(r.scheduled_at), when(r.started_at),
      took(r.finished_at && r.started_at ? r.finished_at - r.started_at : null),
      String(r.attempt), r.node || "", h("span", { class: "clip" }, r.error || r.summary || ""),
    ]), { empty: t("runs.none") }),
    h("nav", { class: "pager", "aria-label": t("pages") },
      before ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({}); } }, t("first")) : null,
      list.next ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({ before: list.next }); } }, t("more")) : null));
}

/** The bulk selection of every run `filter` matches (times as numbers). */
function matching(filter) {
  const select = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value) select[key] = key === "from" || key === "to" ? Number(value) : value;
  }
  return select;
}

/** Asks the server how many runs `action` would take, confirms, acts. */
async function bulkAction(app, action, select) {
  const counted = await api("/bulk/runs", { method: "POST", body: { action, select, dry_run: true } });
  if (!counted.affected) {
    notify(t(`runs.no${action === "cancel" ? "Cancel" : "Retry"}`));
    return;
  }
  const what = t(counted.affected === 1 ? "runs.countOne" : "runs.count", { n: counted.affected });
  if (!confirm(`${t(`run.${action}`)}: ${what}?`)) return;
  const done = await api("/bulk/runs", { method: "POST", body: { action, select } });
  notify(`${t(`run.${action}`)}: ${t(done.affected === 1 ? "runs.countOne" : "runs.count", { n: done.affected })}`);
  app.go(location.pathname + location.search, { replace: true });
}
