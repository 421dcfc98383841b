// Job modules stored in the database: digest, size, where each came from
// and when, which tasks use it; upload a `.wasm` (checked by the sandbox
// before it is stored) and remove one.

import { api } from "../api.js";
import { h, fill, whenRelative, table, notify } from "../dom.js";
import { t } from "../i18n.js";

const size = (bytes) => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`);

export async function modules(view, app) {
  const list = await api("/modules");
  const users = await Promise.all(list.modules.map((m) =>
    api("/tasks", { query: { module: m.name, limit: 5 } }).catch(() => ({ tasks: [], total: 0 }))));
  const again = () => app.go("/modules", { replace: true });
  const file = h("input", { type: "file", id: "module-file", accept: ".wasm,application/wasm", required: true });
  const name = h("input", { id: "module-name", required: true, placeholder: "report", autocomplete: "off" });
  file.addEventListener("change", () => {
    if (!name.value && file.files[0]) name.value = file.files[0].name.replace(/\.wasm$/, "");
  });
  const upload = app.can("editor") ? h("form", { class: "card filters", onsubmit: async (event) => {
    event.preventDefault();
    if (!file.files[0] || !name.value.trim()) return;
    try {
      const done = await api(`/modules/${encodeURIComponent(name.value.trim())}`,
        { method: "PUT", raw: await file.files[0].arrayBuffer() });
      notify(t("modules.uploaded", { name: done.name, digest: done.digest.slice(0, 12) }));
      again();
    } catch (error) {
      notify(error.message, "error");
    }
  } },
  h("label", { class: "field" }, h("span", {}, t("modules.file")), file),
  h("label", { class: "field" }, h("span", {}, t("modules.name")), name),
  h("button", { type: "submit" }, t("modules.upload"))) : null;
  fill(view,
    h("h1", {}, t("modules.title")),
    h("p", { class: "muted" }, t("modules.about")),
    upload,
    table([t("col.name"), t("modules.digest"), t("modules.size"), t("modules.source"), t("modules.updated"),
      t("modules.usedBy"), ""],
    list.modules.map((m, i) => [
      h("code", { class: "strong" }, m.name),
      h("code", { title: m.digest }, m.digest.slice(0, 12)),
      size(m.size), h("code", {}, m.source), whenRelative(m.updated_at),
      users[i].tasks.length
        ? [users[i].tasks.map((task) => h("a", { href: `/tasks/${encodeURIComponent(task.name)}`, class: "tag" }, task.name)),
          users[i].total > users[i].tasks.length ? h("span", { class: "muted" }, ` +${users[i].total - users[i].tasks.length}`) : null]
        : h("span", { class: "muted" }, t("none")),
      app.can("editor") && m.source === "push" ? h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(t("modules.confirmRemove", { name: m.name }))) return;
        try {
          await api(`/modules/${encodeURIComponent(m.name)}`, { method: "DELETE" });
          again();
        } catch (error) {
          notify(error.message, "error");
        }
      } }, t("modules.remove")) : "",
    ]), { empty: t("modules.none") }));
}
