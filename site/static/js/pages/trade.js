// The trading page: candlestick chart, live book with depth, recent trades, the order
// form (every type and time in force), open orders, order history and fills.

import { api, session } from "../api.js";
import { Feed } from "../feed.js";
import { formats, sum } from "../numbers.js";
import { button, el, field, form, notice, row, table, time } from "../ui.js";

const ACTIVE = ["accepted", "open", "partially_filled", "untriggered"];
const INTERVALS = ["1m", "5m", "15m", "1h", "4h", "1d"];
const REFRESH_DELAY_MS = 150;
// Each web process keeps public market data answers until it hears their market's batch,
// at most 0.5 s (api/market_cache.py). The process that answers a read may not be the
// one whose socket announced the batch, and may hear it a moment later: what a message
// announced is loaded once more when that bound has passed after the last message, so
// the page always ends on the latest state.
const MARKET_DATA_SETTLED_MS = 600;

export async function show(view, market) {
  const { items: markets } = await api("GET", "/v1/markets");
  if (!markets.length) {
    view.append(el("h2", { text: "Trade" }), el("p", { text: "No markets yet." }));
    return {};
  }
  const chosen = markets.find((m) => m.symbol === market) || markets[0];
  const page = new TradePage(view, markets, chosen);
  await page.start();
  return { destroy: () => page.destroy() };
}

class TradePage {
  constructor(view, markets, market) {
    this.view = view;
    this.markets = markets;
    this.market = market;
    this.shown = formats(market);       // prices at the tick, quantities at the lot
    this.interval = "1m";
    this.timers = {};
    this.feed = new Feed((message) => this.onMessage(message));
  }

  async start() {
    const select = el("select", { id: "market", "aria-label": "Market",
      onchange: (e) => { location.hash = `#/trade/${e.target.value}`; } },
    this.markets.map((m) => el("option", { value: m.symbol, text: m.symbol,
      selected: m.symbol === this.market.symbol })));
    this.chartBox = el("div", { class: "chart", role: "img",
      "aria-label": `Price chart of ${this.market.symbol}` });
    const intervals = el("select", { "aria-label": "Chart interval",
      onchange: (e) => {
        this.interval = e.target.value;
        this.fitted = false;
        this.followFeed();
        this.loadCandles();
      } },
    INTERVALS.map((i) => el("option", { value: i, text: i })));
    this.book = el("div", { id: "book" });
    this.trades = el("div", { id: "trades" });
    this.balances = el("div", { id: "market-balances" });
    this.openOrders = el("div", { id: "open-orders" });
    this.history = el("div", { id: "order-history" });
    this.fills = el("div", { id: "fills" });
    const signedIn = Boolean(session.token);
    this.view.append(
      el("h2", {}, "Trade ", select),
      el("div", { class: "trade-grid" },
        el("section", { class: "chart-panel", "aria-label": "Chart" },
          el("div", { class: "panel-title" }, el("h3", { text: "Chart" }), intervals),
          this.chartBox),
        el("section", { "aria-label": "Order book" }, el("h3", { text: "Order book" }), this.book),
        el("section", { "aria-label": "Place an order" }, el("h3", { text: "Place an order" }),
          signedIn ? this.orderForm()
            : el("p", {}, el("a", { href: "#/login", text: "Log in" }), " to trade.")),
        el("section", { "aria-label": "Recent trades" }, el("h3", { text: "Recent trades" }),
          this.trades)),
      signedIn ? el("div", { class: "account" }, this.balances, this.openOrders, this.history,
        this.fills) : "");
    this.makeChart();
    this.followFeed();
    await Promise.all([this.loadBook(), this.loadTrades(), this.loadCandles(),
      signedIn ? this.loadAccount() : null]);
  }

  followFeed() {
    const m = this.market.symbol;
    this.feed.follow([`book:${m}`, `trades:${m}`, `candles:${m}:${this.interval}`],
      ["orders", "fills", "balances"]);
  }

  destroy() {
    this.feed.close();
    Object.values(this.timers).forEach(clearTimeout);
    if (this.chart) this.chart.remove();
  }

  later(name, action) {
    if (this.timers[name]) return;
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      action().catch((error) => notice(error.message));
    }, REFRESH_DELAY_MS);
  }

  refresh(name, action) {
    this.later(name, action);
    clearTimeout(this.timers[`${name}:settled`]);
    this.timers[`${name}:settled`] = setTimeout(() => {
      delete this.timers[`${name}:settled`];
      action().catch((error) => notice(error.message));
    }, MARKET_DATA_SETTLED_MS);
  }

  onMessage(message) {
    if (message.type === "book" || message.type === "snapshot") this.refresh("book", () => this.loadBook());
    if (message.type === "trades") {
      this.refresh("trades", () => this.loadTrades());
      this.refresh("candles", () => this.loadCandles());
    }
    if (message.type === "candle" && message.open) this.refresh("candles", () => this.loadCandles());
    if (["orders", "fills", "balances"].includes(message.type)) {
      this.later("account", () => this.loadAccount());
    }
  }

  makeChart() {
    const charts = window.LightweightCharts;
    this.chart = charts.createChart(this.chartBox, {
      height: 280, autoSize: true, timeScale: { timeVisible: true, secondsVisible: false },
      layout: { attributionLogo: false },
    });
    this.series = this.chart.addSeries(charts.CandlestickSeries, {
      priceFormat: { type: "price", precision: this.shown.priceDecimals,
        minMove: Number(this.market.tick_size) },
      upColor: "#0a7d32", downColor: "#b3261e", borderVisible: false,
      wickUpColor: "#0a7d32", wickDownColor: "#b3261e",
    });
  }

  async loadCandles() {
    const { items } = await api("GET",
      `/v1/markets/${this.market.symbol}/candles?interval=${this.interval}&limit=120`);
    // Chart coordinates are for drawing only; amounts stay strings everywhere else.
    const points = items.filter((c) => c.open !== null && c.open !== undefined).map((c) => ({
      time: Date.parse(c.start) / 1000, open: Number(c.open), high: Number(c.high),
      low: Number(c.low), close: Number(c.close),
    }));
    this.series.setData(points);
    if (!this.fitted && points.length) {
      this.chart.timeScale().fitContent();
      this.fitted = true;
    }
    const traded = items.filter((c) => c.trades > 0);
    this.chartBox.dataset.lastClose = traded.length
      ? this.shown.price(traded[traded.length - 1].close) : "";
    this.chartBox.dataset.trades = String(items.reduce((n, c) => n + c.trades, 0));
  }

  async loadBook() {
    const book = await api("GET", `/v1/markets/${this.market.symbol}/book?depth=15`);
    const { price, quantity } = this.shown;
    // Depth is an exact running sum; only the bar's width is drawn from a float.
    const depth = (levels) => levels.map(([p, q], i) => ({
      price: p, quantity: q, total: sum(levels.slice(0, i + 1).map((level) => level[1])),
    }));
    const asks = depth(book.asks);
    const bids = depth(book.bids);
    const most = Math.max(1e-18, ...[...asks, ...bids].map((l) => Number(l.total)));
    const line = (level, side) => {
      const tr = row([price(level.price), quantity(level.quantity), quantity(level.total)],
        { class: side });
      tr.style.setProperty("--depth", `${(100 * Number(level.total)) / most}%`);
      return tr;
    };
    this.book.replaceChildren(table(`Book of ${this.market.symbol}, asks above bids`,
      ["Price", "Quantity", "Depth"],
      [...asks.slice().reverse().map((l) => line(l, "ask")), ...bids.map((l) => line(l, "bid"))],
      "The book is empty."));
  }

  async loadTrades() {
    const { items } = await api("GET", `/v1/markets/${this.market.symbol}/trades?limit=20`);
    this.trades.replaceChildren(table("Latest trades first", ["Price", "Quantity", "Time"],
      items.map((t) => row([this.shown.price(t.price), this.shown.quantity(t.quantity), new Date(t.created_at).toLocaleTimeString()],
        { class: t.taker_side === "sell" ? "ask" : "bid" })), "No trades yet."));
  }

  async loadAccount() {
    const m = this.market.symbol;
    const [{ items: balances }, { items: orders }, { items: fills }] = await Promise.all([
      api("GET", "/v1/balances"), api("GET", `/v1/orders?market=${m}&limit=50`),
      api("GET", `/v1/fills?market=${m}&limit=50`)]);
    const mine = Object.fromEntries(balances.map((b) => [b.currency, b]));
    this.balances.replaceChildren(table("Balances", ["Currency", "Available", "Held"],
      [this.market.base, this.market.quote].map((c) => {
        const b = mine[c] || { available: "0", held: "0" };   // none yet in this currency
        return row([c, b.available, b.held], { "data-currency": c });
      })));
    const { price, quantity } = this.shown;
    const trigger = (o) =>
      `${o.type.startsWith("take_profit") ? "take profit" : "stop"} ${price(o.stop_price)}`;
    const describe = (o) => (o.price ? price(o.price) : (o.stop_price ? trigger(o) : "market"));
    // A market buy by what it spends shows that sum, at the quote currency's scale.
    const amount = (o) => (o.quantity ? quantity(o.quantity) : o.quote_quantity);
    const open = orders.filter((o) => ACTIVE.includes(o.status));
    this.openOrders.replaceChildren(table("Open orders", ["Side", "Type", "Price", "Quantity",
      "Filled", "Status", "Expires", ""], open.map((o) => row([o.side, o.type, describe(o),
      amount(o), quantity(o.filled_quantity), o.status, time(o.expire_at),
      button("Cancel", () => this.cancel(o.id), { "aria-label": `Cancel order ${o.id}` })],
    { "data-order": o.id })), "No open orders."));
    this.history.replaceChildren(table("Order history", ["Side", "Type", "Price", "Quantity",
      "Filled", "Status", "Placed"], orders.filter((o) => !ACTIVE.includes(o.status)).map((o) =>
      row([o.side, o.type, describe(o), amount(o), quantity(o.filled_quantity),
        o.reject_reason ? `${o.status} (${o.reject_reason})` : o.status, time(o.created_at)],
      { "data-order": o.id })), "No finished orders."));
    this.fills.replaceChildren(table("Fills", ["Side", "Price", "Quantity", "Fee",
      "Liquidity", "Time"], fills.map((f) => row([f.side, price(f.price), quantity(f.quantity),
      `${f.fee} ${f.fee_currency}`, f.liquidity, time(f.created_at)])), "No fills yet."));
  }

  async cancel(id) {
    try {
      await api("DELETE", `/v1/orders/${id}`);
      notice("Cancel requested.");
    } catch (error) {
      notice(error.message);
    }
  }

  orderForm() {
    const node = form("order", [
      field("Side", "side", {}, [["buy", "Buy"], ["sell", "Sell"]]),
      field("Type", "type", {}, [["limit", "Limit"], ["market", "Market"],
        ["stop_limit", "Stop limit"], ["stop_market", "Stop market"],
        ["take_profit_limit", "Take profit limit"], ["take_profit_market", "Take profit market"]]),
      field(`Quantity (${this.market.base})`, "quantity", { inputmode: "decimal",
        autocomplete: "off" }),
      field(`Or spend (${this.market.quote}, market buy)`, "quote_quantity",
        { inputmode: "decimal", autocomplete: "off" }),
      field(`Price (${this.market.quote})`, "price", { inputmode: "decimal",
        autocomplete: "off" }),
      field(`Stop price (${this.market.quote})`, "stop_price", { inputmode: "decimal",
        autocomplete: "off" }),
      field("Time in force", "time_in_force", {}, [["", "Default"],
        ["gtc", "Good till cancelled"], ["ioc", "Immediate or cancel"],
        ["fok", "Fill or kill"], ["gtd", "Good till date"]]),
      field("Expires at (your local time)", "expire_at", { type: "datetime-local", step: 1 }),
      el("label", { class: "inline" }, el("input", { type: "checkbox", name: "post_only" }),
        " Post only (maker or nothing)"),
    ], async (data) => {
      const body = { market: this.market.symbol, side: data.get("side"), type: data.get("type") };
      for (const name of ["quantity", "quote_quantity", "price", "stop_price", "time_in_force"]) {
        const value = (data.get(name) || "").trim();
        if (value) body[name] = value;
      }
      if (data.get("expire_at")) body.expire_at = new Date(data.get("expire_at")).toISOString();
      if (data.get("post_only")) body.post_only = true;
      const order = await api("POST", "/v1/orders", body);
      notice(`Order ${order.id} ${order.status}.`);
      this.later("account", () => this.loadAccount());
    }, "Place order");
    const shown = () => {
      const type = node.elements.type.value;
      const tif = node.elements.time_in_force.value;
      const visible = {
        quantity: true,
        quote_quantity: type === "market" && node.elements.side.value === "buy",
        price: type === "limit" || type.endsWith("_limit"),
        stop_price: type.startsWith("stop_") || type.startsWith("take_profit_"),
        time_in_force: type !== "market",
        expire_at: tif === "gtd" && type !== "market",
        post_only: type === "limit",
      };
      for (const [name, on] of Object.entries(visible)) {
        node.elements[name].closest(".field, label").hidden = !on;
        if (!on && node.elements[name].type !== "checkbox") node.elements[name].value = "";
      }
    };
    node.addEventListener("change", shown);
    shown();
    return node;
  }
}
