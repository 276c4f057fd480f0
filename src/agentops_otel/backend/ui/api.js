// The REST API as the dashboard reads it: sign-in, ETag-aware GETs, and a small adapter that gives the
// pages the answers of the newer API (docs/api_v2: search, sorting, totals, span pages, /api/overview)
// and computes them in the browser, within a window of recent sessions, from an older server.

const STORE_KEY = "agentops_otel.dashboard";
export const LEGACY_WINDOW = 1000; // sessions an older server is asked for when the page filters itself
export const SPAN_PAGE = 2000; // spans per page of a big session (spans_limit)

export class Unauthorized extends Error {}

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function loadAuth() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
    if (saved && typeof saved.token === "string") return saved;
  } catch (_) {
    /* a damaged entry: sign in again */
  }
  return null;
}

export const session = { auth: loadAuth() };

export function saveAuth(value) {
  session.auth = value;
  if (value) localStorage.setItem(STORE_KEY, JSON.stringify(value));
  else localStorage.removeItem(STORE_KEY);
}

export function onAuthChangeElsewhere(callback) {
  window.addEventListener("storage", (event) => {
    if (event.key === STORE_KEY) {
      session.auth = loadAuth();
      callback();
    }
  });
}

// What the server turned out to support (null: not known yet).
export const supports = { listV2: null, overview: null, spanDetail: null };

// path -> {etag, body}: an answer that an If-None-Match can confirm with a 304.
const etags = new Map();
export const stats = { requests: 0, notModified: 0 }; // for the tests and the curious

export async function get(path) {
  const auth = session.auth;
  if (!auth) throw new Unauthorized("not signed in");
  const headers = { Authorization: `Bearer ${auth.token}`, Accept: "application/json" };
  const known = etags.get(path);
  if (known) headers["If-None-Match"] = known.etag;
  stats.requests += 1;
  const response = await fetch(path, { headers, cache: "no-store" });
  if (response.status === 401) throw new Unauthorized("sign-in expired");
  if (response.status === 304 && known) {
    stats.notModified += 1;
    return { body: known.body, notModified: true };
  }
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    /* not JSON */
  }
  if (!response.ok) throw new HttpError(response.status, (body && body.error) || `HTTP ${response.status}`);
  const etag = response.headers.get("ETag");
  if (etag) {
    if (etags.size >= 500) etags.delete(etags.keys().next().value); // the oldest answer first
    etags.set(path, { etag, body });
  }
  return { body, notModified: false };
}

export async function signIn(apiKey) {
  let response;
  try {
    response = await fetch("/v3/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ api_key: apiKey }),
    });
  } catch (_) {
    throw new Error("Cannot reach the backend. Is `agentops-otel serve` running?");
  }
  if (response.status === 401) {
    throw new Error("Unknown API key. Check the key printed by `agentops-otel projects create`.");
  }
  if (!response.ok) throw new Error(`Sign-in failed (HTTP ${response.status}).`);
  const body = await response.json();
  saveAuth({ token: body.token, project_id: body.project_id });
}

// Served on 127.0.0.1 over the default store, the server hands this machine's user a token for the
// local project without a key (POST /api/local/token); elsewhere it answers 403/404.
export async function localSignIn() {
  try {
    const response = await fetch("/api/local/token", { method: "POST", headers: { Accept: "application/json" } });
    if (!response.ok) return false;
    const body = await response.json();
    saveAuth({ token: body.token, project_id: body.project_id, local: true });
    return true;
  } catch (_) {
    return false;
  }
}

export function signOut() {
  saveAuth(null);
  etags.clear();
}
