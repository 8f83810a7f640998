// The one way the website reaches the exchange: the public API (window.EXCHANGE_API).
// The session token lives in this tab's sessionStorage and nowhere else.

export const API = window.EXCHANGE_API;

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export const session = {
  get token() { return sessionStorage.getItem("token"); },
  get email() { return sessionStorage.getItem("email"); },
  start(token, email) {
    sessionStorage.setItem("token", token);
    sessionStorage.setItem("email", email);
  },
  end() {
    sessionStorage.removeItem("token");
    sessionStorage.removeItem("email");
  },
};

export async function api(method, path, body, headers = {}) {
  const sent = { Accept: "application/json", ...headers };
  if (session.token) sent.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(API + path, {
      method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", "The exchange cannot be reached. Check your connection.");
  }
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { /* a proxy's HTML page */ }
  if (!response.ok) {
    const error = data.error || {};
    if (response.status === 401 && error.code === "invalid_session") {
      session.end();
      window.dispatchEvent(new Event("session-ended"));
    }
    throw new ApiError(response.status, error.code || "http_error",
      error.message || `The exchange answered ${response.status}.`, error.field || null);
  }
  return data;
}
