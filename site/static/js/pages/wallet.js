// Balances (with the demo faucet), deposits (address, QR code, confirmations) and
// withdrawals (allow-listed addresses, second factor, cancel).

import { api } from "../api.js";
import { Feed } from "../feed.js";
import { button, el, field, form, notice, qr, row, table, time } from "../ui.js";

const FAUCET_AMOUNTS = { BTC: "1", ETH: "10", USDT: "10000" };   // others: 1
const CANCELLABLE = ["pending_approval", "queued"];

export async function show(view) {
  const page = new WalletPage(view);
  await page.start();
  return { destroy: () => page.destroy() };
}

class WalletPage {
  constructor(view) {
    this.view = view;
    this.feed = new Feed((message) => {
      if (message.type === "balances") this.loadBalances().catch((e) => notice(e.message));
    });
    // Chains move without telling the feed: deposits, confirmations and the balances
    // they change are read again every few seconds while this page is open.
    this.timer = setInterval(() => Promise.all([this.loadChains(), this.loadBalances()])
      .catch(() => {}), 5000);
  }

  destroy() {
    this.feed.close();
    clearInterval(this.timer);
  }

  async start() {
    const [{ items: currencies }, me] = await Promise.all([
      api("GET", "/v1/currencies"), api("GET", "/v1/me")]);
    this.currencies = currencies;
    this.totpEnabled = me.totp_enabled;
    this.balances = el("div", { id: "balances" });
    this.depositBox = el("div", { id: "deposit-address", "aria-live": "polite" });
    this.deposits = el("div", { id: "deposits" });
    this.addresses = el("div", { id: "withdrawal-addresses" });
    this.withdrawals = el("div", { id: "withdrawals" });
    this.addressChoice = el("select", { name: "address", id: "withdraw-address" });
    const codes = currencies.map((c) => [c.code, c.code]);
    this.view.append(
      el("h2", { text: "Wallet" }), this.balances, el("div", { class: "wallet-grid" },
      el("section", { "aria-labelledby": "deposit-title" },
        el("h3", { id: "deposit-title", text: "Deposit" }),
        form("deposit", [field("Currency", "currency", {}, codes)], async (data) => {
          const found = await api("POST", "/v1/deposit-addresses",
            { currency: data.get("currency") });
          this.showAddress(found);
        }, "Show my deposit address"),
        this.depositBox, this.deposits),
      el("section", { "aria-labelledby": "withdraw-title" },
        el("h3", { id: "withdraw-title", text: "Withdraw" }),
        this.withdrawForm(codes),
        el("h4", { text: "Allowed withdrawal addresses" }),
        el("p", { class: "hint", text: "For your safety a new address can be used only after "
          + "a waiting period." }),
        this.addressForm(codes), this.addresses, this.withdrawals)));
    this.feed.follow([], ["balances"]);
    await Promise.all([this.loadBalances(), this.loadChains(), this.loadAddresses()]);
  }

  async loadBalances() {
    const { items } = await api("GET", "/v1/balances");
    const mine = Object.fromEntries(items.map((b) => [b.currency, b]));
    this.balances.replaceChildren(table("Balances", ["Currency", "Available", "Held", "Faucet"],
      this.currencies.map((c) => {
        const zero = Number(0).toFixed(c.scale);
        const b = mine[c.code] || { available: zero, held: zero };
        return row([c.code, b.available, b.held, button(`Get ${c.code}`, () => this.faucet(c.code),
          { "aria-label": `Get demo ${c.code} from the faucet` })], { "data-currency": c.code });
      })));
  }

  async faucet(currency) {
    try {
      await api("POST", "/v1/faucet", { currency, amount: FAUCET_AMOUNTS[currency] || "1" });
      notice(`Demo ${currency} credited.`);
      await this.loadBalances();
    } catch (error) {
      notice(error.message);
    }
  }

  showAddress({ currency, address }) {
    this.depositBox.replaceChildren(
      el("p", {}, `Send only ${currency} to: `, el("code", { class: "address", text: address })),
      qr(address, `QR code of the ${currency} deposit address`),
      button("Copy address", () => navigator.clipboard.writeText(address)
        .then(() => notice("Address copied.")).catch(() => notice("Copy it by hand."))));
  }

  async loadChains() {
    const [{ items: deposits }, { items: withdrawals }] = await Promise.all([
      api("GET", "/v1/deposits?limit=20"), api("GET", "/v1/withdrawals?limit=20")]);
    this.deposits.replaceChildren(table("Deposits", ["Currency", "Amount", "Confirmations",
      "Status", "Transaction", "Seen"], deposits.map((d) => row([d.currency, d.amount,
      `${Math.min(d.confirmations, d.required_confirmations)} of ${d.required_confirmations}`,
      d.status, el("code", { text: d.txid }), time(d.seen_at)])), "No deposits yet."));
    this.withdrawals.replaceChildren(table("Withdrawals", ["Currency", "Amount", "Fee",
      "Address", "Status", "Confirmations", ""], withdrawals.map((w) => row([w.currency,
      w.amount, w.fee, el("code", { text: w.address }), w.status, w.confirmations,
      CANCELLABLE.includes(w.status) ? button("Cancel", () => this.cancel(w.id)) : ""],
    { "data-withdrawal": w.id })), "No withdrawals yet."));
  }

  async cancel(id) {
    try {
      await api("DELETE", `/v1/withdrawals/${id}`);
      notice("Withdrawal cancelled; the funds are back.");
      await Promise.all([this.loadChains(), this.loadBalances()]);
    } catch (error) {
      notice(error.message);
    }
  }

  async loadAddresses() {
    const { items } = await api("GET", "/v1/withdrawal-addresses");
    this.allowed = items;
    const now = Date.now();
    this.addresses.replaceChildren(table("Allowed addresses", ["Currency", "Label", "Address",
      "Usable from", ""], items.map((a) => row([a.currency, a.label,
      el("code", { text: a.address }), time(a.usable_from),
      button("Remove", () => this.removeAddress(a.id))])), "No addresses yet."));
    const currency = this.withdrawCurrency.value;
    this.addressChoice.replaceChildren(...items.filter((a) => a.currency === currency)
      .map((a) => el("option", { value: a.address,
        text: `${a.label || a.address}${Date.parse(a.usable_from) > now ? " (waiting)" : ""}` })));
  }

  async removeAddress(id) {
    try {
      await api("DELETE", `/v1/withdrawal-addresses/${id}`);
      await this.loadAddresses();
    } catch (error) {
      notice(error.message);
    }
  }

  totpField() {
    return this.totpEnabled ? field("Second-factor code", "totp", { inputmode: "numeric",
      autocomplete: "one-time-code", required: true }) : null;
  }

  addressForm(codes) {
    return form("withdrawal-address", [
      field("Currency", "currency", {}, codes),
      field("Address", "address", { autocomplete: "off", required: true }),
      field("Label", "label", { maxlength: 60 }),
      this.totpField(),
    ], async (data, node) => {
      const body = { currency: data.get("currency"), address: data.get("address").trim(),
        label: data.get("label") };
      if (data.get("totp")) body.totp = data.get("totp");
      const added = await api("POST", "/v1/withdrawal-addresses", body);
      notice(`Address allowed; usable from ${time(added.usable_from)}.`);
      node.reset();
      await this.loadAddresses();
    }, "Allow this address");
  }

  withdrawForm(codes) {
    let idempotencyKey = null;    // one per withdrawal, reused if the same one is re-sent
    const currencyField = field("Currency", "currency", {}, codes);
    this.withdrawCurrency = currencyField.querySelector("select");
    const terms = el("p", { class: "hint", "aria-live": "polite" });
    const describe = () => {
      const c = this.currencies.find((x) => x.code === this.withdrawCurrency.value);
      if (c) terms.textContent = `Network fee ${c.withdrawal_fee} ${c.code}; minimum `
        + `${c.withdrawal_min}${c.withdrawal_max ? `, maximum ${c.withdrawal_max}` : ""}.`;
    };
    this.withdrawCurrency.addEventListener("change", () => {
      describe();
      this.loadAddresses().catch((e) => notice(e.message));
    });
    describe();
    const addressField = el("div", { class: "field" },
      el("label", { for: "withdraw-address", text: "To address" }), this.addressChoice,
      el("p", { class: "field-error", id: "withdraw-address-error" }));
    const node = form("withdraw", [currencyField, terms, addressField,
      field("Amount", "amount", { inputmode: "decimal", autocomplete: "off", required: true }),
      this.totpField(),
    ], async (data) => {
      const body = { currency: data.get("currency"), address: data.get("address") || "",
        amount: (data.get("amount") || "").trim() };
      if (data.get("totp")) body.totp = data.get("totp");
      const fingerprint = JSON.stringify(body);
      if (!idempotencyKey || idempotencyKey.body !== fingerprint) {
        idempotencyKey = { body: fingerprint, key: crypto.randomUUID() };
      }
      const made = await api("POST", "/v1/withdrawals", body,
        { "Idempotency-Key": idempotencyKey.key });
      idempotencyKey = null;
      notice(`Withdrawal ${made.status === "pending_approval" ? "awaits approval" : made.status}.`);
      node.elements.amount.value = "";
      await Promise.all([this.loadChains(), this.loadBalances()]);
    }, "Withdraw");
    return node;
  }
}
