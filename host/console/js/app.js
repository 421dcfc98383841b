// The console's entry: who is signed in, the header, and which view the
// path shows. Links inside the console change the view without reloading
// the page; the back button works as on any site.

import { api, ApiError, setCsrf } from "./api.js";
import { h, fill } from "./dom.js";
import { t, language, setLanguage } from "./i18n.js";
import { dashboard } from "./pages/dashboard.js";
import { tasks } from "./pages/tasks.js";
import { task } from "./pages/task.js";
import { runs } from "./pages/runs.js";
import { run } from "./pages/run.js";
import { nodes } from "./pages/nodes.js";
import { login } from "./pages/login.js";
import { editor } from "./pages/editor.js";
import { modules } from "./pages/modules.js";
import { delays } from "./pages/delays.js";
import { misfires } from "./pages/misfires.js";
import { audit } from "./pages/audit.js";
import { access } from "./pages/access.js";
import { calendars } from "./pages/calendars.js";
import { workflows, workflowRun } from "./pages/workflows.js";
import { alerts } from "./pages/alerts.js";

const ROUTES = [
  [/^\/$/, dashboard, "nav.dashboard"],
  [/^\/tasks$/, tasks, "nav.tasks"],
  [/^\/tasks\/new$/, editor, "nav.tasks"],
  [/^\/tasks\/([^/]+)\/edit$/, editor, "nav.tasks"],
  [/^\/tasks\/([^/]+)$/, task, "nav.tasks"],
  [/^\/runs$/, runs, "nav.runs"],
  [/^\/runs\/(\d+)$/, run, "nav.runs"],
  [/^\/nodes$/, nodes, "nav.nodes"],
  [/^\/modules$/, modules, "nav.modules"],
  [/^\/delays$/, delays, "nav.delays"],
  [/^\/misfires$/, misfires, "nav.misfires"],
  [/^\/calendars$/, calendars, "nav.calendars"],
  [/^\/workflows$/, workflows, "nav.workflows"],
  [/^\/workflows\/runs\/(\d+)$/, workflowRun, "nav.workflows"],
  [/^\/alerts$/, alerts, "nav.alerts"],
  [/^\/audit$/, audit, "nav.audit"],
  [/^\/access$/, access, "nav.access"],
  [/^\/login$/, login, null],
];

// [path, words, role needed]; the pages after MAIN are under "More".
const MAIN = 5;
const NAV = [["/", "nav.dashboard"], ["/tasks", "nav.tasks"], ["/runs", "nav.runs"], ["/workflows", "nav.workflows"],
  ["/alerts", "nav.alerts"], ["/delays", "nav.delays"], ["/calendars", "nav.calendars"], ["/modules", "nav.modules"], ["/nodes", "nav.nodes"], ["/misfires", "nav.misfires"],
  ["/audit", "nav.audit", "admin"], ["/access", "nav.access", "admin"]];

/** What every view is given: the session and how to move on. */
const app = {
  session: null,
  /** Whether the caller's role is at least `role` (the API decides
   * anyway; this only hides what it would refuse). */
  can(role) {
    const rank = ["viewer", "operator", "editor", "admin"];
    return Boolean(this.session) && rank.indexOf(this.session.role) >= rank.indexOf(role);
  },
  go(path, { replace = false } = {}) {
    if (replace) history.replaceState(null, "", path);
    else history.pushState(null, "", path);
    render();
  },
  /** Stops what the current view left running (a live log). */
  cleanup: [],
};

async function loadSession() {
  try {
    app.session = await api("/session");
    setCsrf(app.session.csrf_token);
  } catch (error) {
    app.session = null;
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
}

function header(section) {
  const link = ([path, key]) => h("a", { href: path, "aria-current": section === key ? "page" : undefined }, t(key));
  const more = NAV.slice(MAIN).filter(([, , role]) => !role || app.can(role));
  const inMore = more.some(([, key]) => key === section);
  fill(document.getElementById("nav"), NAV.slice(0, MAIN).map(link),
    h("details", { class: "more" },
      h("summary", { "aria-current": inMore ? "page" : undefined }, inMore ? t(section) : t("nav.more")),
      h("div", { class: "menu" }, more.map(link))));
  const who = document.getElementById("who");
  const logout = document.getElementById("logout");
  if (app.session) {
    const name = app.session.actor === "loopback" ? t("local") : app.session.actor.replace(/^user:/, "");
    fill(who, h("span", {}, name), h("span", { class: "role" }, t(`role.${app.session.role}`)));
    logout.hidden = !app.session.actor.startsWith("user:");
    logout.textContent = t("logout");
  } else {
    who.replaceChildren();
    logout.hidden = true;
  }
  document.documentElement.lang = language() === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").value = language();
  document.querySelector(".skip").textContent = language() === "zh" ? "跳到内容" : "Skip to content";
}

/** The path last drawn: focus moves to the view only when it changes. */
let drawn = null;

async function render() {
  for (const stop of app.cleanup.splice(0)) stop();
  const path = location.pathname;
  const moved = drawn !== null && drawn !== path;
  drawn = path;
  const view = document.getElementById("view");
  if (app.session === null && path !== "/login") {
    try {
      await loadSession();
    } catch (error) {
      header(null);
      fill(view, h("p", { class: "card error" }, t("err.load", { message: error.message })));
      return;
    }
    if (app.session === null) {
      app.go(`/login?next=${encodeURIComponent(path + location.search)}`, { replace: true });
      return;
    }
  }
  const found = ROUTES.map(([pattern, page, section]) => [path.match(pattern), page, section])
    .find(([match]) => match);
  header(found ? found[2] : null);
  if (!found) {
    fill(view, h("h1", {}, t("err.notFound")));
    return;
  }
  const [match, page] = found;
  try {
    await page(view, app, ...match.slice(1).map(decodeURIComponent));
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      app.session = null;
      app.go(`/login?next=${encodeURIComponent(path)}`, { replace: true });
      return;
    }
    fill(view, h("p", { class: "card error", role: "alert" }, t("err.load", { message: error.message })));
  }
  const title = view.querySelector("h1");
  document.title = title ? `${title.textContent} · Carillon` : "Carillon";
  // A new page: keyboard and screen reader users start at its content.
  if (moved) view.focus({ preventScroll: true });
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || link.target || link.origin !== location.origin ||
      link.pathname.startsWith("/api/") || link.pathname.startsWith("/assets/")) return;
  event.preventDefault();
  app.go(link.pathname + link.search);
});

window.addEventListener("popstate", render);

// The "More" menu closes when anything outside it is clicked.
document.addEventListener("click", (event) => {
  const open = document.querySelector("#nav details.more[open]");
  if (open && !open.contains(event.target)) open.open = false;
});

document.getElementById("lang").addEventListener("change", (event) => {
  setLanguage(event.target.value);
  render();
});

document.getElementById("logout").addEventListener("click", async () => {
  await api("/logout", { method: "POST" }).catch(() => {});
  app.session = null;
  setCsrf(null);
  app.go("/login", { replace: true });
});

export { app, loadSession };
render();
