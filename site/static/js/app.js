// The website: a single page that talks to nothing but the public API and WebSocket.
// Routes live in the address's hash: #/markets, #/trade/BTC-USDT, #/wallet, #/keys,
// #/security, #/login, #/signup.

import { api, session } from "./api.js";
import { el, notice } from "./ui.js";
import * as access from "./pages/access.js";
import * as keys from "./pages/keys.js";
import * as markets from "./pages/markets.js";
import * as security from "./pages/security.js";
import * as trade from "./pages/trade.js";
import * as wallet from "./pages/wallet.js";

const ROUTES = {
  markets: { show: markets.show },
  trade: { show: trade.show },
  wallet: { show: wallet.show, signedIn: true },
  keys: { show: keys.show, signedIn: true },
  security: { show: security.show, signedIn: true },
  login: { show: access.showLogIn },
  signup: { show: access.showSignUp },
};

const view = document.getElementById("view");
let current = {};
let shown = 0;

async function route() {
  const [name, argument] = location.hash.replace(/^#\/?/, "").split("/");
  const target = ROUTES[name] || ROUTES.markets;
  if (target.signedIn && !session.token) {
    location.hash = "#/login";
    return;
  }
  if (current.destroy) current.destroy();
  current = {};
  const mine = ++shown;
  showNavigation();
  // Each visit draws into a container of its own: a page still loading when the user
  // moves on draws into a detached one, never into the page that follows.
  const container = el("div");
  view.replaceChildren(container);
  view.setAttribute("aria-busy", "true");
  try {
    const page = await target.show(container, argument && decodeURIComponent(argument));
    if (mine === shown) current = page || {};
    else if (page && page.destroy) page.destroy();       // the user moved on meanwhile
  } catch (error) {
    container.append(el("p", { class: "error", role: "alert", text: error.message }));
  } finally {
    view.removeAttribute("aria-busy");
  }
  document.querySelectorAll("nav a").forEach((a) => {
    if (a.getAttribute("href") === `#/${name || "markets"}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
}

function showNavigation() {
  const signedIn = Boolean(session.token);
  document.querySelectorAll("[data-auth]").forEach((n) => { n.hidden = !signedIn; });
  document.querySelectorAll("[data-guest]").forEach((n) => { n.hidden = signedIn; });
  notice(signedIn && session.email ? `Signed in as ${session.email}` : "");
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("DELETE", "/v1/sessions"); } catch { /* ended already */ }
  session.end();
  location.hash = "#/markets";
  route();
});
window.addEventListener("session-ended", () => { location.hash = "#/login"; });
window.addEventListener("hashchange", route);
window.addEventListener("load", route);
