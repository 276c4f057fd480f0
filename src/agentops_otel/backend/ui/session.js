// One session: its figures and fields, the span tree beside the detail panel. A running session is
// fetched again every few seconds (conditionally, with its ETag where the server sends one); an ended
// one is fetched once and never polled.
import { $, el, clear, show, setError, field, formatValue, endStateBadge, tagChip, safeLink, copyButton, truncated } from "./dom.js";
import { get, supports, HttpError, SPAN_PAGE } from "./api.js";
import { SpanTree } from "./spantree.js";
import { Waterfall } from "./waterfall.js";
import { renderDetail, hideDetail } from "./detail.js";
import * as fmt from "./format.js";

export const REFRESH_MS = 3000;

const state = { id: null, session: null, tree: null, timer: null, generation: 0, fullSpans: new Map(), errorCursor: -1 };
let waterfall = null;
let hooks = null; // {onFailure(error, node), listHash(tag), setSpanInUrl(id), isCurrent(id)}

export function initSession(appHooks) {
  hooks = appHooks;
  waterfall = new Waterfall($("span-scroll"), $("span-tree"), $("axis"), $("waterfall-head"), {
    onSelect: (node, how) => select(node, how),
    onLayout: () => layout(),
  });
  let filterTimer = null;
  $("span-filter").addEventListener("input", () => {
    window.clearTimeout(filterTimer);
    filterTimer = window.setTimeout(layout, 150);
  });
  $("span-kind").addEventListener("change", layout);
  $("errors-only").addEventListener("change", layout);
  $("collapse-all").addEventListener("click", () => {
    if (!state.tree) return;
    waterfall.collapsed = new Set(state.tree.order.filter((n) => n.depth >= 1 && n.children.length).map((n) => n.id));
    layout();
  });
  $("expand-all").addEventListener("click", () => {
    waterfall.collapsed = new Set();
    layout();
  });
  $("next-error").addEventListener("click", nextError);
  $("zoom-in").addEventListener("click", () => waterfall.tree && waterfall.zoom(0.5));
  $("zoom-out").addEventListener("click", () => waterfall.tree && waterfall.zoom(2));
  $("zoom-reset").addEventListener("click", () => waterfall.tree && waterfall.zoomTo(0, Infinity));
  $("detail-close").addEventListener("click", () => closeDetail());
  window.addEventListener("resize", fitBody);
  $("session-more").addEventListener("toggle", fitBody);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.id && state.session && !state.session.end_time) schedule(0);
  });
}

export function openSession(id, spanId) {
  stopSession();
  state.id = id;
  state.session = null;
  state.tree = null;
  state.fullSpans = new Map();
  state.cache = new Map();
  state.errorCursor = -1;
  state.wantSpan = spanId || null;
  state.generation += 1;
  waterfall.reset();
  hideDetail();
  $("span-filter").value = "";
  $("span-kind").value = "";
  $("errors-only").checked = false;
  $("next-error").textContent = "First error";
  show($("session-content"), false);
  setError($("session-error"), "");
  load(true);
}

export function stopSession() {
  if (state.timer !== null) window.clearTimeout(state.timer);
  state.timer = null;
  state.id = null;
}

export function detailOpen() {
  return !$("span-detail").hidden;
}

function schedule(ms) {
  if (state.timer !== null) window.clearTimeout(state.timer);
  state.timer = window.setTimeout(() => {
    state.timer = null;
    if (!document.hidden && state.id) load(false);
  }, ms);
}

// The session in pages of SPAN_PAGE spans where the server pages them; the tree is drawn from the
// first page on and grows as the others arrive.
async function load(first) {
  const id = state.id;
  const generation = state.generation;
  const current = () => state.id === id && state.generation === generation;
  const base = `/api/sessions/${encodeURIComponent(id)}`;
  try {
    const { body, notModified } = await get(`${base}?spans_limit=${SPAN_PAGE}`);
    if (!current()) return;
    setError($("session-error"), "");
    if (!notModified || first) {
      let spans = body.spans || [];
      let cursor = body.spans_next_cursor;
      await draw(body, spans, Boolean(cursor), first, current);
      let drawn = spans.length;
      while (cursor && current()) {
        const page = await get(`${base}?spans_limit=${SPAN_PAGE}&spans_cursor=${encodeURIComponent(cursor)}`);
        if (!current()) return;
        spans = spans.concat(page.body.spans || []);
        cursor = page.body.spans_next_cursor;
        // Redrawn as it grows by a quarter, and at the end: a big session is not rebuilt per page.
        if (!cursor || spans.length >= drawn * 1.25) {
          drawn = spans.length;
          await draw(page.body, spans, Boolean(cursor), false, current);
        } else {
          $("span-loading").textContent = `Loading spans: ${fmt.count(spans.length)} of ${fmt.count(page.body.span_count)}…`;
        }
      }
    }
    const running = !state.session.end_time;
    $("session-status").textContent = running ? `Running · updated ${fmt.localTime(new Date().toISOString())}` : "";
    if (first) $("session-title").focus({ preventScroll: true });
    if (running) schedule(REFRESH_MS); // an ended session is never fetched again
  } catch (error) {
    if (!current()) return;
    if (error instanceof HttpError && error.status === 404) {
      show($("session-content"), false);
      setError($("session-error"), `No session ${id} in this project (yet).`);
      return;
    }
    hooks.onFailure(error, $("session-error"));
    if (!state.session || !state.session.end_time) schedule(REFRESH_MS);
  }
}

// Lets the browser paint and handle input between two pieces of work.
function nextTask() {
  return new Promise((resolve) => window.setTimeout(resolve, 0));
}

// The tree pane and the detail fill the window below the session's head, so that both scroll on
// their own and the page itself never has to.
function fitBody() {
  const body = document.querySelector(".session-body");
  if (!body || body.offsetParent === null) return;
  const top = body.getBoundingClientRect().top + window.scrollY;
  body.style.setProperty("height", `${Math.max(420, window.innerHeight - top - 12)}px`);
}

async function draw(session, spans, more, first, isCurrent) {
  state.session = session;
  show($("session-content"), true);
  drawHead(session);
  fitBody();
  // Three tasks, not one: the answer's parse, the tree, the drawing (a big session stays responsive).
  await nextTask();
  if (!isCurrent()) return;
  state.tree = await SpanTree.build(spans, session, state.cache, nextTask);
  await nextTask();
  if (!isCurrent()) return;
  layout();
  const loading = $("span-loading");
  loading.textContent = more ? `Loading spans: ${fmt.count(spans.length)} of ${fmt.count(session.span_count)}…` : "";
  show(loading, more);
  if (state.wantSpan && state.tree.nodes.has(state.wantSpan)) {
    const node = state.tree.nodes.get(state.wantSpan);
    state.wantSpan = null;
    reveal(node);
    select(node, "link");
  } else if (waterfall.selectedId && detailOpen() && !first) {
    // A running session's open span may have ended meanwhile: show it as it is now.
    const node = state.tree.nodes.get(waterfall.selectedId);
    if (node && !state.fullSpans.has(node.id) && state.shown !== shownKey(node.span)) showDetail(node.span, node);
  }
}

function layout() {
  if (!state.tree) return;
  const filter = { text: $("span-filter").value, kind: $("span-kind").value, errorsOnly: $("errors-only").checked };
  const rows = state.tree.visible(waterfall.collapsed, filter);
  waterfall.setTree(state.tree, rows);
  const total = state.tree.order.length;
  $("span-count").textContent = rows.length === total ? `(${fmt.count(total)})` : `(${fmt.count(rows.length)} of ${fmt.count(total)} shown)`;
  $("next-error").disabled = state.tree.errors.length === 0;
}

function stat(label, value, extraClass, key) {
  return el("li", { className: `stat ${extraClass || ""}`, dataset: { figure: key } }, el("span", { className: "stat-value" }, value), el("span", { className: "stat-label" }, label));
}

function drawHead(s) {
  const running = !s.end_time;
  document.title = `${s.name || "Session"} · AgentOps`;
  const title = $("session-title");
  title.textContent = s.name || "(unnamed session)";
  title.title = s.name || "";
  clear($("session-badges")).append(endStateBadge(s.end_state, running), ...(s.tags || []).map((t) => tagChip(t, (tag) => (window.location.hash = hooks.listHash(tag)))));
  clear($("session-stats")).append(
    stat("Duration", running ? "running" : fmt.duration(s.duration_s), "", "duration"),
    stat("LLM calls", fmt.count(s.llm_calls), "", "llm_calls"),
    stat("Tool calls", fmt.count(s.tool_calls), "", "tool_calls"),
    stat("Actions", fmt.count(s.actions), "", "actions"),
    stat("Errors", fmt.count(s.errors), s.errors ? "has-errors" : "", "errors"),
    stat("Tokens", fmt.tokens(s.total_tokens), "", "total_tokens"),
    stat("Cost", fmt.sessionCost(s), "", "cost_usd"),
    stat("Spans", fmt.count(s.span_count), "", "span_count"),
  );
  $("session-summary").textContent = `· started ${fmt.localTime(s.start_time)}${s.end_state_reason ? ` · ${String(s.end_state_reason).split("\n")[0].slice(0, 80)}` : ""}`;
  const fields = clear($("session-fields"));
  field(fields, "Session ID", el("code", {}, s.session_id), " ", copyButton(s.session_id, "session id"));
  if (s.trace_id) field(fields, "Trace ID", el("code", {}, s.trace_id));
  field(fields, "Name", s.name ? truncated("span", s.name) : "—");
  field(fields, "Start", el("time", { datetime: s.start_time, title: s.start_time }, fmt.localTime(s.start_time, true)));
  field(fields, "End", s.end_time ? el("time", { datetime: s.end_time, title: s.end_time }, fmt.localTime(s.end_time, true)) : el("span", { className: "muted" }, "still running"));
  field(fields, "End state", endStateBadge(s.end_state, running));
  field(fields, "End state reason", s.end_state_reason ? el("pre", { className: "reason" }, s.end_state_reason) : el("span", { className: "muted" }, "—"));
  field(fields, "Tokens", `${fmt.tokens(s.prompt_tokens)} prompt + ${fmt.tokens(s.completion_tokens)} completion = ${fmt.tokens(s.total_tokens)}`);
  if (s.video) field(fields, "Video", safeLink(s.video));
  field(fields, "Project", el("code", {}, s.project_id));
  const host = clear($("host-fields"));
  const env = s.host_env || {};
  const keys = Object.keys(env).sort();
  if (!keys.length) host.append(el("p", { className: "muted" }, "Not recorded."));
  for (const key of keys) {
    const value = env[key];
    const bytes = /\.(memory|disk)\.total$|bytes/.test(key) && typeof value === "number";
    field(host, key, bytes ? el("span", { title: String(value) }, fmt.bytes(value)) : formatValue(value));
  }
}

// -- selection -------------------------------------------------------------------------------------

const shownKey = (span) => `${span.span_id} ${span.end_time} ${span.status}`;

function showDetail(span, node) {
  state.shown = shownKey(span);
  renderDetail(span, node);
}

async function select(node, how) {
  waterfall.selectedId = node.id;
  waterfall.focusIndex = Math.max(0, waterfall.indexOf(node.id));
  waterfall.draw();
  hooks.setSpanInUrl(node.id);
  showDetail(state.fullSpans.get(node.id) || node.span, node);
  if (how === "key" || how === "link") $("span-detail-title").focus({ preventScroll: true });
  if (node.span.placeholder || state.fullSpans.has(node.id) || supports.spanDetail === false) return;
  // The full span (a compact listing may leave big attributes out), where the server has the route.
  try {
    const path = `/api/sessions/${encodeURIComponent(state.id)}/spans/${encodeURIComponent(node.id)}`;
    const { body } = await get(path);
    supports.spanDetail = true;
    if (body.end_time) state.fullSpans.set(node.id, body); // an open span may still change
    if (waterfall.selectedId === node.id && detailOpen()) {
      const focused = $("span-detail").contains(document.activeElement);
      showDetail(body, node);
      if (focused) $("span-detail-title").focus({ preventScroll: true });
    }
  } catch (error) {
    if (error instanceof HttpError && error.status === 404 && supports.spanDetail === null) supports.spanDetail = false;
    else if (!(error instanceof HttpError)) hooks.onFailure(error, $("session-error"));
  }
}

export function closeDetail() {
  if (!detailOpen()) return false;
  hideDetail();
  const id = waterfall.selectedId;
  waterfall.selectedId = null;
  hooks.setSpanInUrl(null);
  waterfall.draw();
  const index = waterfall.indexOf(id);
  if (index >= 0) waterfall.focusRow(index);
  return true;
}

// Open every collapsed ancestor of node, and drop filters that would hide it.
function reveal(node) {
  for (let n = node.parent; n; n = n.parent) waterfall.collapsed.delete(n.id);
  layout();
  if (waterfall.indexOf(node.id) < 0) {
    $("span-filter").value = "";
    $("span-kind").value = "";
    $("errors-only").checked = false;
    layout();
  }
  waterfall.scrollTo(waterfall.indexOf(node.id));
}

function nextError() {
  const errors = state.tree ? state.tree.errors : [];
  if (!errors.length) return;
  state.errorCursor = (state.errorCursor + 1) % errors.length;
  const node = errors[state.errorCursor];
  reveal(node);
  select(node, "error");
  waterfall.focusRow(waterfall.indexOf(node.id));
  $("next-error").textContent = `Next error (${state.errorCursor + 1}/${errors.length})`;
}
