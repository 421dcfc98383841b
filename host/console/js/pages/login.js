// Sign in with a user's name and password. The API sets the session
// cookie (HttpOnly, SameSite=Strict) and answers the CSRF token.

import { api, setCsrf } from "../api.js";
import { h, fill } from "../dom.js";
import { t } from "../i18n.js";

export async function login(view, app) {
  const next = new URLSearchParams(location.search).get("next") || "/";
  const error = h("p", { class: "error-text", role: "alert", id: "login-error" });
  const form = h("form", { class: "card login", onsubmit: async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    error.textContent = "";
    try {
      app.session = await api("/login", { method: "POST", body: { name: data.name, password: data.password } });
      setCsrf(app.session.csrf_token);
      app.go(next.startsWith("/") && !next.startsWith("//") ? next : "/", { replace: true });
    } catch (failure) {
      error.textContent = failure.message;
    }
  } },
  h("h1", {}, t("login.title")),
  h("label", { class: "field" }, h("span", {}, t("login.name")),
    h("input", { name: "name", autocomplete: "username", required: true, autofocus: true })),
  h("label", { class: "field" }, h("span", {}, t("login.password")),
    h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
  error,
  h("button", { type: "submit" }, t("login.submit")),
  h("p", { class: "muted small" }, t("login.hint")));
  fill(view, form);
}
