// Log in (with the second factor when enabled) and sign up.

import { api, session } from "../api.js";
import { el, field, form } from "../ui.js";

async function logIn(email, password, totp) {
  const body = { email, password };
  if (totp) body.totp = totp;
  const created = await api("POST", "/v1/sessions", body);
  session.start(created.token, email);
  window.dispatchEvent(new Event("session-started"));
  location.hash = "#/trade";
}

export async function showLogIn(view) {
  view.append(el("h2", { text: "Log in" }), form("login", [
    field("Email", "email", { type: "email", autocomplete: "username", required: true }),
    field("Password", "password", { type: "password", autocomplete: "current-password",
      required: true }),
    field("Second-factor code (if enabled)", "totp", { inputmode: "numeric",
      autocomplete: "one-time-code" }),
  ], (data) => logIn(data.get("email"), data.get("password"), data.get("totp")), "Log in"),
  el("p", { class: "hint", text: "Demo users: alice@demo.test and bob@demo.test, "
    + "password demo-password." }));
}

export async function showSignUp(view) {
  view.append(el("h2", { text: "Sign up" }), form("signup", [
    field("Email", "email", { type: "email", autocomplete: "username", required: true }),
    field("Password (at least 10 characters)", "password", { type: "password",
      autocomplete: "new-password", required: true }),
  ], async (data) => {
    await api("POST", "/v1/users", { email: data.get("email"), password: data.get("password") });
    await logIn(data.get("email"), data.get("password"));
  }, "Create my account"));
}
