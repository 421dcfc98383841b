// One run: its context (task, shard, page, attempt, node, module digest,
// timings), its outcome, and its log, followed live over server-sent
// events while it runs, with a level filter; cancel and retry for
// operators and admins.

import { api } from "../api.js";
import { h, fill, when, badge, took, notify } from "../dom.js";
import { t, stateName } from "../i18n.js";

const LEVELS = ["trace", "debug", "info", "warn", "error"];

/** Why a run exists, with a link to the parent fire's task: `after TASK@SLOT END`. */
function cause(text) {
  const after = text.match(/^after (.+)@(\d+) (\w+)$/);
  if (!after) return text;
  return h("span", {}, t("run.after"), " ", h("a", { href: `/tasks/${encodeURIComponent(after[1])}` }, after[1]),
    " ", when(Number(after[2])), ` (${stateName(after[3])})`);
}

export async function run(view, app, id) {
  const row = await api(`/runs/${id}`);
  const context = h("section", { class: "card" });
  const head = h("div", { class: "title-row" });
  const drawHead = (r) => {
    const final = !["pending", "running"].includes(r.state);
    fill(head, h("h1", {}, t("run.title", { id: r.id })), badge(r.state),
      app.can("operator") ? h("div", { class: "actions" },
        final ? null : h("button", { type: "button", class: "danger", onclick: async () => {
          try {
            const done = await api(`/runs/${r.id}/cancel`, { method: "POST" });
            notify(t("run.cancelled", { outcome: done.outcome }));
          } catch (error) {
            notify(error.message, "error");
          }
        } }, t("run.cancel")),
        final && r.state !== "succeeded" ? h("button", { type: "button", onclick: async () => {
          try {
            await api(`/runs/${r.id}/retry`, { method: "POST" });
            notify(t("run.retried"));
            app.go(`/runs/${r.id}`, { replace: true });
          } catch (error) {
            notify(error.message, "error");
          }
        } }, t("run.retry")) : null) : null);
    fill(context, h("h2", {}, t("run.context")), h("dl", { class: "facts" },
      h("dt", {}, t("col.task")), h("dd", {}, h("a", { href: `/tasks/${encodeURIComponent(r.task)}` }, r.task)),
      h("dt", {}, t("run.shard")), h("dd", {}, t("run.shardOf", { i: r.shard_index, n: r.shard_total })),
      h("dt", {}, t("run.page")), h("dd", {}, r.page_index === null ? t("none") : String(r.page_index)),
      h("dt", {}, t("col.attempt")), h("dd", {}, String(r.attempt)),
      h("dt", {}, t("col.node")), h("dd", {}, r.node || t("none")),
      h("dt", {}, t("run.digest")), h("dd", {}, r.module_digest ? h("code", { class: "clip" }, r.module_digest) : t("none")),
      h("dt", {}, t("run.scheduled")), h("dd", {}, when(r.scheduled_at)),
      h("dt", {}, t("col.started")), h("dd", {}, when(r.started_at)),
      h("dt", {}, t("run.finished")), h("dd", {}, when(r.finished_at)),
      h("dt", {}, t("col.took")), h("dd", {}, took(r.finished_at && r.started_at ? r.finished_at - r.started_at : null)),
      h("dt", {}, t("run.items")), h("dd", {}, r.items === null ? t("none") : String(r.items)),
      r.cause ? [h("dt", {}, t("run.cause")), h("dd", {}, cause(r.cause))] : null,
      h("dt", {}, t("run.outcome")), h("dd", { class: r.error ? "error-text" : "" }, r.error || r.summary || t("none")),
      Object.keys(r.outputs || {}).length ? [h("dt", {}, t("run.outputs")), h("dd", {},
        h("dl", { class: "facts" }, Object.entries(r.outputs).map(([k, v]) => [h("dt", {}, h("code", {}, k)), h("dd", {}, v)])))]
        : null));
  };
  drawHead(row);

  const lines = h("ol", { class: "log", id: "log", "aria-live": "polite" });
  const status = h("span", { class: "live" });
  const level = h("select", { id: "log-level", "aria-label": t("run.level") },
    h("option", { value: "" }, t("all")), LEVELS.map((l) => h("option", { value: l }, l)));
  const minimum = () => (level.value ? LEVELS.indexOf(level.value) : -1);
  const shown = (line) => LEVELS.indexOf(line.level) >= minimum();
  level.addEventListener("change", () => {
    for (const li of lines.children) li.hidden = !shown(li.dataset);
  });
  fill(view,
    h("p", { class: "crumbs" }, h("a", { href: "/runs" }, t("nav.runs")), " / "),
    head,
    h("div", { class: "grid2 wide-right" }, context,
      h("section", { class: "card" },
        h("div", { class: "title-row" }, h("h2", {}, t("run.log")), status,
          h("label", { class: "inline" }, h("span", {}, `${t("run.level")} ≥ `), level)),
        lines)));

  const source = new EventSource(`/api/v1/runs/${id}/logs/stream`);
  app.cleanup.push(() => source.close());
  fill(status, h("i", { class: "pulse" }), t("run.live"));
  source.addEventListener("line", (event) => {
    const line = JSON.parse(event.data);
    const li = h("li", { class: `lv-${line.level}` },
      h("time", { title: new Date(line.at).toISOString() }, new Date(line.at).toLocaleTimeString()),
      h("span", { class: "lvl" }, line.level),
      line.source !== "guest" ? h("span", { class: "src" }, line.source) : null,
      h("span", { class: "msg" }, line.message),
      line.fields.map(([k, v]) => h("span", { class: "kv" }, `${k}=${v}`)));
    li.dataset.level = line.level;
    li.hidden = !shown(line);
    lines.append(li);
  });
  source.addEventListener("end", async (event) => {
    source.close();
    const { state } = JSON.parse(event.data);
    fill(status, t("run.ended", { state: stateName(state) }));
    if (!lines.children.length) lines.append(h("li", { class: "muted" }, t("run.noLines")));
    drawHead(await api(`/runs/${id}`));
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) fill(status, "");
  };
}
