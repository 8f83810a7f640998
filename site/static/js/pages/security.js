// The second factor: enrol with a QR code, confirm (recovery codes shown once), remove.

import { api } from "../api.js";
import { el, field, form, notice, qr } from "../ui.js";

export async function show(view) {
  const me = await api("GET", "/v1/me");
  const box = el("div", { id: "totp" });
  view.append(el("h2", { text: "Security" }), el("p", { text: `Signed in as ${me.email}.` }), box);
  const render = (enabled) => {
    if (enabled) {
      box.replaceChildren(el("p", { text: "Second factor: on. Log-in, new API keys and "
        + "withdrawals ask for a code." }),
      form("totp-remove", [field("Code (or a recovery code)", "totp", {
        autocomplete: "one-time-code", required: true })], async (data) => {
        await api("DELETE", "/v1/me/totp", { totp: data.get("totp") });
        notice("Second factor removed.");
        render(false);
      }, "Remove the second factor"));
      return;
    }
    box.replaceChildren(el("p", { text: "Second factor: off." }),
      form("totp-enrol", [], async () => {
        const enrolled = await api("POST", "/v1/me/totp");
        box.replaceChildren(
          el("p", { text: "Scan this with your authenticator app, then type the code it shows." }),
          qr(enrolled.otpauth_uri, "QR code for your authenticator app"),
          el("p", {}, "Or enter this secret: ", el("code", { id: "totp-secret",
            text: enrolled.secret })),
          form("totp-verify", [field("Code", "code", { inputmode: "numeric",
            autocomplete: "one-time-code", required: true })], async (data) => {
            const confirmed = await api("POST", "/v1/me/totp/verify", { code: data.get("code") });
            box.replaceChildren(el("p", { text: "Second factor on. Keep these recovery codes "
              + "somewhere safe; each works once, and they are shown only now:" }),
            el("ul", { id: "recovery-codes" },
              confirmed.recovery_codes.map((c) => el("li", {}, el("code", { text: c })))),
            el("button", { type: "button", text: "Done", onclick: () => render(true) }));
          }, "Turn it on"));
      }, "Set up a second factor"));
  };
  render(me.totp_enabled);
  return {};
}
