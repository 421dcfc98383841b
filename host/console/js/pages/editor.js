// The task editor: every column of the task table as a form, for a new
// task or an existing one. The API checks it exactly as SQL and the CLI
// are checked, and its error lands on the field it names. The schedule
// helper reads the expression out in words and shows its next five fire
// times in the task's zone as you type.

import { api, ApiError } from "../api.js";
import { h, fill, notify } from "../dom.js";
import { t } from "../i18n.js";
import { scheduleInWords } from "../schedule_words.js";

// [column, kind, required when creating]. Kinds: text, int, bool, time,
// choice:a|b|c, params.
const SECTIONS = [
  ["editor.basics", [["name", "text", true], ["module", "text", true], ["schedule", "text", true],
    ["time_zone", "text"], ["calendar", "text"], ["group", "text"], ["paused", "bool"]]],
  ["editor.running", [["shard_total", "int"], ["shard_params", "text"], ["page_size", "int"],
    ["concurrency", "choice:allow|forbid|replace"], ["misfire", "text"], ["timeout_ms", "int"],
    ["memory_mib", "int"], ["max_retries", "int"], ["retry_backoff_ms", "int"], ["selector", "text"]]],
  ["editor.window", [["start_at", "time"], ["end_at", "time"], ["keep_runs", "int"]]],
  ["editor.after", [["on_success", "text"], ["on_failure", "text"], ["keepers", "text"]]],
  ["editor.grants", [["allowed_hosts", "text"], ["secrets", "text"], ["mounts", "text"], ["databases", "text"]]],
  ["editor.params", [["params", "params"]]],
];
/** Columns that cannot be empty once a task exists. */
const REQUIRED = new Set(["module", "schedule", "time_zone", "group", "shard_total", "concurrency",
  "misfire", "max_retries", "retry_backoff_ms"]);

const toLocal = (ms) => (ms ? new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16) : "");

export async function editor(view, app, name) {
  const creating = name === undefined;
  const row = creating ? null : await api(`/tasks/${encodeURIComponent(name)}`);
  const controls = {};
  const errors = {};
  const field = ([column, kind, required]) => {
    if (column === "name" && !creating) return null;
    const id = `f-${column}`;
    const value = row ? row[column] : undefined;
    let control;
    if (kind === "bool") {
      control = h("input", { id, name: column, type: "checkbox", checked: Boolean(value) });
    } else if (kind.startsWith("choice:")) {
      control = h("select", { id, name: column }, kind.slice(7).split("|").map((v) =>
        h("option", { value: v, selected: (value ?? "allow") === v }, v)));
    } else if (kind === "params") {
      control = h("textarea", { id, name: column, rows: 4, placeholder: "NAME=VALUE" });
      control.value = value ? Object.entries(value).map(([k, v]) => `${k}=${v}`).join("\n") : "";
    } else {
      control = h("input", { id, name: column, type: kind === "int" ? "number" : kind === "time" ? "datetime-local" : "text",
        required: creating && required, autocomplete: "off", spellcheck: "false" });
      control.value = value === null || value === undefined ? "" : kind === "time" ? toLocal(value) : String(value);
    }
    controls[column] = [control, kind];
    errors[column] = h("span", { class: "field-error", id: `${id}-error`, role: "alert" });
    control.setAttribute("aria-describedby", `${id}-error ${id}-hint`);
    const hint = h("span", { class: "hint", id: `${id}-hint` }, t(`hint.${column}`) === `hint.${column}` ? "" : t(`hint.${column}`));
    return h("div", { class: `form-field ${kind === "params" ? "wide" : ""}` },
      h("label", { for: id }, column, creating && required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      control, hint, errors[column],
      column === "schedule" ? preview : null);
  };

  const words = h("p", { class: "words", id: "schedule-words" });
  const times = h("ol", { class: "times", id: "schedule-preview" });
  const preview = h("div", { class: "preview", "aria-live": "polite" }, words, times);
  const form = h("form", { class: "editor", novalidate: true, onsubmit: (event) => save(event) },
    SECTIONS.map(([title, fields]) => h("fieldset", { class: "card" }, h("legend", {}, t(title)),
      h("div", { class: "form-grid" }, fields.map(field)))),
    h("div", { class: "actions sticky" },
      h("button", { type: "submit", id: "save" }, t(creating ? "editor.create" : "editor.save")),
      h("a", { class: "button ghost", href: creating ? "/tasks" : `/tasks/${encodeURIComponent(name)}` }, t("editor.cancel"))));

  fill(view,
    h("p", { class: "crumbs" }, h("a", { href: "/tasks" }, t("nav.tasks")), " / ",
      creating ? null : h("a", { href: `/tasks/${encodeURIComponent(name)}` }, name)),
    h("h1", {}, creating ? t("editor.newTitle") : t("editor.editTitle", { name })),
    app.can("editor") ? form : h("p", { class: "card" }, t("editor.viewerOnly")));

  let asked = 0;
  const refresh = async () => {
    const expr = controls.schedule[0].value.trim();
    const tz = controls.time_zone[0].value.trim() || "UTC";
    const calendar = controls.calendar[0].value.trim() || undefined;
    const mine = ++asked;
    if (!expr) {
      fill(words);
      fill(times);
      return;
    }
    try {
      const next = await api("/cron/next", { query: { expr, tz, n: 5, calendar } });
      if (mine !== asked) return;
      setError("schedule", "");
      const said = scheduleInWords(expr);
      fill(words, said ? `${said} (${tz})` : tz);
      const zoned = new Intl.DateTimeFormat(undefined, { timeZone: tz, dateStyle: "medium", timeStyle: "medium" });
      fill(times, next.times.map((ms) => h("li", { title: new Date(ms).toISOString() }, zoned.format(new Date(ms)))));
    } catch (error) {
      if (mine !== asked) return;
      fill(words);
      fill(times);
      if (error instanceof ApiError) {
        setError({ tz: "time_zone", calendar: "calendar" }[error.field] || "schedule", error.message);
      }
    }
  };
  let timer = 0;
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  };
  if (app.can("editor")) {
    controls.schedule[0].addEventListener("input", soon);
    controls.time_zone[0].addEventListener("input", soon);
    controls.calendar[0].addEventListener("input", soon);
    app.cleanup.push(() => clearTimeout(timer));
    refresh();
  }

  function setError(column, message) {
    const [control] = controls[column] || [];
    if (!control) return;
    errors[column].textContent = message;
    if (message) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  }

  async function save(event) {
    event.preventDefault();
    for (const column of Object.keys(controls)) setError(column, "");
    const body = {};
    for (const [column, [control, kind]] of Object.entries(controls)) {
      let value;
      if (kind === "bool") value = control.checked;
      else if (kind === "params") {
        value = {};
        for (const line of control.value.split("\n")) {
          const at = line.indexOf("=");
          if (at > 0) value[line.slice(0, at).trim()] = line.slice(at + 1).trim();
        }
      } else {
        const text = control.value.trim();
        if (text === "") value = null;
        else if (kind === "int") value = Number(text);
        else if (kind === "time") value = new Date(text).getTime();
        else value = text;
      }
      if (value === null && (creating || REQUIRED.has(column))) continue;
      body[column] = value;
    }
    try {
      if (creating) {
        await api("/tasks", { method: "POST", body });
        notify(t("editor.created", { name: body.name }));
        app.go(`/tasks/${encodeURIComponent(body.name)}`);
      } else {
        await api(`/tasks/${encodeURIComponent(name)}`, { method: "PATCH", body });
        notify(t("editor.saved"));
        app.go(`/tasks/${encodeURIComponent(name)}`);
      }
    } catch (error) {
      const column = error.field === "tz" ? "time_zone" : error.field;
      if (error instanceof ApiError && column && controls[column]) {
        setError(column, error.message);
        controls[column][0].focus();
      } else {
        notify(error.message, "error");
      }
    }
  }
}
