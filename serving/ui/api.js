// Calls to the service's REST API (same origin, relative to the page at /ui/), with the bearer token
// the person entered when the service asks for one.

const TOKEN_KEY = "attnops-api-token";
const ROOT = new URL("../", document.baseURI);

/** An answer other than 2xx: `status` and the API's own message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

/** The API's `detail` as one readable text: a string as it is, FastAPI's 422 list as "field: message" lines. */
export function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${(e.loc || []).filter((p) => p !== "body").join(".") || "body"}: ${e.msg}`).join("\n");
  }
  return JSON.stringify(detail);
}

/** `fetch` a path of the API (e.g. "v1/translate"); the parsed JSON body, or an ApiError. */
export async function call(path, { json, form, method } = {}) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary
  }
  let response;
  try {
    response = await fetch(new URL(path, ROOT), { method: method || (body ? "POST" : "GET"), headers, body });
  } catch (err) {
    throw new ApiError(0, `the service did not answer (${err.message})`);
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (err) {
    if (response.ok) throw new ApiError(response.status, `the service's answer is not valid JSON (${err.message})`);
  }
  if (!response.ok) {
    const message = parsed && parsed.detail !== undefined ? describe(parsed.detail) : text || response.statusText;
    throw new ApiError(response.status, `${response.status}: ${message}`);
  }
  return parsed;
}
