// The task list: search by name, filter by group, module and state, a page
// at a time (the API pages by name, so a page costs the same at any
// depth); each row shows its schedule, next fire, and a strip of its last
// runs. Bulk pause and resume act on everything the filter matches, after
// showing how many that is.

import { api } from "../api.js";
import { h, fill, whenRelative, badge, strip, table, input, select, notify } from "../dom.js";
import { t, stateName } from "../i18n.js";

const PAGE = 25;
const STATES = ["active", "paused", "error", "finished"];

export async function tasks(view, app) {
  const params = new URLSearchParams(location.search);
  const filter = {
    name: params.get("name") || "",
    group: params.get("group") || "",
    module: params.get("module") || "",
    state: params.get("state") || "",
  };
  const after = params.get("after") || "";
  const list = await api("/tasks", { query: { ...filter, after, limit: PAGE } });
  const go = (extra) => {
    const q = new URLSearchParams(Object.entries({ ...filter, ...extra }).filter(([, v]) => v));
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

  const count = list.total_capped ? t("tasks.countCapped", { n: list.total }) : t("tasks.count", { n: list.total });
  const bulk = app.can("operator") && list.total > 0 ? h("div", { class: "bulk" },
    ["pause", "resume"].map((action) => h("button", {
      type: "button", class: "ghost", "data-bulk": action,
      onclick: () => bulkAction(app, action, filter, list),
    }, `${t(`task.${action}`)} · ${count}`))) : null;

  const rows = list.tasks.map((task) => {
    const recent = h("span", { class: "muted" }, "…");
    const last = h("span", { class: "muted" }, "…");
    api("/runs", { query: { task: task.name, limit: 12 } }).then((runs) => {
      fill(recent, strip(runs.runs));
      fill(last, runs.runs[0] ? h("a", { href: `/runs/${runs.runs[0].id}` }, badge(runs.runs[0].state)) : t("never"));
    }).catch(() => fill(recent, ""));
    return [
      h("a", { href: `/tasks/${encodeURIComponent(task.name)}`, class: "strong" }, task.name),
      task.group, h("code", {}, task.module), h("code", {}, task.schedule),
      task.paused ? badge("paused") : whenRelative(task.next_fire_at),
      last, recent, badge(task.state),
    ];
  });

  fill(view,
    h("div", { class: "title-row" }, h("h1", {}, t("tasks.title")), h("span", { class: "muted" }, count),
      app.can("editor") ? h("div", { class: "actions" }, h("a", { class: "button", href: "/tasks/new", id: "new-task" }, t("tasks.new"))) : null),
    form, bulk,
    table([t("col.name"), t("col.group"), t("col.module"), t("col.schedule"), t("col.next"),
      t("col.last"), t("col.recent"), t("col.state")], rows, { empty: t("tasks.none") }),
    h("nav", { class: "pager", "aria-label": "pages" },
      after ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({}); } }, t("first")) : null,
      list.next ? h("a", { class: "button ghost", href: "#", onclick: (e) => { e.preventDefault(); go({ after: list.next }); } }, t("more")) : null));
}

async function bulkAction(app, action, filter, list) {
  const what = list.total_capped ? t("tasks.countCapped", { n: list.total }) : t("tasks.count", { n: list.total });
  if (!confirm(`${t(`task.${action}`)}: ${what}?`)) return;
  const select = Object.fromEntries(Object.entries(filter).filter(([, v]) => v));
  const done = await api("/bulk/tasks", { method: "POST", body: { action, select } });
  notify(`${t(`task.${action}`)}: ${done.affected}`);
  app.go(location.pathname + location.search, { replace: true });
}
