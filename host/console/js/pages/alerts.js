// Alerts: every alert raised (delivered, failed or suppressed), by state
// and task, newest first; and the rules, channels and keepers behind them
// (changed with `carillon alert` or the API).

import { api } from "../api.js";
import { h, fill, whenRelative, badge, table, input, select } from "../dom.js";
import { t, stateName } from "../i18n.js";
import { filters, goWith, pager } from "./paging.js";

const STATES = ["pending", "delivered", "failed", "suppressed"];

const ms = (value) => {
  if (value === null || value === undefined) return "";
  if (value % 3600000 === 0) return `${value / 3600000}h`;
  if (value % 60000 === 0) return `${value / 60000}m`;
  return value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`;
};

export async function alerts(view, app) {
  const filter = filters(["state", "task"]);
  const before = new URLSearchParams(location.search).get("before") || "";
  const [list, rules, channels, keepers] = await Promise.all([
    api("/alerts", { query: { ...filter, before, limit: 50 } }),
    api("/alert-rules"),
    api("/alert-channels"),
    api("/keepers"),
  ]);
  const form = h("form", { class: "filters", role: "search", onsubmit: (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target).entries());
    goWith(app, "/alerts", { state: data.state, task: data.task.trim() });
  } },
  select(t("col.state"), "state", [["", t("tasks.any")], ...STATES.map((s) => [s, stateName(s)])], filter.state),
  input(t("col.task"), "task", filter.task),
  h("button", { type: "submit" }, t("filter")),
  h("a", { class: "button ghost", href: "/alerts" }, t("clear")));
  const scope = (r) => (r.tasks ? r.tasks : r.task_group ? `${t("tasks.group")}: ${r.task_group}` : t("al.everyTask"));
  fill(view,
    h("h1", {}, t("al.title")),
    form,
    table([t("al.raised"), t("al.rule"), t("al.event"), t("col.task"), t("col.state"), t("al.message")],
      list.alerts.map((a) => [
        whenRelative(a.raised_at), h("code", {}, a.rule), h("span", { class: "tag" }, a.event),
        a.run_id ? h("a", { href: `/runs/${a.run_id}` }, a.task) : h("a", { href: `/tasks/${encodeURIComponent(a.task)}` }, a.task),
        badge(a.state),
        h("span", { class: "clip", title: a.message }, a.message,
          a.suppressed_before ? h("span", { class: "muted small" }, ` (+${a.suppressed_before})`) : null),
      ]), { empty: t("al.none") }),
    pager(app, "/alerts", filter, "before", list.next),
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, t("al.rules")),
        table([t("col.name"), t("al.event"), t("al.for"), t("al.channels"), t("al.threshold"), t("al.silence")],
          rules.rules.map((r) => [
            h("span", {}, h("code", { class: "strong" }, r.name),
              r.problem ? h("div", { class: "error-text small" }, r.problem) : null,
              r.paused ? h("div", { class: "muted small" }, t("task.paused")) : null),
            r.event, scope(r), r.channels,
            [ms(r.threshold_ms), r.count ? ` × ${r.count}` : ""].join(""), ms(r.silence_ms || null),
          ]), { empty: t("al.noRules") })),
      h("section", { class: "card" }, h("h2", {}, t("al.channels")),
        table([t("col.name"), t("al.kind"), t("al.target")],
          channels.channels.map((c) => [h("code", { class: "strong" }, c.name), c.kind,
            h("span", { class: "clip", title: c.target }, c.target || t("al.keepersAddress"))]),
          { empty: t("al.noChannels") }),
        h("h2", {}, t("al.keepers")),
        table([t("col.name"), "E-mail", t("al.mobile")],
          keepers.keepers.map((k) => [h("strong", {}, k.name), k.email || "", k.mobile || ""]),
          { empty: t("al.noKeepers") }))),
    h("p", { class: "muted small" }, t("al.howToChange")));
}
