// The dashboard: how the host is doing at a glance. Counts, a chart of the
// last day's or week's runs by hour and state (counted by the server),
// how late runs start, and the most recent failures with links to them.

import { api } from "../api.js";
import { h, fill, when, whenRelative, badge, table, took } from "../dom.js";
import { t, stateName } from "../i18n.js";

const DAY = 24 * 3600 * 1000;
const HOUR = 3600 * 1000;
const FAILED = new Set(["failed", "timed-out", "orphaned"]);
/** How many of the newest runs the dashboard reads for lateness. */
const RECENT = 200;
/** How many recent failures it lists. */
const FAILURES_SHOWN = 8;
/** The chart's spans: hours asked for, and hours per bar. */
const SPANS = { day: [24, 1], week: [168, 6] };

export async function dashboard(view, app) {
  const span = new URLSearchParams(location.search).get("chart") === "week" ? "week" : "day";
  await draw(view, span);
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") draw(view, span).catch(() => {});
  }, 10000);
  app.cleanup.push(() => clearInterval(timer));
}

async function draw(view, span) {
  const now = Date.now();
  // The newest runs by id (an index walk at any table size) rather than a
  // time filter; the hourly counts come from the server, which remembers
  // the hours that are over; hosts report how many runs they hold now.
  // Failures are read by state, so a busy host's successes do not hide them.
  const [taskList, newest, perHour, misfires, nodeList, ...failedLists] = await Promise.all([
    api("/tasks", { query: { limit: 1 } }),
    api("/runs", { query: { limit: RECENT } }),
    api("/stats/runs", { query: { hours: SPANS[span][0] } }),
    api("/misfires", { query: { limit: 1000 } }),
    api("/nodes"),
    ...[...FAILED].map((state) => api("/runs", { query: { state, from: now - DAY, limit: FAILURES_SHOWN } })),
  ]);
  const lastDay = newest.runs.filter((r) => r.scheduled_at >= now - DAY);
  const failures = failedLists.flatMap((list) => list.runs).sort((a, b) => b.id - a.id);
  const failedInDay = perHour.hours.filter((hour) => hour.hour + HOUR > now - DAY)
    .reduce((sum, hour) => sum + [...FAILED].reduce((n, s) => n + (hour.runs[s] || 0), 0), 0);
  const runningNow = nodeList.nodes.filter((n) => n.alive).reduce((sum, n) => sum + n.running, 0);
  const missed = misfires.misfires.filter((m) => m.recorded_at >= now - DAY)
    .reduce((sum, m) => sum + m.missed, 0);
  const live = nodeList.nodes.filter((n) => n.alive).length;
  // A first attempt of a fire from the schedule or a trigger: a retry
  // starts after its backoff and a chained run or workflow step is stamped
  // in a past slot, so neither says how late the host was.
  const late = lastDay.filter((r) => r.started_at && r.attempt === 1 && !r.cause)
    .map((r) => Math.max(0, r.started_at - r.scheduled_at)).sort((a, b) => a - b);
  const quantile = (q) => (late.length ? late[Math.min(late.length - 1, Math.floor(q * late.length))] : null);
  const spanLink = (which) => h("a", { href: which === "day" ? "/" : "/?chart=week", class: "button ghost small",
    "aria-current": which === span ? "true" : null, "data-span": which }, t(`dash.${which}`));

  fill(view,
    h("h1", {}, t("dash.title")),
    h("section", { class: "tiles", "aria-label": t("dash.title") },
      tile(t("dash.tasks"), `${taskList.total}${taskList.total_capped ? "+" : ""}`, "/tasks"),
      tile(t("dash.running"), String(runningNow), "/runs?state=running"),
      tile(t("dash.failed"), String(failedInDay), "/runs?state=failed", failedInDay ? "bad" : ""),
      tile(t("dash.misfires"), String(missed), "/misfires", missed ? "warn" : ""),
      tile(t("dash.nodes"), `${live} / ${nodeList.nodes.length}`, "/nodes", live ? "" : "warn")),
    h("div", { class: "grid2" },
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("h2", {}, t("nav.runs")),
          h("nav", { class: "spans", "aria-label": t("dash.span") }, spanLink("day"), spanLink("week"))),
        chart(perHour.hours, SPANS[span][1], span), legend()),
      h("section", { class: "card" }, h("h2", {}, t("dash.lateness")),
        h("dl", { class: "facts big" },
          h("dt", {}, t("dash.p50")), h("dd", {}, took(quantile(0.5))),
          h("dt", {}, t("dash.p99")), h("dd", {}, took(quantile(0.99)))))),
    h("section", { class: "card" }, h("h2", {}, t("dash.recentFailures")),
      table([t("col.id"), t("col.task"), t("col.state"), t("col.slot"), t("col.summary")],
        failures.slice(0, FAILURES_SHOWN).map((r) => [
          h("a", { href: `/runs/${r.id}` }, `#${r.id}`),
          h("a", { href: `/tasks/${encodeURIComponent(r.task)}` }, r.task),
          badge(r.state), whenRelative(r.scheduled_at),
          h("span", { class: "clip" }, r.error || r.summary || ""),
        ]), { empty: t("dash.noFailures") })),
    h("section", { class: "card" }, h("h2", {}, t("dash.recent")),
      table([t("col.id"), t("col.task"), t("col.state"), t("col.started"), t("col.took")],
        newest.runs.slice(0, 8).map((r) => [
          h("a", { href: `/runs/${r.id}` }, `#${r.id}`),
          h("a", { href: `/tasks/${encodeURIComponent(r.task)}` }, r.task),
          badge(r.state), when(r.started_at),
          took(r.finished_at && r.started_at ? r.finished_at - r.started_at : null),
        ]), { empty: t("runs.none") })));
}

function tile(label, value, href, tone = "") {
  const body = [h("span", { class: "tile-value" }, value), h("span", { class: "tile-label" }, label)];
  return href ? h("a", { class: `tile ${tone}`, href }, body) : h("div", { class: `tile ${tone}` }, body);
}

const SERIES = [
  ["succeeded", (s) => s === "succeeded"],
  ["failed", (s) => FAILED.has(s)],
  ["running", (s) => s === "running" || s === "pending"],
  ["skipped", (s) => s === "skipped" || s === "cancelled"],
];

/** The runs of `hours`, `per` hours to a bar, stacked by state, as SVG. */
function chart(hours, per, span) {
  const buckets = [];
  for (let i = 0; i < hours.length; i += per) {
    const bar = SERIES.map(() => 0);
    for (const hour of hours.slice(i, i + per)) {
      for (const [state, count] of Object.entries(hour.runs)) {
        const series = SERIES.findIndex(([, test]) => test(state));
        if (series >= 0) bar[series] += count;
      }
    }
    buckets.push({ start: hours[i].hour, counts: bar });
  }
  const total = buckets.reduce((sum, b) => sum + b.counts.reduce((a, c) => a + c, 0), 0);
  const most = Math.max(1, ...buckets.map((b) => b.counts.reduce((a, c) => a + c, 0)));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 480 140");
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t(span === "week" ? "dash.chartWeek" : "dash.chartDay", { n: total }));
  const width = 480 / buckets.length;
  const label = (at) => (span === "week"
    ? new Date(at).toLocaleDateString([], { weekday: "short", day: "numeric" })
    : `${new Date(at).getHours()}:00`);
  buckets.forEach((bucket, i) => {
    let y = 120;
    bucket.counts.forEach((count, s) => {
      if (!count) return;
      const height = (count / most) * 110;
      y -= height;
      const rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(i * width + 1.5));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.max(1, width - 3)));
      rect.setAttribute("height", String(Math.max(1, height)));
      rect.setAttribute("class", `s-${SERIES[s][0]}`);
      const tip = document.createElementNS(ns, "title");
      tip.textContent = `${new Date(bucket.start).toLocaleString()} · ${stateName(SERIES[s][0])}: ${count}`;
      rect.append(tip);
      svg.append(rect);
    });
    if (i % (span === "week" ? 4 : 6) === 0) {
      const text = document.createElementNS(ns, "text");
      text.setAttribute("x", String(i * width + 2));
      text.setAttribute("y", "136");
      text.textContent = label(bucket.start);
      svg.append(text);
    }
  });
  return svg;
}

function legend() {
  return h("p", { class: "legend" }, SERIES.map(([state]) =>
    h("span", {}, h("i", { class: `dot s-${state}` }), stateName(state))));
}
