// The hosts serving this database: alive or silent (the server decides,
// by its node timeout), their labels, and how many runs each holds
// against its capacity.

import { api } from "../api.js";
import { h, fill, when, relative, table } from "../dom.js";
import { t } from "../i18n.js";

export async function nodes(view, app) {
  const draw = async () => {
    const list = await api("/nodes");
    const now = Date.now();
    fill(view, h("h1", {}, t("nodes.title")),
      table([t("col.node"), t("col.alive"), t("col.heartbeat"), t("col.held"), t("col.labels"), t("col.since")],
        list.nodes.map((n) => {
          const alive = n.alive;
          return [
            h("code", {}, n.id),
            h("span", { class: `badge ${alive ? "s-succeeded" : "s-failed"}` }, t(alive ? "nodes.alive" : "nodes.dead")),
            h("span", { title: new Date(n.heartbeat_at).toISOString() }, relative(n.heartbeat_at, now)),
            h("span", { class: "meter" }, h("meter", { min: 0, max: Math.max(1, n.capacity), value: n.running }),
              ` ${n.running} / ${n.capacity}`),
            n.labels ? n.labels.split(",").map((l) => h("span", { class: "tag" }, l.trim())) : h("span", { class: "muted" }, t("none")),
            when(n.started_at),
          ];
        }), { empty: t("nodes.none") }));
  };
  await draw();
  const timer = setInterval(() => draw().catch(() => {}), 5000);
  app.cleanup.push(() => clearInterval(timer));
}
