// Users and API tokens (admins only): who may sign in to the console and
// which programs may call the API, with their roles and task groups. A new
// token is shown once, when it is made; the table keeps only its hash.

import { api } from "../api.js";
import { h, fill, when, whenRelative, table, notify } from "../dom.js";
import { t } from "../i18n.js";

const ROLES = ["viewer", "operator", "editor", "admin"];
const groupsOf = (text) => {
  const groups = text.split(",").map((g) => g.trim()).filter(Boolean);
  return groups.length ? groups : null;
};

export async function access(view, app) {
  if (!app.can("admin")) {
    fill(view, h("h1", {}, t("access.title")), h("p", { class: "card" }, t("access.adminOnly")));
    return;
  }
  const [users, tokens] = await Promise.all([api("/users"), api("/tokens")]);
  const again = () => app.go("/access", { replace: true });
  const act = (call) => async (event) => {
    event.preventDefault();
    try {
      await call(event.target);
    } catch (error) {
      notify(error.message, "error");
    }
  };
  const roleSelect = (name) => h("select", { name }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const field = (label, control) => h("label", { class: "field" }, h("span", {}, label), control);
  const created = h("div", {});
  fill(view, h("h1", {}, t("access.title")),
    h("section", { class: "card" }, h("h2", {}, t("access.users")),
      h("form", { class: "filters", id: "add-user", onsubmit: act(async (form) => {
        const data = Object.fromEntries(new FormData(form).entries());
        await api("/users", { method: "POST", body: { name: data.name.trim(), role: data.role,
          password: data.password, groups: groupsOf(data.groups) } });
        notify(t("access.userAdded", { name: data.name.trim() }));
        again();
      }) },
      field(t("col.name"), h("input", { name: "name", required: true, autocomplete: "off" })),
      field(t("access.role"), roleSelect("role")),
      field(t("login.password"), h("input", { name: "password", type: "password", required: true, minlength: 8, autocomplete: "new-password" })),
      field(t("access.groups"), h("input", { name: "groups", placeholder: t("access.allGroups") })),
      h("button", { type: "submit" }, t("access.addUser"))),
      table([t("col.name"), t("access.role"), t("access.groups"), t("access.created"), t("access.lastLogin"), ""],
        users.users.map((u) => [
          h("strong", {}, u.name), t(`role.${u.role}`), u.groups ? u.groups.join(", ") : t("access.allGroups"),
          when(u.created_at), u.last_login_at ? whenRelative(u.last_login_at) : t("never"),
          h("button", { type: "button", class: "danger", onclick: act(async () => {
            if (!confirm(t("access.confirmRemove", { name: u.name }))) return;
            await api(`/users/${encodeURIComponent(u.name)}`, { method: "DELETE" });
            again();
          }) }, t("modules.remove")),
        ]), { empty: t("none") })),
    h("section", { class: "card" }, h("h2", {}, t("access.tokens")),
      h("form", { class: "filters", id: "add-token", onsubmit: act(async (form) => {
        const data = Object.fromEntries(new FormData(form).entries());
        const made = await api("/tokens", { method: "POST", body: { name: data.name.trim(), role: data.role,
          groups: groupsOf(data.groups), expires_in: data.expires_in.trim() || null } });
        fill(created, h("p", { class: "card once" }, t("access.tokenOnce"), h("br"), h("code", { id: "new-token" }, made.token)));
      }) },
      field(t("col.name"), h("input", { name: "name", required: true, autocomplete: "off" })),
      field(t("access.role"), roleSelect("role")),
      field(t("access.groups"), h("input", { name: "groups", placeholder: t("access.allGroups") })),
      field(t("access.expiresIn"), h("input", { name: "expires_in", placeholder: "90d" })),
      h("button", { type: "submit" }, t("access.addToken"))),
      created,
      table([t("col.name"), t("access.role"), t("access.groups"), t("access.created"), t("access.expires"), t("access.lastUsed"), ""],
        tokens.tokens.map((k) => [
          h("code", {}, k.name), t(`role.${k.role}`), k.groups ? k.groups.join(", ") : t("access.allGroups"),
          when(k.created_at), k.expires_at ? whenRelative(k.expires_at) : t("never"),
          k.last_used_at ? whenRelative(k.last_used_at) : t("never"),
          h("button", { type: "button", class: "danger", onclick: act(async () => {
            if (!confirm(t("access.confirmRevoke", { name: k.name }))) return;
            await api(`/tokens/${encodeURIComponent(k.name)}`, { method: "DELETE" });
            again();
          }) }, t("access.revoke")),
        ]), { empty: t("none") })));
}
