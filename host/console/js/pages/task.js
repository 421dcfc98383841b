// One task: its settings, its next fire times in its zone, its runs, and
// (for operators and admins) trigger now with params, pause or resume,
// and delete after confirming.

import { api } from "../api.js";
import { h, fill, when, whenRelative, badge, table, took, notify } from "../dom.js";
import { t } from "../i18n.js";

const SHOWN = [
  ["group", "group"], ["module", "module"], ["schedule", "schedule"], ["time_zone", "time_zone"],
  ["shard_total", "shard_total"], ["shard_params", "shard_params"], ["page_size", "page_size"],
  ["concurrency", "concurrency"], ["misfire", "misfire"], ["timeout_ms", "timeout_ms"],
  ["memory_mib", "memory_mib"], ["max_retries", "max_retries"], ["retry_backoff_ms", "retry_backoff_ms"],
  ["selector", "selector"], ["start_at", "start_at"], ["end_at", "end_at"], ["keep_runs", "keep_runs"],
  ["allowed_hosts", "allowed_hosts"], ["secrets", "secrets"], ["mounts", "mounts"],
  ["databases", "databases"], ["calendar", "calendar"], ["on_success", "on_success"], ["on_failure", "on_failure"], ["keepers", "keepers"],
  ["created_at", "created_at"], ["last_fire_at", "last_fire_at"],
  ["revision", "revision"],
];
const TIMES = new Set(["start_at", "end_at", "created_at", "last_fire_at"]);

export async function task(view, app, name) {
  const path = `/tasks/${encodeURIComponent(name)}`;
  const [row, next, runs] = await Promise.all([
    api(path),
    api(`${path}/next`, { query: { n: 5 } }).catch(() => ({ times: [] })),
    api("/runs", { query: { task: name, limit: 20 } }),
  ]);
  const again = () => app.go(location.pathname, { replace: true });
  const act = async (label, call) => {
    try {
      notify(label(await call()));
      again();
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const params = h("textarea", { id: "trigger-params", rows: 2, placeholder: "date=2026-12-01" });
  const actions = app.can("operator") ? h("div", { class: "actions" },
    h("details", { class: "trigger" },
      h("summary", { class: "button" }, t("task.trigger")),
      h("label", { class: "field" }, h("span", {}, t("task.params")), params),
      h("button", { type: "button", onclick: () => act((done) => t("task.triggered", { n: done.runs }), () =>
        api(`${path}/trigger`, { method: "POST", body: { params: parseParams(params.value) } })) }, t("task.trigger"))),
    app.can("editor") ? h("a", { class: "button ghost", href: `${location.pathname}/edit` }, t("task.edit")) : null,
    row.paused
      ? h("button", { type: "button", onclick: () => act(() => t("task.resumed"), () => api(`${path}/resume`, { method: "POST" })) }, t("task.resume"))
      : h("button", { type: "button", class: "ghost", onclick: () => act(() => t("task.paused"), () => api(`${path}/pause`, { method: "POST" })) }, t("task.pause")),
    app.can("editor") && h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm(t("task.confirmDelete", { name }))) return;
      try {
        await api(path, { method: "DELETE" });
        notify(t("task.deleted", { name }));
        app.go("/tasks");
      } catch (error) {
        notify(error.message, "error");
      }
    } }, t("task.delete"))) : null;

  const value = (key) => {
    const v = row[key];
    if (v === null || v === undefined || v === "") return h("span", { class: "muted" }, t("none"));
    if (TIMES.has(key)) return when(v);
    return h("code", {}, String(v));
  };
  fill(view,
    h("p", { class: "crumbs" }, h("a", { href: "/tasks" }, t("nav.tasks")), " / "),
    h("div", { class: "title-row" }, h("h1", {}, name), badge(row.state), actions),
    row.error && row.error_code === "manual" ? h("p", { class: "card muted" }, t("task.manual")) : null,
    row.error && !["manual", "finished"].includes(row.error_code)
      ? h("p", { class: "card error", role: "alert" }, h("strong", {}, `${t("task.error")}: `), row.error) : null,
    row.error_code === "finished" ? h("p", { class: "card muted" }, row.error) : null,
    h("div", { class: "grid2" },
      h("section", { class: "card" }, h("h2", {}, t("task.details")),
        h("dl", { class: "facts" }, SHOWN.flatMap(([key, label]) => [h("dt", {}, label), h("dd", {}, value(key))]),
          h("dt", {}, "params"), h("dd", {}, Object.keys(row.params).length
            ? h("code", {}, Object.entries(row.params).map(([k, v]) => `${k}=${v}`).join("\n"))
            : h("span", { class: "muted" }, t("none"))))),
      h("section", { class: "card" }, h("h2", {}, t("task.nextTimes"), h("span", { class: "muted small" }, ` · ${row.time_zone}`)),
        next.times.length ? h("ol", { class: "times" }, next.times.map((ms) => h("li", {}, whenRelative(ms))))
          : h("p", { class: "muted" }, t("none")))),
    h("section", { class: "card" }, h("h2", {}, t("task.runs")),
      table([t("col.id"), t("col.state"), t("col.slot"), t("col.took"), t("col.attempt"), t("col.node"), t("col.summary")],
        runs.runs.map((r) => [
          h("a", { href: `/runs/${r.id}` }, `#${r.id}`), badge(r.state), whenRelative(r.scheduled_at),
          took(r.finished_at && r.started_at ? r.finished_at - r.started_at : null), String(r.attempt),
          r.node || "", h("span", { class: "clip" }, r.error || r.summary || ""),
        ]), { empty: t("runs.none") }),
      h("p", {}, h("a", { href: `/runs?task=${encodeURIComponent(name)}` }, `${t("nav.runs")} →`))));
}

/** `NAME=VALUE` lines as params. */
function parseParams(text) {
  const params = {};
  for (const line of text.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) params[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return params;
}
