// The local backend's dashboard: routing, sign-in, messages, and the three pages (sessions list,
// one session, overview). Plain ES modules, no build step, nothing loaded from outside the backend.
import { $, el, clear, show, setError } from "./dom.js";
import { session as auth, signIn, localSignIn, signOut, onAuthChangeElsewhere, Unauthorized } from "./api.js";
import { parseListQuery, listHash, fillForm, loadList, forgetList, wireListForm } from "./list.js";
import { initSession, openSession, stopSession, closeDetail, REFRESH_MS } from "./session.js";
import { parseOverviewQuery, wireOverview, loadOverview } from "./overview.js";
import * as fmt from "./format.js";

let current = null; // the route being shown
let listTimer = null;

// -- messages that stay until dismissed -----------------------------------------------------------

function notify(message) {
  $("notice-text").textContent = message;
  show($("notice"), true);
}

function dismiss() {
  show($("notice"), false);
  $("notice-text").textContent = "";
}

// -- routing --------------------------------------------------------------------------------------

// "#/?q=..." is the list, "#/sessions/<id>[?span=<span id>]" one session, "#/overview?range=7d".
function parseHash() {
  const hash = window.location.hash.replace(/^#/, "") || "/";
  const cut = hash.indexOf("?");
  const path = cut < 0 ? hash : hash.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? "" : hash.slice(cut + 1));
  const match = /^\/sessions\/([^/]+)\/?$/.exec(path);
  if (match) return { view: "session", id: decodeURIComponent(match[1]), span: params.get("span") || null };
  if (/^\/overview\/?$/.test(path)) return parseOverviewQuery(params);
  return parseListQuery(params);
}

// To a new hash; "replace" keeps the history entry (search as you type).
function navigate(hash, replace) {
  if (hash === window.location.hash || (hash === "#/" && !window.location.hash)) {
    route();
    return;
  }
  if (replace) {
    window.history.replaceState(null, "", hash);
    route();
  } else window.location.hash = hash;
}

function setSpanInUrl(spanId) {
  if (!current || current.view !== "session") return;
  const base = `#/sessions/${encodeURIComponent(current.id)}`;
  const hash = spanId ? `${base}?span=${encodeURIComponent(spanId)}` : base;
  current.span = spanId;
  window.history.replaceState(null, "", hash);
}

function showView(name) {
  for (const view of ["login", "list", "session", "overview"]) show($(`${view}-view`), view === name);
  show($("account"), name !== "login");
  show($("nav"), name !== "login");
  $("nav-sessions").setAttribute("aria-current", name === "list" || name === "session" ? "page" : "false");
  $("nav-overview").setAttribute("aria-current", name === "overview" ? "page" : "false");
  drawAccount();
}

function drawAccount() {
  const label = clear($("project-label"));
  const a = auth.auth;
  if (!a) return;
  if (a.local) {
    label.append(
      el("span", { className: "badge local", title: "Sessions recorded on this machine with no API key. The server opened this project without a key because it runs on 127.0.0.1 over the default store." }, "local"),
      " ",
      el("span", { className: "muted small" }, "this machine's sessions, no key needed"),
    );
  } else label.append("Project ", el("code", { title: a.project_id || "" }, fmt.shortId(a.project_id)));
}

function route() {
  const next = parseHash();
  const changed = !current || current.view !== next.view || current.id !== next.id;
  const previous = current;
  current = next;
  stopListRefresh();
  if (!auth.auth) {
    stopSession();
    showView("login");
    document.title = "Sign in · AgentOps sessions";
    $("api-key").focus();
    return;
  }
  if (next.view === "session") {
    showView("session");
    if (changed) openSession(next.id, next.span);
    return;
  }
  stopSession();
  if (next.view === "overview") {
    showView("overview");
    document.title = "Overview · AgentOps";
    loadOverview(next, () => current === next).catch((error) => onFailure(error, $("overview-error")));
    if (changed) $("overview-title").focus({ preventScroll: true });
    return;
  }
  showView("list");
  document.title = "Sessions · AgentOps";
  fillForm(next);
  if (changed || !previous) forgetList();
  refreshList(changed);
}

// -- the list's refresh ----------------------------------------------------------------------------

async function refreshList(focus) {
  const query = current;
  try {
    const shown = await loadList(query, navigate, () => current === query);
    if (!shown) return;
    setError($("list-error"), "");
    $("list-status").textContent = `Updated ${fmt.localTime(new Date().toISOString())}`;
    if (focus) $("list-title").focus({ preventScroll: true });
  } catch (error) {
    if (current !== query) return;
    await onFailure(error, $("list-error"));
  }
  if (current === query) scheduleList();
}

function scheduleList() {
  stopListRefresh();
  if (!$("auto-refresh").checked) return;
  listTimer = window.setTimeout(() => {
    listTimer = null;
    if (current && current.view === "list" && auth.auth) {
      if (document.hidden) scheduleList();
      else refreshList(false);
    }
  }, REFRESH_MS);
}

function stopListRefresh() {
  if (listTimer !== null) window.clearTimeout(listTimer);
  listTimer = null;
}

// -- sign-in and failures ---------------------------------------------------------------------------

// The message shows until dismissed; the route stays, so signing in again returns to it.
function leave(message, toStart) {
  signOut();
  stopSession();
  if (message) notify(message);
  if (toStart && window.location.hash && window.location.hash !== "#/") window.history.replaceState(null, "", "#/");
  current = null;
  route();
}

async function onFailure(error, errorNode) {
  if (error instanceof Unauthorized) {
    // A local token dies with the server that issued it: a restarted server issues another.
    if (auth.auth && auth.auth.local && (await localSignIn())) {
      current = null;
      route();
      return;
    }
    leave("Your sign-in is no longer valid. Enter the API key again.", false);
    return;
  }
  const offline = error instanceof TypeError;
  setError(errorNode, offline ? "Cannot reach the backend; retrying." : `Error: ${error.message}`);
}

function wireSignIn() {
  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) {
      setError($("login-error"), "Enter an API key.");
      return;
    }
    const submit = event.currentTarget.querySelector("button[type=submit]");
    submit.disabled = true;
    setError($("login-error"), "");
    try {
      await signIn(key);
      $("api-key").value = "";
      dismiss();
      current = null;
      route();
    } catch (error) {
      setError($("login-error"), error.message);
      $("api-key").select();
    } finally {
      submit.disabled = false;
    }
  });
  $("show-key").addEventListener("click", () => {
    const visible = $("api-key").type === "text";
    $("api-key").type = visible ? "password" : "text";
    $("show-key").setAttribute("aria-pressed", String(!visible));
    $("show-key").textContent = visible ? "Show" : "Hide";
  });
  $("sign-out").addEventListener("click", () => leave("Signed out.", true));
}

// Escape closes the detail panel (focus goes back to its span), then the notice.
function onKey(event) {
  if (event.key !== "Escape" || event.defaultPrevented) return;
  if (current && current.view === "session" && closeDetail()) {
    event.preventDefault();
    return;
  }
  if (!$("notice").hidden) dismiss();
}

function init() {
  wireSignIn();
  wireListForm(() => current, navigate);
  wireOverview(() => current, navigate);
  initSession({ onFailure, listHash: (tag) => listHash({ ...parseListQuery(new URLSearchParams()), tags: [tag] }), setSpanInUrl });
  $("notice-dismiss").addEventListener("click", dismiss);
  $("refresh-now").addEventListener("click", () => {
    forgetList();
    refreshList(false);
  });
  $("auto-refresh").addEventListener("change", () => (current && current.view === "list" ? scheduleList() : null));
  document.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", () => route());
  onAuthChangeElsewhere(() => {
    current = null;
    route();
  });
  if (auth.auth) route();
  else localSignIn().then(() => route());
}

init();
