// Small DOM helpers: elements, tables, forms and errors shown next to their field.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function table(caption, headings, rows, empty = "Nothing yet.") {
  return el("table", {},
    el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, rows.length ? rows
      : el("tr", {}, el("td", { colspan: headings.length, class: "empty", text: empty }))));
}

export function row(cells, attributes = {}) {
  return el("tr", attributes, cells.map((c) => el("td", {}, c instanceof Node ? c : String(c ?? ""))));
}

export function button(label, onclick, attributes = {}) {
  return el("button", { type: "button", onclick, ...attributes, text: label });
}

let fieldIds = 0;

// A labelled input (or select, given options): label text, then the control.
export function field(label, name, attributes = {}, options = null) {
  const id = `f${++fieldIds}`;
  const control = options
    ? el("select", { id, name, ...attributes },
      options.map(([value, text]) => el("option", { value, text })))
    : el("input", { id, name, ...attributes });
  return el("div", { class: "field" }, el("label", { for: id, text: label }), control,
    el("p", { class: "field-error", id: `${id}-error`, "aria-live": "polite" }));
}

export function form(name, children, onsubmit, submitLabel) {
  const node = el("form", { "data-form": name, novalidate: true }, children,
    el("p", { class: "error", role: "alert" }),
    el("button", { type: "submit", text: submitLabel }));
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(node);
    const submit = node.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await onsubmit(new FormData(node), node);
    } catch (error) {
      showError(node, error);
    } finally {
      submit.disabled = false;
    }
  });
  return node;
}

export function clearErrors(formNode) {
  formNode.querySelectorAll(".field-error, .error").forEach((p) => { p.textContent = ""; });
  formNode.querySelectorAll("[aria-invalid]").forEach((c) => c.removeAttribute("aria-invalid"));
}

// An API error in plain words, next to the field it concerns when there is one.
export function showError(formNode, error) {
  const control = error.field && formNode.querySelector(`[name="${CSS.escape(error.field)}"]`);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", `${control.id}-error`);
    document.getElementById(`${control.id}-error`).textContent = error.message;
    control.focus();
  } else {
    formNode.querySelector(".error").textContent = error.message;
  }
}

export function notice(text) {
  document.getElementById("status").textContent = text;
}

export function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// A QR code of ``text`` as an SVG image (qrcode-generator, served from our origin).
export function qr(text, label) {
  const code = window.qrcode(0, "M");
  code.addData(text);
  code.make();
  const image = el("img", { src: code.createDataURL(4, 8), alt: label, class: "qr" });
  return image;
}
