// API keys: create with scopes (the secret is shown once), list, revoke.

import { api } from "../api.js";
import { button, el, field, form, notice, row, table, time } from "../ui.js";

export async function show(view) {
  const me = await api("GET", "/v1/me");
  const list = el("div", { id: "api-keys" });
  const secretBox = el("div", { id: "new-key", "aria-live": "polite" });
  const load = async () => {
    const { items } = await api("GET", "/v1/api-keys");
    list.replaceChildren(table("Your API keys", ["Label", "Key id", "Scopes", "IP allow-list",
      "Created", "Status", ""], items.map((k) => row([k.label, el("code", { text: k.id }),
      k.scopes.join(", "), k.ip_allowlist.join(", ") || "any", time(k.created_at),
      k.revoked_at ? `revoked ${time(k.revoked_at)}` : "active",
      k.revoked_at ? "" : button("Revoke", async () => {
        try {
          await api("DELETE", `/v1/api-keys/${k.id}`);
          notice(`Key ${k.label} revoked.`);
          await load();
        } catch (error) {
          notice(error.message);
        }
      }, { "aria-label": `Revoke key ${k.label}` })], { "data-key": k.id })), "No keys yet."));
  };
  const scopes = el("fieldset", {}, el("legend", { text: "Scopes" }),
    ["read", "trade", "withdraw"].map((s) => el("label", { class: "inline" },
      el("input", { type: "checkbox", name: "scopes", value: s, checked: s === "read" }), ` ${s}`)));
  view.append(el("h2", { text: "API keys" }),
    el("p", { class: "hint", text: "Bots sign each request with a key's secret "
      + "(see the API documentation). A withdraw key needs an IP allow-list." }),
    form("api-key", [
      field("Label", "label", { required: true, maxlength: 60 }), scopes,
      field("IP allow-list (comma-separated, optional)", "ip_allowlist", { autocomplete: "off" }),
      me.totp_enabled ? field("Second-factor code", "totp", { inputmode: "numeric",
        autocomplete: "one-time-code" }) : null,
    ], async (data, node) => {
      const body = { label: data.get("label"), scopes: data.getAll("scopes") };
      const ips = (data.get("ip_allowlist") || "").split(",").map((s) => s.trim()).filter(Boolean);
      if (ips.length) body.ip_allowlist = ips;
      if (data.get("totp")) body.totp = data.get("totp");
      const created = await api("POST", "/v1/api-keys", body);
      secretBox.replaceChildren(el("div", { class: "secret" },
        el("p", { text: "Copy the secret now: it is shown this once and never again." }),
        el("p", {}, "Key id: ", el("code", { id: "new-key-id", text: created.id })),
        el("p", {}, "Secret: ", el("code", { id: "new-key-secret", text: created.secret }))));
      node.reset();
      await load();
    }, "Create key"),
    secretBox, list);
  await load();
  return {};
}
