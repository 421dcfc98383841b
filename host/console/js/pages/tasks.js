// The task list: search by name, filter by group, module and state, sorted
// by name, group, module or next fire, a page at a time (the API pages by
// keyset, so a page costs the same at any depth); each row shows its
// schedule, next fire, and a strip of its last runs. Bulk actions act on the
// rows ticked or on everything the filter matches, after showing how many
// that is.

import { api } from "../api.js";
import { h, fill, whenRelative, badge, strip, table, input, select, notify, ticks } from "../dom.js";
import { t, stateName } from "../i18n.js";

const PAGE = 25;
const STATES = ["active", "paused", "error", "finished"];

/** The orders the list offers, by the column heading that picks them. */
const SORTS = { name: ["name", "-name"], group: ["group"], module: ["module"], next: ["next_fire"] };

export async function tasks(view, app) {
  const params = new URLSearchParams(location.search);
  const filter = {
    name: params.get("name") || "",
    group: params.get("group") || "",
    module: params.get("module") || "",
    state: params.get("state") || "",
  };
  const sort = params.get("sort") || "";
  const after = params.get("after") || "";
  const list = await api("/tasks", { query: { ...filter, sort, after, limit: PAGE } });
  const go = (extra) => {
    const q = new URLSearchParams(Object.entries({ ...filter, sort, ...extra }).filter(([, v]) => v));
    app.go(`/tasks${[...q].length ? `?${q}` : ""}`);
  };
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    go(Object.fromEntries([...data.entries()].map(([k, v]) => [k, String(v).trim()])));
  } },
  input(t("tasks.search"), "name", filter.name, { type: "search", placeholder: t("tasks.search") }),
  input(t("tasks.group"), "group", filter.group),
  input(t("tasks.module"), "module", filter.module),
  select(t("tasks.state"), "state", [["", t("tasks.any")], ...STATES.map((s) => [s, stateName(s)])], filter.state),
  h("button", { type: "submit" }, t("filter")),
  h("a", { class: "button ghost", href: "/tasks" }, t("clear")));

  const count = list.total_capped ? t("tasks.countCapped", { n: list.total }) : howMany(list.total);
  // The names ticked on this page; the bar's buttons follow it.
  const picks = ticks(t("tasks.selectPage"), () => drawChosen());
  const ticked = picks.keys;
  const chosen = h("div", { class: "bulk", hidden: true, "aria-live": "polite" });
  const drawChosen = () => {
    chosen.hidden = ticked.size === 0;
    const actions = ["pause", "resume", "trigger", ...(app.can("editor") ? ["delete"] : [])];
    fill(chosen, h("span", { class: "muted" }, t("tasks.selected", { n: ticked.size })),
      actions.map((action) => h("button", {
        type: "button", class: action === "delete" ? "ghost danger" : "ghost", "data-bulk-selected": action,
        onclick: () => bulkAction(app, action, { names: [...ticked] }),
      }, t(`bulk.${action}`))));
  };
  const operator = app.can("operator");
  const everything = operator && list.total > 0 ? h("div", { class: "bulk" },
    ["pause", "resume"].map((action) => h("button", {
      type: "button", class: "ghost", "data-bulk": action,
      onclick: () => bulkAction(app, action, matching(filter)),
    }, `${t(`task.${action}`)} · ${count}`))) : null;

  const rows = list.tasks.map((task) => {
    const recent = h("span", { class: "muted" }, "…");
    const last = h("span", { class: "muted" }, "…");
    api("/runs", { query: { task: task.name, limit: 12 } }).then((runs) => {
      fill(recent, strip(runs.runs));
      fill(last, runs.runs[0] ? h("a", { href: `/runs/${runs.runs[0].id}` }, badge(runs.runs[0].state)) : t("never"));
    }).catch(() => fill(recent, ""));
    return [
      ...(operator ? [picks.row(task.name, t("tasks.select", { name: task.name }), { "data-task": task.name })] : []),
      h("a", { href: `/tasks/${encodeURIComponent(task.name)}`, class: "strong" }, task.name),
      task.group, h("code", {}, task.module), h("code", {}, task.schedule),
      task.paused ? badge("paused") : task.error_code === "manual"
        ? h("span", { class: "muted" }, t("tasks.whenTriggered")) : whenRelative(task.next_fire_at),
      last, recent, badge(task.state),
    ];
  });
  // A heading that sorts by its column: a click picks its first order, a
  // second click on name turns it round.
  const sorted = sort || "name";
  const heading = (label, column) => {
    const orders = SORTS[column];
    const at = orders.indexOf(sorted);
    const next = orders[(at + 1) % orders.length];
    const ariaSort = at < 0 ? "none" : sorted.startsWith("-") ? "descending" : "ascending";
    return { label: h("button", { type: "button", class: "sort", "data-sort": column,
      onclick: () => go({ sort: next === "name" ? "" : next, after: "" }) },
    label, h("span", { "aria-hidden": "true" }, at < 0 ? "" : ariaSort === "descending" ? " ▼" : " ▲")),
    attrs: { "aria-sort": ariaSort } };
  };

  fill(view,
    h("div", { class: "title-row" }, h("h1", {}, t("tasks.title")), h("span", { class: "muted" }, count),
      app.can("editor") ? h("div", { class: "actions" }, h("a", { class: "button", href: "/tasks/new", id: "new-task" }, t("tasks.new"))) : null),
    form, everything, chosen,
    table([...(operator ? [{ label: picks.all, attrs: { class: "tick" } }] : []),
      heading(t("col.name"), "name"), heading(t("col.group"), "group"), heading(t("col.module"), "module"),
      t("col.schedule"), heading(t("col.next"), "next"),
      t("col.last"), t("col.recent"), t("col.state")], rows, { empty: t("tasks.none") }),
    h("nav", { class: "pager", "aria-label": t("pages") },
      after ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({}); } }, t("first")) : null,
      list.next ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({ after: list.next }); } }, t("more")) : null));
}

/** `3 tasks`, `1 task`. */
function howMany(n) {
  return t(n === 1 ? "tasks.countOne" : "tasks.count", { n });
}

/** The bulk selection of everything `filter` matches. */
function matching(filter) {
  return Object.fromEntries(Object.entries(filter).filter(([, v]) => v));
}

/** Counts what `action` would take now, asks, then acts. */
async function bulkAction(app, action, select) {
  try {
    const counted = await api("/bulk/tasks", { method: "POST", body: { action, select, dry_run: true } });
    if (!counted.affected) {
      notify(t("tasks.noneToAct"));
      return;
    }
    if (!confirm(`${t(`bulk.${action}`)}: ${howMany(counted.affected)}?`)) return;
    const done = await api("/bulk/tasks", { method: "POST", body: { action, select } });
    notify(`${t(`bulk.${action}`)}: ${howMany(done.affected)}`);
    app.go(location.pathname + location.search, { replace: true });
  } catch (error) {
    notify(error.message, "error");
  }
}
