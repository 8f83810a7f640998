// Markets with live tickers.

import { api } from "../api.js";
import { Feed } from "../feed.js";
import { formats } from "../numbers.js";
import { el, row, table } from "../ui.js";

export async function show(view) {
  const [{ items: markets }, { items: tickers }] = await Promise.all([
    api("GET", "/v1/markets"), api("GET", "/v1/tickers")]);
  const byMarket = Object.fromEntries(tickers.map((t) => [t.market, t]));
  const cells = {};
  const shown = Object.fromEntries(markets.map((m) => [m.symbol, formats(m)]));
  const rows = markets.map((m) => {
    const t = byMarket[m.symbol] || {};
    cells[m.symbol] = ["last", "change_percent", "high", "low", "volume"].map(() => el("span"));
    fill(cells[m.symbol], t, shown[m.symbol]);
    return row([el("a", { href: `#/trade/${m.symbol}`, text: m.symbol }), ...cells[m.symbol],
      m.status === "open" ? "open" : "halted"], { "data-market": m.symbol });
  });
  view.append(el("h2", { text: "Markets" }),
    table("Every market, updated live", ["Market", "Last", "24 h change", "24 h high",
      "24 h low", "24 h volume", "Status"], rows, "No markets yet."));
  const feed = new Feed((message) => {
    if (message.type === "ticker" && shown[message.market]) {
      fill(cells[message.market], message, shown[message.market]);
    }
  });
  feed.follow(markets.map((m) => `ticker:${m.symbol}`));
  return { destroy: () => feed.close() };
}

// Prices at the market's tick, the volume at its lot.
function fill(spans, t, { price, quantity }) {
  const change = t.change_percent === null || t.change_percent === undefined
    ? "—" : `${t.change_percent} %`;
  [t.last ? price(t.last) : "—", change, t.high ? price(t.high) : "—",
    t.low ? price(t.low) : "—", quantity(t.volume || "0")]
    .forEach((text, i) => { spans[i].textContent = text; });
}
