// The local backend's dashboard: sessions list and session view over the REST API.
// Plain DOM code, no dependencies. Every piece of data reaches the page through text nodes or
// attribute setters (never innerHTML), so names, tags and attributes show as text, whatever they hold.
"use strict";

(function () {
  const PAGE_SIZE = 20;
  const REFRESH_MS = 3000;
  const STORE_KEY = "agentops_otel.dashboard";
  const END_STATES = ["Success", "Fail", "Indeterminate"];
  const KINDS = ["session", "agent", "llm", "tool", "action", "error"];

  const $ = (id) => document.getElementById(id);

  // -- DOM helpers ---------------------------------------------------------------------------------

  // el("a", {href: "#/", className: "x"}, "text", child): children that are strings become text nodes.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      // Through the CSSOM: the page's Content-Security-Policy forbids inline style attributes.
      else if (key === "style") for (const [name, v] of Object.entries(value)) node.style.setProperty(name, v);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function setError(node, message) {
    node.textContent = message || "";
    show(node, Boolean(message));
  }

  // -- formatting ----------------------------------------------------------------------------------

  // ISO 8601 with microseconds -> milliseconds since the epoch, keeping the sub-millisecond part.
  function parseTime(iso) {
    if (!iso) return null;
    const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
    if (!match) {
      const ms = Date.parse(iso);
      return Number.isNaN(ms) ? null : ms;
    }
    const whole = Date.parse(match[1] + (match[3] || "Z"));
    if (Number.isNaN(whole)) return null;
    const fraction = match[2] ? Number("0." + match[2]) * 1000 : 0;
    return whole + fraction;
  }

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  function formatTime(iso) {
    const ms = parseTime(iso);
    if (ms === null) return "—";
    const d = new Date(ms);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    );
  }

  function timeNode(iso) {
    if (!iso) return el("span", { className: "muted" }, "—");
    return el("time", { datetime: iso, title: iso }, formatTime(iso));
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
    if (seconds < 0.001) return `${(seconds * 1e6).toFixed(0)} µs`;
    if (seconds < 1) return `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0)} ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return `${minutes}m ${pad(Math.round(seconds % 60))}s`;
    return `${Math.floor(minutes / 60)}h ${pad(minutes % 60)}m`;
  }

  function formatCost(usd) {
    if (typeof usd !== "number" || !Number.isFinite(usd)) return "—";
    if (usd === 0) return "$0";
    if (usd < 0.01) return "$" + usd.toPrecision(2).replace(/\.?0+e/, "e");
    return "$" + usd.toFixed(usd < 1 ? 4 : 2);
  }

  function formatCount(n) {
    return typeof n === "number" ? n.toLocaleString("en-US") : "—";
  }

  function formatBytes(n) {
    if (typeof n !== "number") return String(n);
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let value = n;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
  }

  function formatValue(value) {
    if (typeof value === "string") {
      // Structured values recorded as JSON strings (e.g. gen_ai.input.messages) read better indented.
      if (/^\s*[[{]/.test(value)) {
        try {
          return JSON.stringify(JSON.parse(value), null, 2);
        } catch (_) {
          /* not JSON: as it is */
        }
      }
      return value;
    }
    return JSON.stringify(value, null, Array.isArray(value) && value.length <= 8 ? 0 : 2);
  }

  function shortId(id) {
    return id ? String(id).slice(0, 8) : "—";
  }

  // -- badges --------------------------------------------------------------------------------------

  function endStateBadge(state) {
    const known = END_STATES.includes(state) ? state : "Indeterminate";
    return el("span", { className: `badge state state-${known.toLowerCase()}` }, known);
  }

  function kindBadge(kind) {
    const known = KINDS.includes(kind) ? kind : "other";
    return el("span", { className: `badge kind kind-${known}` }, kind || "span");
  }

  function statusMark(status) {
    const known = ["OK", "ERROR", "UNSET"].includes(status) ? status : "UNSET";
    return el("span", { className: `status status-${known.toLowerCase()}` }, known);
  }

  function tagChip(tag, onPick) {
    if (!onPick) return el("span", { className: "tag" }, tag);
    return el(
      "button",
      {
        type: "button",
        className: "tag",
        title: `Show sessions tagged ${tag}`,
        onclick: (event) => {
          event.stopPropagation();
          onPick(tag);
        },
      },
      tag,
    );
  }

  // Only plain web and file links are made clickable; anything else is shown as text.
  function safeLink(url) {
    try {
      const parsed = new URL(url, window.location.href);
      if (["http:", "https:", "file:"].includes(parsed.protocol)) {
        return el("a", { href: parsed.href, rel: "noopener noreferrer", target: "_blank" }, url);
      }
    } catch (_) {
      /* not a URL: fall through */
    }
    return el("span", {}, url);
  }

  // -- auth and API --------------------------------------------------------------------------------

  class Unauthorized extends Error {}

  function loadAuth() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORE_KEY) || "null");
      if (saved && typeof saved.token === "string") return saved;
    } catch (_) {
      /* a damaged entry: sign in again */
    }
    return null;
  }

  let auth = loadAuth();

  function saveAuth(value) {
    auth = value;
    if (value) localStorage.setItem(STORE_KEY, JSON.stringify(value));
    else localStorage.removeItem(STORE_KEY);
  }

  async function api(path) {
    if (!auth) throw new Unauthorized("not signed in");
    const response = await fetch(path, {
      headers: { Authorization: `Bearer ${auth.token}`, Accept: "application/json" },
      cache: "no-store",
    });
    if (response.status === 401) throw new Unauthorized("sign-in expired");
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      /* not JSON */
    }
    if (!response.ok) {
      const error = new Error((body && body.error) || `HTTP ${response.status}`);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  async function signIn(apiKey) {
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
  // local project without a key (POST /api/local/token); elsewhere it answers 403/404 and the page
  // asks for a key.
  async function localSignIn() {
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

  function signOut(message) {
    saveAuth(null);
    stopRefresh();
    window.location.hash = "#/";
    route(message);
  }

  async function handleFailure(error, errorNode) {
    if (error instanceof Unauthorized) {
      // A local token dies with the server that issued it: a restarted server issues another.
      if (auth && auth.local && (await localSignIn())) {
        route();
        return;
      }
      signOut("Your sign-in is no longer valid. Enter the API key again.");
      return;
    }
    const offline = error instanceof TypeError;
    setError(errorNode, offline ? "Cannot reach the backend; retrying." : `Error: ${error.message}`);
  }

  // -- routing -------------------------------------------------------------------------------------

  // "#/" or "#/?tag=a&end_state=Fail&page=2" is the list; "#/sessions/<id>" is one session.
  function parseHash() {
    const hash = window.location.hash.replace(/^#/, "") || "/";
    const [path, query] = hash.split("?", 2);
    const match = /^\/sessions\/([^/]+)\/?$/.exec(path);
    if (match) return { view: "session", id: decodeURIComponent(match[1]) };
    const params = new URLSearchParams(query || "");
    const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
    const size = Math.min(100, Math.max(1, parseInt(params.get("size") || "", 10) || PAGE_SIZE));
    return { view: "list", tag: params.get("tag") || "", endState: params.get("end_state") || "", page, size };
  }

  // The page size stays as the link set it ("size", default 20) while filters and pages change.
  function listHash(tag, endState, page) {
    const params = new URLSearchParams();
    if (tag) params.set("tag", tag);
    if (endState) params.set("end_state", endState);
    if (page > 1) params.set("page", String(page));
    if (current && current.size && current.size !== PAGE_SIZE) params.set("size", String(current.size));
    const query = params.toString();
    return query ? `#/?${query}` : "#/";
  }

  let current = null; // the route being shown
  let lastListKey = ""; // the list response last drawn, to redraw only on change
  let lastSessionKey = "";

  function showView(name) {
    for (const view of ["login", "list", "session"]) show($(`${view}-view`), view === name);
    show($("account"), name !== "login");
    $("project-id").textContent = auth ? auth.project_id || "" : "";
  }

  function route(loginMessage) {
    const next = parseHash();
    const viewChanged = !current || current.view !== next.view || current.id !== next.id;
    current = next;
    if (!auth) {
      showView("login");
      setError($("login-error"), loginMessage || "");
      document.title = "Sign in · AgentOps sessions";
      $("api-key").focus();
      return;
    }
    if (next.view === "session") {
      showView("session");
      if (viewChanged) {
        lastSessionKey = "";
        selectedSpanId = null;
        show($("session-content"), false);
        setError($("session-error"), "");
      }
      loadSession(viewChanged);
    } else {
      showView("list");
      $("filter-tag").value = next.tag;
      $("filter-state").value = next.endState;
      document.title = "Sessions · AgentOps";
      lastListKey = "";
      loadList(viewChanged);
    }
    startRefresh();
  }

  // -- sessions list -------------------------------------------------------------------------------

  async function loadList(focus) {
    const { tag, endState, page, size } = current;
    const params = new URLSearchParams({ limit: String(size + 1), offset: String((page - 1) * size) });
    for (const one of tag.split(",").map((t) => t.trim()).filter(Boolean)) params.append("tag", one);
    if (endState) params.set("end_state", endState);
    try {
      const body = await api(`/api/sessions?${params}`);
      if (current.view !== "list") return;
      setError($("list-error"), "");
      const sessions = body.sessions || [];
      const key = JSON.stringify([params.toString(), sessions]);
      if (key !== lastListKey) {
        lastListKey = key;
        drawList(sessions.slice(0, size), sessions.length > size);
      }
      $("list-status").textContent = `Updated ${formatTime(new Date().toISOString())}`;
      if (focus) $("list-title").focus({ preventScroll: true });
    } catch (error) {
      handleFailure(error, $("list-error"));
    }
  }

  function drawList(sessions, hasMore) {
    const body = clear($("sessions-body"));
    const pickTag = (tag) => {
      window.location.hash = listHash(tag, current.endState, 1);
    };
    for (const s of sessions) {
      const href = `#/sessions/${encodeURIComponent(s.session_id)}`;
      const running = !s.end_time;
      const row = el(
        "tr",
        { dataset: { sessionId: s.session_id }, onclick: () => (window.location.hash = href) },
        el(
          "td",
          { className: "name" },
          el("a", { href }, s.name || "(unnamed)"),
          (s.tags || []).length ? el("div", { className: "tags" }, s.tags.map((t) => tagChip(t, pickTag))) : null,
        ),
        el("td", {}, el("code", { title: s.session_id }, shortId(s.session_id))),
        el("td", {}, timeNode(s.start_time)),
        el("td", { className: "num" }, formatDuration(s.duration_s)),
        el(
          "td",
          { className: "state-cell" },
          endStateBadge(s.end_state),
          running ? el("span", { className: "badge running" }, "running") : null,
        ),
        el("td", { className: "num", dataset: { col: "llm_calls" } }, formatCount(s.llm_calls)),
        el("td", { className: "num", dataset: { col: "tool_calls" } }, formatCount(s.tool_calls)),
        el(
          "td",
          { className: s.errors ? "num has-errors" : "num", dataset: { col: "errors" } },
          formatCount(s.errors),
        ),
        el(
          "td",
          {
            className: "num",
            dataset: { col: "total_tokens" },
            title: `${formatCount(s.prompt_tokens)} prompt + ${formatCount(s.completion_tokens)} completion`,
          },
          formatCount(s.total_tokens),
        ),
        el("td", { className: "num", dataset: { col: "cost_usd" }, title: `$${s.cost_usd}` }, formatCost(s.cost_usd)),
      );
      body.append(row);
    }
    show($("list-empty"), sessions.length === 0);
    const page = current.page;
    $("page-prev").disabled = page <= 1;
    $("page-next").disabled = !hasMore;
    $("page-label").textContent = `Page ${page}`;
  }

  // -- one session ---------------------------------------------------------------------------------

  let selectedSpanId = null;
  let sessionSpans = new Map();

  async function loadSession(focus) {
    const id = current.id;
    try {
      const session = await api(`/api/sessions/${encodeURIComponent(id)}`);
      if (current.view !== "session" || current.id !== id) return;
      setError($("session-error"), "");
      const key = JSON.stringify(session);
      if (key !== lastSessionKey) {
        lastSessionKey = key;
        drawSession(session);
      }
      $("session-status").textContent = session.end_time
        ? ""
        : `Running · updated ${formatTime(new Date().toISOString())}`;
      if (focus) $("session-title").focus({ preventScroll: true });
    } catch (error) {
      if (error.status === 404) {
        show($("session-content"), false);
        setError($("session-error"), `No session ${id} in this project (yet).`);
        return;
      }
      handleFailure(error, $("session-error"));
    }
  }

  function field(list, label, ...value) {
    list.append(el("div", { className: "field-row" }, el("dt", {}, label), el("dd", {}, ...value)));
  }

  function stat(label, value, extraClass) {
    return el("li", { className: `stat ${extraClass || ""}` }, el("span", { className: "stat-value" }, value), el("span", { className: "stat-label" }, label));
  }

  function drawSession(s) {
    show($("session-content"), true);
    document.title = `${s.name || "Session"} · AgentOps`;
    $("session-title").textContent = s.name || "(unnamed session)";
    const badges = clear($("session-badges"));
    badges.append(endStateBadge(s.end_state));
    if (!s.end_time) badges.append(el("span", { className: "badge running" }, "running"));

    clear($("session-stats")).append(
      stat("Duration", formatDuration(s.duration_s)),
      stat("LLM calls", formatCount(s.llm_calls)),
      stat("Tool calls", formatCount(s.tool_calls)),
      stat("Actions", formatCount(s.actions)),
      stat("Errors", formatCount(s.errors), s.errors ? "has-errors" : ""),
      stat("Tokens", formatCount(s.total_tokens)),
      stat("Cost", formatCost(s.cost_usd)),
      stat("Spans", formatCount(s.span_count)),
    );

    const fields = clear($("session-fields"));
    field(fields, "Session ID", el("code", {}, s.session_id));
    if (s.trace_id) field(fields, "Trace ID", el("code", {}, s.trace_id));
    field(fields, "Name", s.name || "—");
    field(fields, "Start", timeNode(s.start_time));
    field(fields, "End", s.end_time ? timeNode(s.end_time) : el("span", { className: "muted" }, "still running"));
    field(fields, "End state", endStateBadge(s.end_state));
    field(fields, "End state reason", s.end_state_reason ? s.end_state_reason : el("span", { className: "muted" }, "—"));
    field(
      fields,
      "Tags",
      (s.tags || []).length
        ? el("span", { className: "tags" }, s.tags.map((t) => tagChip(t, (tag) => (window.location.hash = listHash(tag, "", 1)))))
        : el("span", { className: "muted" }, "none"),
    );
    field(
      fields,
      "Tokens",
      `${formatCount(s.prompt_tokens)} prompt + ${formatCount(s.completion_tokens)} completion = ${formatCount(s.total_tokens)}`,
    );
    field(fields, "Video", s.video ? safeLink(s.video) : el("span", { className: "muted" }, "none"));
    field(fields, "Project", el("code", {}, s.project_id));

    const host = clear($("host-fields"));
    const env = s.host_env || {};
    const keys = Object.keys(env).sort();
    if (!keys.length) host.append(el("p", { className: "muted" }, "Not recorded."));
    for (const key of keys) {
      const value = env[key];
      const bytes = /\.(memory|disk)\.total$|bytes/.test(key) && typeof value === "number";
      field(host, key, bytes ? el("span", { title: String(value) }, formatBytes(value)) : formatValue(value));
    }

    drawSpans(s);
  }

  // -- span tree / waterfall -----------------------------------------------------------------------

  // Children under their parent, each level by start time; spans whose parent is missing sit at the top.
  function spanTree(spans) {
    const byId = new Map(spans.map((span) => [span.span_id, span]));
    const children = new Map();
    const roots = [];
    for (const span of spans) {
      const parent = span.parent_span_id;
      if (parent && byId.has(parent) && parent !== span.span_id) {
        if (!children.has(parent)) children.set(parent, []);
        children.get(parent).push(span);
      } else {
        roots.push(span);
      }
    }
    const byStart = (a, b) => (parseTime(a.start_time) || 0) - (parseTime(b.start_time) || 0);
    const ordered = [];
    const seen = new Set();
    const walk = (span, depth) => {
      if (seen.has(span.span_id)) return; // defensive: a cycle in bad data
      seen.add(span.span_id);
      ordered.push({ span, depth, hasChildren: children.has(span.span_id) });
      for (const child of (children.get(span.span_id) || []).sort(byStart)) walk(child, depth + 1);
    };
    for (const root of roots.sort(byStart)) walk(root, 0);
    return ordered;
  }

  function drawSpans(session) {
    const spans = session.spans || [];
    sessionSpans = new Map(spans.map((span) => [span.span_id, span]));
    const rows = spanTree(spans);
    const starts = spans.map((s) => parseTime(s.start_time)).filter((t) => t !== null);
    const ends = spans.map((s) => parseTime(s.end_time)).filter((t) => t !== null);
    const t0 = starts.length ? Math.min(...starts) : 0;
    const now = Date.now();
    const t1 = Math.max(t0 + 0.001, ...(ends.length ? ends : [t0]), session.end_time ? 0 : Math.min(now, t0 + 3600e3));
    const total = t1 - t0;

    const list = clear($("span-tree"));
    if (!rows.length) {
      list.append(el("li", { className: "muted empty" }, session.end_time ? "No spans." : "No spans yet."));
    }
    for (const { span, depth } of rows) {
      const start = parseTime(span.start_time);
      const end = parseTime(span.end_time);
      const open = end === null;
      const left = start === null ? 0 : ((start - t0) / total) * 100;
      const width = start === null ? 0 : Math.max(((open ? t1 : end) - start) / total * 100, 0.4);
      const seconds = start !== null && end !== null ? (end - start) / 1000 : null;
      const selected = span.span_id === selectedSpanId;
      const error = span.status === "ERROR" || span.kind === "error";
      const button = el(
        "button",
        {
          type: "button",
          className: `span-row${error ? " is-error" : ""}`,
          "aria-pressed": selected ? "true" : "false",
          dataset: { spanId: span.span_id, kind: span.kind || "" },
          onclick: () => selectSpan(span.span_id, true),
          onkeydown: moveBetweenSpans,
        },
        el(
          "span",
          { className: "span-label", style: { "--depth": String(depth) } },
          kindBadge(span.kind),
          el("span", { className: "span-name" }, span.name),
          span.status !== "UNSET" ? statusMark(span.status) : null,
        ),
        el(
          "span",
          { className: "span-track", "aria-hidden": "true" },
          el("span", {
            className: `span-bar kind-${KINDS.includes(span.kind) ? span.kind : "other"}${open ? " open" : ""}`,
            style: { left: `${left.toFixed(3)}%`, width: `${Math.min(width, 100 - left).toFixed(3)}%` },
          }),
        ),
        el("span", { className: "span-duration num" }, open ? "running" : formatDuration(seconds)),
      );
      list.append(el("li", {}, button));
    }
    if (selectedSpanId && sessionSpans.has(selectedSpanId)) selectSpan(selectedSpanId, false);
    else show($("span-detail"), false);
  }

  function moveBetweenSpans(event) {
    const buttons = Array.from(document.querySelectorAll("#span-tree .span-row"));
    const index = buttons.indexOf(event.currentTarget);
    let target = null;
    if (event.key === "ArrowDown") target = buttons[index + 1];
    else if (event.key === "ArrowUp") target = buttons[index - 1];
    else if (event.key === "Home") target = buttons[0];
    else if (event.key === "End") target = buttons[buttons.length - 1];
    if (target) {
      event.preventDefault();
      target.focus();
    }
  }

  function selectSpan(spanId, focusDetail) {
    const span = sessionSpans.get(spanId);
    if (!span) return;
    selectedSpanId = spanId;
    for (const button of document.querySelectorAll("#span-tree .span-row")) {
      button.setAttribute("aria-pressed", button.dataset.spanId === spanId ? "true" : "false");
    }
    const panel = $("span-detail");
    show(panel, true);
    const title = clear($("span-detail-title"));
    title.append(kindBadge(span.kind), " ", span.name);

    const fields = clear($("span-fields"));
    const start = parseTime(span.start_time);
    const end = parseTime(span.end_time);
    field(fields, "Kind", span.kind || "—");
    field(fields, "Status", statusMark(span.status), span.status_message ? ` ${span.status_message}` : "");
    field(fields, "Span ID", el("code", {}, span.span_id));
    field(fields, "Parent", span.parent_span_id ? el("code", {}, span.parent_span_id) : el("span", { className: "muted" }, "none (root)"));
    field(fields, "Start", timeNode(span.start_time));
    field(fields, "End", span.end_time ? timeNode(span.end_time) : el("span", { className: "muted" }, "still open"));
    field(fields, "Duration", start !== null && end !== null ? formatDuration((end - start) / 1000) : "—");

    const tbody = clear($("span-attributes").tBodies[0]);
    const attributes = span.attributes || {};
    const keys = Object.keys(attributes).sort();
    if (!keys.length) tbody.append(el("tr", {}, el("td", { colspan: 2, className: "muted" }, "No attributes.")));
    for (const key of keys) {
      const text = formatValue(attributes[key]);
      const long = text.length > 120 || text.includes("\n");
      tbody.append(
        el("tr", { dataset: { attribute: key } }, el("th", { scope: "row" }, el("code", {}, key)), el("td", {}, long ? el("pre", {}, text) : text)),
      );
    }

    const events = clear($("span-events"));
    if ((span.events || []).length) {
      events.append(el("h3", {}, "Events"));
      for (const event of span.events) {
        const attrs = event.attributes || {};
        events.append(
          el(
            "details",
            { className: "event", open: event.name === "exception" ? true : null },
            el("summary", {}, el("strong", {}, event.name), " · ", timeNode(event.time)),
            el(
              "dl",
              { className: "fields" },
              Object.keys(attrs)
                .sort()
                .map((k) => el("div", { className: "field-row" }, el("dt", {}, k), el("dd", {}, el("pre", {}, formatValue(attrs[k]))))),
            ),
          ),
        );
      }
    }
    if (focusDetail) title.focus({ preventScroll: false });
  }

  // -- auto-refresh --------------------------------------------------------------------------------

  let timer = null;

  function startRefresh() {
    stopRefresh();
    if (!$("auto-refresh").checked) return;
    timer = window.setInterval(() => {
      if (!auth || document.hidden || !current) return;
      if (current.view === "list") loadList(false);
      else if (current.view === "session") loadSession(false);
    }, REFRESH_MS);
  }

  function stopRefresh() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  }

  // -- wiring --------------------------------------------------------------------------------------

  function init() {
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
        current = null;
        route();
      } catch (error) {
        setError($("login-error"), error.message);
        $("api-key").select();
      } finally {
        submit.disabled = false;
      }
    });
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      window.location.hash = listHash($("filter-tag").value.trim(), $("filter-state").value, 1);
    });
    $("filter-state").addEventListener("change", () => {
      window.location.hash = listHash($("filter-tag").value.trim(), $("filter-state").value, 1);
    });
    $("filter-clear").addEventListener("click", () => {
      window.location.hash = listHash("", "", 1);
    });
    $("page-prev").addEventListener("click", () => {
      window.location.hash = listHash(current.tag, current.endState, Math.max(1, current.page - 1));
    });
    $("page-next").addEventListener("click", () => {
      window.location.hash = listHash(current.tag, current.endState, current.page + 1);
    });
    $("refresh-now").addEventListener("click", () => loadList(false));
    $("auto-refresh").addEventListener("change", startRefresh);
    window.addEventListener("hashchange", () => route());
    window.addEventListener("storage", (event) => {
      // Signed in or out in another tab.
      if (event.key === STORE_KEY) {
        auth = loadAuth();
        current = null;
        route();
      }
    });
    if (auth) route();
    else localSignIn().then(() => route());
  }

  init();
})();
