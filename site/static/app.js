// The website talks to nothing but the public API (window.EXCHANGE_API, from /config.js).
"use strict";

async function api(path) {
  const response = await fetch(window.EXCHANGE_API + path, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function showMarkets() {
  const tbody = document.querySelector("#markets tbody");
  try {
    const { items } = await api("/v1/markets");
    tbody.replaceChildren(...items.map((m) => {
      const tr = document.createElement("tr");
      tr.append(cell(m.symbol), cell(m.tick_size), cell(m.lot_size), cell(m.min_notional),
        cell(`${m.maker_fee_bps / 100}% / ${m.taker_fee_bps / 100}%`), cell(m.status));
      return tr;
    }));
  } catch (error) {
    const box = document.getElementById("error");
    box.textContent = `Could not load markets: ${error.message}`;
    box.hidden = false;
  }
}

showMarkets();
