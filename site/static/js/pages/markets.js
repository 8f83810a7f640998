// Markets with live tickers.

import { api } from "../api.js";
import { Feed } from "../feed.js";
import { el, row, table } from "../ui.js";

export async function show(view) {
  const [{ items: markets }, { items: tickers }] = await Promise.all([
    api("GET", "/v1/markets"), api("GET", "/v1/tickers")]);
  const byMarket = Object.fromEntries(tickers.map((t) => [t.market, t]));
  const cells = {};
  const rows = markets.map((m) => {
    const t = byMarket[m.symbol] || {};
    cells[m.symbol] = ["last", "change_percent", "high", "low", "volume"].map(() => el("span"));
    fill(cells[m.symbol], t);
    return row([el("a", { href: `#/trade/${m.symbol}`, text: m.symbol }), ...cells[m.symbol],
      m.status === "open" ? "open" : "halted"], { "data-market": m.symbol });
  });
  view.append(el("h2", { text: "Markets" }),
    table("Every market, updated live", ["Market", "Last", "24 h change", "24 h high",
      "24 h low", "24 h volume", "Status"], rows, "No markets yet."));
  const feed = new Feed((message) => {
    if (message.type === "ticker") fill(cells[message.market] || [], message);
  });
  feed.follow(markets.map((m) => `ticker:${m.symbol}`));
  return { destroy: () => feed.close() };
}

function fill(spans, t) {
  if (!spans.length) return;
  const change = t.change_percent === null || t.change_percent === undefined
    ? "—" : `${t.change_percent} %`;
  [t.last || "—", change, t.high || "—", t.low || "—", t.volume || "0"]
    .forEach((text, i) => { spans[i].textContent = text; });
}
