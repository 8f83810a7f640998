// The website talks to nothing but the public API (window.EXCHANGE_API, from /config.js).
// It keeps the session token in the browser (sessionStorage) and no other state.
"use strict";

const API = window.EXCHANGE_API;
const state = { token: sessionStorage.getItem("token"), market: null, socket: null };

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : {};
  if (!response.ok) {
    const error = new Error(data.error ? data.error.message : response.statusText);
    error.field = data.error && data.error.field;
    throw error;
  }
  return data;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : text;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells.map((c) => (c instanceof Node ? wrap(c) : cell(c))));
  return tr;
}

function wrap(node) {
  const td = document.createElement("td");
  td.append(node);
  return td;
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", action);
  return b;
}

function showError(form, error) {
  const box = document.querySelector(`.error[data-for="${form}"]`);
  if (!error) {
    box.textContent = "";
  } else {
    const named = !error.field || error.message.startsWith(error.field);
    box.textContent = named ? error.message : `${error.field}: ${error.message}`;
  }
}

async function showMarkets() {
  const [{ items: markets }, { items: tickers }] = await Promise.all([
    api("GET", "/v1/markets"), api("GET", "/v1/tickers")]);
  const byMarket = Object.fromEntries(tickers.map((t) => [t.market, t]));
  document.querySelector("#markets tbody").replaceChildren(...markets.map((m) => {
    const t = byMarket[m.symbol] || {};
    return row(m.symbol, t.last || "—", t.change_percent ? `${t.change_percent} %` : "—",
      t.volume || "0", m.tick_size, m.lot_size);
  }));
  const select = document.getElementById("market");
  if (!select.options.length) {
    select.replaceChildren(...markets.map((m) => new Option(m.symbol, m.symbol)));
    state.market = markets.length ? markets[0].symbol : null;
  }
}

async function showBook() {
  if (!state.market) return;
  const book = await api("GET", `/v1/markets/${state.market}/book?depth=10`);
  const asks = book.asks.slice().reverse().map(([p, q]) => row(p, q));
  asks.forEach((tr) => tr.classList.add("ask"));
  const bids = book.bids.map(([p, q]) => row(p, q));
  bids.forEach((tr) => tr.classList.add("bid"));
  document.querySelector("#book tbody").replaceChildren(...asks, ...bids);
  const { items } = await api("GET", `/v1/markets/${state.market}/trades?limit=15`);
  document.querySelector("#trades tbody").replaceChildren(
    ...items.map((t) => row(t.price, t.quantity, new Date(t.created_at).toLocaleTimeString())));
}

async function showAccount() {
  if (!state.token) return;
  const [{ items: balances }, { items: currencies }] = await Promise.all([
    api("GET", "/v1/balances"), api("GET", "/v1/currencies")]);
  const held = Object.fromEntries(balances.map((b) => [b.currency, b]));
  // Every currency, so that a new user can take coins from the faucet at once.
  document.querySelector("#balances tbody").replaceChildren(...currencies.map((c) => {
    const b = held[c.code] || { available: "0", held: "0" };
    return row(c.code, b.available, b.held, button(`Get ${c.code}`, () => faucet(c.code)));
  }));
  const { items: orders } = await api("GET", "/v1/orders?limit=20");
  document.querySelector("#orders tbody").replaceChildren(...orders.map((o) => {
    const open = ["accepted", "open", "partially_filled", "untriggered"].includes(o.status);
    return row(o.market, o.side, o.type, o.price || (o.stop_price ? `stop ${o.stop_price}` : "market"),
      o.quantity || o.quote_quantity, o.filled_quantity,
      o.reject_reason ? `${o.status} (${o.reject_reason})` : o.status,
      open ? button("Cancel", () => cancel(o.id)) : "");
  }));
}

// What one faucet press gives of the demo currencies (others: 1).
const FAUCET_AMOUNTS = { BTC: "1", ETH: "10", USDT: "10000" };

async function faucet(currency) {
  try {
    await api("POST", "/v1/faucet", { currency, amount: FAUCET_AMOUNTS[currency] || "1" });
    await showAccount();
  } catch (error) {
    showError("order", error);
  }
}

async function cancel(id) {
  try {
    await api("DELETE", `/v1/orders/${id}`);
    setTimeout(refresh, 300);
  } catch (error) {
    showError("order", error);
  }
}

function orderBody(form) {
  const data = new FormData(form);
  const body = { market: state.market, side: data.get("side"), type: data.get("type") };
  for (const field of ["quantity", "price", "stop_price", "time_in_force"]) {
    if (data.get(field)) body[field] = data.get(field).trim();
  }
  if (data.get("expire_at")) body.expire_at = new Date(data.get("expire_at")).toISOString();
  if (data.get("post_only")) body.post_only = true;
  return body;
}

async function refresh() {
  try {
    await Promise.all([showMarkets(), showBook(), showAccount()]);
  } catch (error) {
    if (/session/.test(error.message)) logOut();
  }
}

function liveUpdates() {
  // The feed tells us when something changed; we then read the REST state again.
  if (state.socket) state.socket.close();
  const socket = new WebSocket(`${API.replace(/^http/, "ws")}/v1/ws`);
  state.socket = socket;
  socket.addEventListener("open", () => {
    if (state.token) socket.send(JSON.stringify({ op: "auth", token: state.token }));
    const channels = state.market ? [`trades:${state.market}`, `book:${state.market}`] : [];
    socket.send(JSON.stringify({ op: "subscribe", channels }));
  });
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "authenticated") {
      socket.send(JSON.stringify({ op: "subscribe", channels: ["orders", "balances"] }));
    } else if (["book", "trades", "orders", "balances"].includes(message.type)) {
      scheduleRefresh();
    }
  });
  socket.addEventListener("close", () => setTimeout(() => {
    if (state.socket === socket) liveUpdates();
  }, 2000));
}

let refreshTimer = null;
function scheduleRefresh() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 200);
}

function loggedIn(email) {
  document.getElementById("who").textContent = email ? `Logged in as ${email}` : "Logged in";
  document.getElementById("login-section").hidden = true;
  document.getElementById("trade-section").hidden = false;
  document.getElementById("logout").hidden = false;
}

function logOut() {
  if (state.token) api("DELETE", "/v1/sessions").catch(() => {});
  state.token = null;
  sessionStorage.removeItem("token");
  document.getElementById("who").textContent = "";
  document.getElementById("login-section").hidden = false;
  document.getElementById("trade-section").hidden = true;
  document.getElementById("logout").hidden = true;
  liveUpdates();
}

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  const body = { email: data.get("email"), password: data.get("password") };
  if (data.get("totp")) body.totp = data.get("totp");
  try {
    const session = await api("POST", "/v1/sessions", body);
    state.token = session.token;
    sessionStorage.setItem("token", session.token);
    showError("login", null);
    loggedIn(body.email);
    liveUpdates();
    refresh();
  } catch (error) {
    showError("login", error);
  }
});

document.getElementById("signup").addEventListener("click", async () => {
  const form = document.getElementById("login");
  const data = new FormData(form);
  try {
    await api("POST", "/v1/users", { email: data.get("email"), password: data.get("password") });
    form.requestSubmit();
  } catch (error) {
    showError("login", error);
  }
});

document.getElementById("order").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/v1/orders", orderBody(event.target));
    showError("order", null);
    setTimeout(refresh, 300);
  } catch (error) {
    showError("order", error);
  }
});

document.getElementById("market").addEventListener("change", (event) => {
  state.market = event.target.value;
  liveUpdates();
  refresh();
});

document.getElementById("logout").addEventListener("click", logOut);

if (state.token) loggedIn(null);
refresh().then(liveUpdates);
