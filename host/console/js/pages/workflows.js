// Workflows: each one's steps and the latest runs; a run's page shows every
// step (state, tries, its run, outputs, error), followed while the run goes
// on, with retry and mark-succeeded for a failed step and cancel for the
// run (operators and admins).

import { api } from "../api.js";
import { h, fill, whenRelative, badge, table, notify } from "../dom.js";
import { t } from "../i18n.js";
import { filters, goWith, pager } from "./paging.js";

export async function workflows(view, app) {
  const filter = filters(["workflow", "state"]);
  const before = new URLSearchParams(location.search).get("before") || "";
  const [list, runs] = await Promise.all([
    api("/workflows"),
    api("/workflow-runs", { query: { ...filter, before, limit: 25 } }),
  ]);
  const trigger = async (name) => {
    try {
      const started = await api(`/workflows/${encodeURIComponent(name)}/trigger`, { method: "POST", body: { params: {} } });
      app.go(`/workflows/runs/${started.workflow_run}`);
    } catch (error) {
      notify(error.message, "error");
    }
  };
  fill(view,
    h("h1", {}, t("wf.title")),
    h("p", { class: "muted" }, t("wf.about")),
    table([t("col.name"), t("wf.steps"), t("wf.description"), ""],
      list.workflows.map((w) => [
        h("a", { href: `/workflows?workflow=${encodeURIComponent(w.name)}`, class: "strong" }, w.name),
        h("span", {}, String(w.steps.length), " ", h("span", { class: "muted small" },
          w.steps.slice(0, 6).map((s) => s.name).join(" · ") + (w.steps.length > 6 ? " …" : ""))),
        w.problem ? h("span", { class: "error-text" }, w.problem) : (w.description || ""),
        app.can("operator") && !w.problem
          ? h("button", { type: "button", class: "ghost", "data-trigger": w.name, onclick: () => trigger(w.name) }, t("task.trigger"))
          : "",
      ]), { empty: t("wf.none") }),
    h("h2", {}, t("wf.runs")),
    table([t("col.id"), t("wf.workflow"), t("col.state"), t("col.started"), t("wf.ended"), t("wf.by")],
      runs.runs.map((r) => [
        h("a", { href: `/workflows/runs/${r.id}` }, `#${r.id}`),
        h("a", { href: `/workflows?workflow=${encodeURIComponent(r.workflow)}` }, r.workflow),
        badge(r.state), whenRelative(r.created_at), whenRelative(r.finished_at), h("span", { class: "muted" }, r.started_by),
      ]), { empty: t("wf.noRuns") }),
    pager(app, "/workflows", filter, "before", runs.next),
    filter.workflow ? h("p", {}, h("a", { href: "/workflows", onclick: (e) => { e.preventDefault(); goWith(app, "/workflows", {}); } }, t("clear"))) : null);
}

export async function workflowRun(view, app, id) {
  const draw = async () => {
    const run = await api(`/workflow-runs/${id}`);
    const act = async (path, done) => {
      try {
        await api(path, { method: "POST" });
        notify(done);
        state = await draw();
      } catch (error) {
        notify(error.message, "error");
      }
    };
    const operator = app.can("operator");
    fill(view,
      h("div", { class: "title-row" }, h("h1", {}, t("wf.runTitle", { id: run.id, name: run.workflow })), badge(run.state),
        operator && run.state === "running" ? h("div", { class: "actions" }, h("button", { type: "button", class: "danger",
          onclick: () => confirm(t("wf.confirmCancel")) && act(`/workflow-runs/${id}/cancel`, t("wf.cancelled")) }, t("run.cancel"))) : null),
      h("section", { class: "card" }, h("dl", { class: "facts" },
        h("dt", {}, t("wf.by")), h("dd", {}, run.started_by),
        h("dt", {}, t("col.started")), h("dd", {}, whenRelative(run.created_at)),
        h("dt", {}, t("wf.ended")), h("dd", {}, whenRelative(run.finished_at)),
        Object.keys(run.params).length ? [h("dt", {}, t("editor.params")),
          h("dd", {}, Object.entries(run.params).map(([k, v]) => h("code", { class: "tag" }, `${k}=${v}`)))] : null)),
      table([t("wf.step"), t("col.task"), t("col.state"), t("wf.tries"), t("col.id"), t("run.outputs"), t("run.outcome"), ""],
        run.steps.map((s) => [
          h("strong", {}, s.step), h("a", { href: `/tasks/${encodeURIComponent(s.task)}` }, s.task), badge(s.state),
          String(s.tries), s.run_id ? h("a", { href: `/runs/${s.run_id}` }, `#${s.run_id}`) : "",
          Object.entries(s.outputs).map(([k, v]) => h("code", { class: "tag" }, `${k}=${v}`)),
          h("span", { class: s.state === "failed" ? "clip error-text" : "clip" }, s.error || ""),
          operator && s.state === "failed" ? h("span", { class: "actions" },
            h("button", { type: "button", class: "ghost", "data-retry": s.step,
              onclick: () => act(`/workflow-runs/${id}/steps/${encodeURIComponent(s.step)}/retry`, t("wf.retried", { step: s.step })) }, t("run.retry")),
            h("button", { type: "button", class: "ghost",
              onclick: () => act(`/workflow-runs/${id}/steps/${encodeURIComponent(s.step)}/succeed`, t("wf.marked", { step: s.step })) }, t("wf.markSucceeded")))
            : "",
        ])));
    return run.state;
  };
  let state = await draw();
  // Followed while it runs (a retry starts it running again).
  const timer = setInterval(() => {
    if (document.visibilityState === "visible" && state === "running") {
      draw().then((now) => { state = now; }).catch(() => {});
    }
  }, 2000);
  app.cleanup.push(() => clearInterval(timer));
}
