// The admin API, as the console calls it: same origin, the session cookie,
// and the session's CSRF token on every change. Errors keep the API's
// shape ({code, message, field}) so a form can show them on their field.

let csrf = null;

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || "internal";
    this.field = detail.field || null;
  }
}

export function setCsrf(token) {
  csrf = token || null;
}

/** Calls `path` under /api/v1 and answers its JSON body. */
export async function api(path, { method = "GET", body, query, raw } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== "") q.set(k, v);
    }
    if ([...q].length) url += `?${q}`;
  }
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    if (csrf) headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (raw !== undefined) headers["Content-Type"] = "application/wasm";
  }
  const response = await fetch(url, {
    method,
    headers,
    credentials: "same-origin",
    body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || { message: text.slice(0, 200) });
  }
  return data;
}
