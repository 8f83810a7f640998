// Numbers as their market states them: prices at the tick's decimals, quantities at the
// lot's (the API sends them at the currency's scale: "100.010000" is shown "100.01").
// Decimal strings in, strings out: an amount never passes through a float here.

const DECIMAL = /^-?\d+(\.\d+)?$/;

// The decimals a step has: "0.01000000" has 2, "1.00" and "10" none.
export function places(step) {
  const fraction = String(step ?? "").split(".")[1] || "";
  return fraction.replace(/0+$/, "").length;
}

// ``value`` with ``decimals`` decimals: zeros past them dropped, missing ones added. A
// non-zero digit past them stays: it is shown, never rounded away.
export function fixed(value, decimals) {
  const text = String(value ?? "");
  if (!DECIMAL.test(text)) return text;
  const [whole, fraction = ""] = text.split(".");
  const kept = fraction.replace(/0+$/, "").padEnd(decimals, "0");
  return kept ? `${whole}.${kept}` : whole;
}

// The exact sum of non-negative decimal strings, at the most decimals any of them has.
export function sum(values) {
  const scale = Math.max(0, ...values.map((v) => (String(v).split(".")[1] || "").length));
  const units = (v) => {
    const [whole, fraction = ""] = String(v).split(".");
    return BigInt(whole + fraction.padEnd(scale, "0"));
  };
  const total = values.reduce((acc, v) => acc + units(v), 0n);
  const digits = total.toString().padStart(scale + 1, "0");
  return scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
}

// A market's two formats, from its tick and lot.
export function formats(market) {
  const price = places(market.tick_size);
  const quantity = places(market.lot_size);
  return {
    price: (value) => fixed(value, price),
    quantity: (value) => fixed(value, quantity),
    priceDecimals: price,
  };
}
