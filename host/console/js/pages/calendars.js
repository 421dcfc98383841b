// Calendars: named sets of times in which tasks naming them do not fire
// (Quartz's six kinds, each optionally on a base calendar, read in a
// zone). Lists them with the tasks that use them and what is wrong with
// any; editors add, replace and remove them, with the API's errors on the
// field they name.

import { api } from "../api.js";
import { h, fill, whenRelative, table, notify } from "../dom.js";
import { t } from "../i18n.js";

const KINDS = ["annual", "holiday", "monthly", "weekly", "daily", "cron"];

/** What each kind's `excludes` looks like. */
const EXAMPLES = {
  annual: "12-25, 01-01", holiday: "2026-12-25, 2027-01-01", monthly: "1, 15, L",
  weekly: "SAT, SUN", daily: "12:00-13:00  |  outside 08:00-18:00", cron: "* * 0-7 ? * MON-FRI",
};

export async function calendars(view, app) {
  const list = await api("/calendars");
  const details = await Promise.all(list.calendars.map((c) =>
    api(`/calendars/${encodeURIComponent(c.name)}`).catch(() => ({ tasks: [] }))));
  const again = () => app.go("/calendars", { replace: true });
  const editor = app.can("editor") ? form(again) : null;
  fill(view,
    h("h1", {}, t("cal.title")),
    h("p", { class: "muted" }, t("cal.about")),
    editor ? editor.element : null,
    table([t("col.name"), t("cal.kind"), t("cal.excludes"), t("cal.base"), t("cal.zone"), t("modules.usedBy"),
      t("modules.updated"), ""],
    list.calendars.map((c, i) => [
      h("span", {}, h("code", { class: "strong" }, c.name),
        c.description ? h("div", { class: "muted small" }, c.description) : null,
        c.problem ? h("div", { class: "error-text small", role: "note" }, c.problem) : null),
      t(`cal.kind.${c.kind}`),
      h("code", { class: "clip", title: c.excludes }, c.excludes),
      c.base ? h("code", {}, c.base) : h("span", { class: "muted" }, t("none")),
      c.time_zone || h("span", { class: "muted" }, t("cal.taskZone")),
      (details[i].tasks || []).length
        ? details[i].tasks.map((task) => h("a", { href: `/tasks/${encodeURIComponent(task)}`, class: "tag" }, task))
        : h("span", { class: "muted" }, t("none")),
      whenRelative(c.updated_at),
      editor ? h("span", { class: "actions" },
        h("button", { type: "button", class: "ghost", "data-edit": c.name, onclick: () => editor.load(c) }, t("task.edit")),
        h("button", { type: "button", class: "ghost danger", onclick: async () => {
          if (!confirm(t("cal.confirmRemove", { name: c.name }))) return;
          try {
            await api(`/calendars/${encodeURIComponent(c.name)}`, { method: "DELETE" });
            notify(t("cal.removed", { name: c.name }));
            again();
          } catch (error) {
            notify(error.message, "error");
          }
        } }, t("modules.remove"))) : "",
    ]), { empty: t("cal.none") }));
}

/** The add-or-replace form; `load` fills it with a calendar to change. */
function form(again) {
  const controls = {};
  const errors = {};
  const field = (key, control, hint, wide = false) => {
    control.id = `cal-${key}`;
    control.setAttribute("aria-describedby", `cal-${key}-hint cal-${key}-error`);
    controls[key] = control;
    errors[key] = h("span", { class: "field-error", id: `cal-${key}-error`, role: "alert" });
    return h("div", { class: `form-field${wide ? " wide" : ""}` },
      h("label", { for: control.id }, t(`cal.${key}`)), control,
      h("span", { class: "hint", id: `cal-${key}-hint` }, hint || ""), errors[key]);
  };
  const kind = h("select", {}, KINDS.map((k) => h("option", { value: k }, t(`cal.kind.${k}`))));
  const excludes = h("input", { required: true, autocomplete: "off" });
  const showHint = () => {
    excludes.placeholder = EXAMPLES[kind.value];
    const hint = document.getElementById("cal-excludes-hint");
    if (hint) fill(hint, t("cal.example", { example: EXAMPLES[kind.value] }));
  };
  kind.addEventListener("change", showHint);
  const setError = (key, message) => {
    const target = controls[key] ? key : "excludes";
    errors[target].textContent = message;
    controls[target].setAttribute("aria-invalid", message ? "true" : "false");
  };
  const element = h("form", { class: "card", id: "calendar-form", onsubmit: async (event) => {
    event.preventDefault();
    for (const key of Object.keys(controls)) setError(key, "");
    const name = controls.name.value.trim();
    if (!name) {
      setError("name", t("cal.nameNeeded"));
      return;
    }
    const optional = (key) => controls[key].value.trim() || null;
    try {
      await api(`/calendars/${encodeURIComponent(name)}`, { method: "PUT", body: {
        kind: kind.value, excludes: excludes.value.trim(), base: optional("base"),
        time_zone: optional("time_zone"), description: optional("description"),
      } });
      notify(t("cal.saved", { name }));
      again();
    } catch (error) {
      setError({ tz: "time_zone" }[error.field] || error.field || "excludes", error.message);
    }
  } },
  h("h2", {}, t("cal.add")),
  h("div", { class: "form-grid" },
    field("name", h("input", { required: true, autocomplete: "off", placeholder: "cn-holidays" })),
    field("kind", kind),
    field("excludes", excludes, t("cal.example", { example: EXAMPLES.annual }), true),
    field("base", h("input", { autocomplete: "off" }), t("cal.baseHint")),
    field("time_zone", h("input", { autocomplete: "off", placeholder: "Asia/Shanghai" }), t("cal.zoneHint")),
    field("description", h("input", { autocomplete: "off" }))),
  h("div", { class: "actions" }, h("button", { type: "submit", id: "calendar-save" }, t("cal.save"))));
  excludes.placeholder = EXAMPLES.annual;
  const load = (c) => {
    controls.name.value = c.name;
    kind.value = c.kind;
    showHint();
    excludes.value = c.excludes;
    controls.base.value = c.base || "";
    controls.time_zone.value = c.time_zone || "";
    controls.description.value = c.description || "";
    element.scrollIntoView({ block: "start" });
    excludes.focus();
  };
  return { element, load };
}
