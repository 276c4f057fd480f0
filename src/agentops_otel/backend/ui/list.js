// The sessions list: search, time range, filters, sorting and pages, all kept in the URL
// ("#/?q=...&sort=-cost_usd&page=2"), so that a link or a reload shows the same list.
import { $, el, clear, show, setError, endStateBadge, tagChip, truncated, END_STATES } from "./dom.js";
import { listSessions, SORT_KEYS } from "./adapter.js";
import { LEGACY_WINDOW, session } from "./api.js";
import * as fmt from "./format.js";

export const PAGE_SIZE = 20;
const SIZES = [20, 50, 100];
const RANGES = ["1h", "24h", "7d", "30d", "custom"];

// [label, sort key or null, numeric]
const COLUMNS = [
  ["Name", "name", false],
  ["Session", null, false],
  ["Start", "start_time", false],
  ["Duration", "duration_s", true],
  ["End state", null, false],
  ["LLM calls", "llm_calls", true],
  ["Tool calls", "tool_calls", true],
  ["Errors", "errors", true],
  ["Spans", "span_count", true],
  ["Tokens", "total_tokens", true],
  ["Cost", "cost_usd", true],
];

export function parseListQuery(params) {
  const int = (name, low, high, fallback) => Math.min(high, Math.max(low, parseInt(params.get(name) || "", 10) || fallback));
  const decimal = (name) => {
    const raw = params.get(name) || "";
    return raw !== "" && Number.isFinite(Number(raw)) && Number(raw) >= 0 ? raw : "";
  };
  const sort = params.get("sort") || "-start_time";
  const endState = params.get("end_state") || "";
  return {
    view: "list",
    q: params.get("q") || "",
    range: RANGES.includes(params.get("range")) ? params.get("range") : "",
    since: params.get("since") || "",
    until: params.get("until") || "",
    endState: END_STATES.includes(endState) ? endState : "",
    tags: (params.get("tag") || "").split(",").map((t) => t.trim()).filter(Boolean),
    model: params.get("model") || "",
    minCost: decimal("min_cost"),
    maxCost: decimal("max_cost"),
    minErrors: decimal("min_errors"),
    sort: SORT_KEYS.includes(sort.replace(/^-/, "")) ? sort : "-start_time",
    page: int("page", 1, 1e9, 1),
    size: int("size", 1, 100, PAGE_SIZE),
  };
}

export function listHash(query) {
  const params = new URLSearchParams();
  const put = (name, value) => value !== "" && value !== undefined && value !== null && params.set(name, String(value));
  put("q", query.q);
  put("range", query.range);
  if (query.range === "custom") {
    put("since", query.since);
    put("until", query.until);
  }
  put("end_state", query.endState);
  put("tag", (query.tags || []).join(","));
  put("model", query.model);
  put("min_cost", query.minCost);
  put("max_cost", query.maxCost);
  put("min_errors", query.minErrors);
  if (query.sort && query.sort !== "-start_time") put("sort", query.sort);
  if (query.page > 1) put("page", query.page);
  if (query.size && query.size !== PAGE_SIZE) put("size", query.size);
  const text = params.toString();
  return text ? `#/?${text}` : "#/";
}

// The form as a query (page back to 1: a new filter starts at the top).
export function queryFromForm(current) {
  const range = $("filter-range").value;
  const local = (id) => {
    const value = $(id).value;
    return value ? new Date(value).toISOString() : "";
  };
  return {
    ...current,
    q: $("filter-q").value.trim(),
    range,
    since: range === "custom" ? local("filter-since") : "",
    until: range === "custom" ? local("filter-until") : "",
    endState: $("filter-state").value,
    tags: $("filter-tag").value.split(",").map((t) => t.trim()).filter(Boolean),
    model: $("filter-model").value.trim(),
    minCost: $("filter-min-cost").value,
    maxCost: $("filter-max-cost").value,
    minErrors: $("filter-min-errors").value,
    page: 1,
  };
}

function toLocalInput(iso) {
  const ms = fmt.parseTime(iso);
  if (ms === null) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

export function fillForm(query) {
  const set = (id, value) => {
    if (document.activeElement !== $(id)) $(id).value = value;
  };
  set("filter-q", query.q);
  $("filter-range").value = query.range;
  set("filter-since", toLocalInput(query.since));
  set("filter-until", toLocalInput(query.until));
  show($("custom-range"), query.range === "custom");
  show($("custom-range-until"), query.range === "custom");
  $("filter-state").value = query.endState;
  set("filter-tag", query.tags.join(", "));
  set("filter-model", query.model);
  set("filter-min-cost", query.minCost);
  set("filter-max-cost", query.maxCost);
  set("filter-min-errors", query.minErrors);
  $("page-size").value = String(SIZES.includes(query.size) ? query.size : PAGE_SIZE);
}

let lastKey = "";

export function forgetList() {
  lastKey = "";
}

// Loads and draws one page; returns false when the route moved on meanwhile.
export async function loadList(query, navigate, isCurrent) {
  const answer = await listSessions(query);
  if (!isCurrent()) return false;
  const key = JSON.stringify([listHash(query), answer]);
  if (key !== lastKey) {
    lastKey = key;
    drawHead(query, navigate);
    drawRows(answer.sessions, query, navigate);
    drawPager(answer, query, navigate);
    drawNote(answer);
  }
  return true;
}

function drawNote(answer) {
  const notes = [];
  if (answer.total !== null && answer.approximate) {
    notes.push(`This server has no search: the page filtered the newest ${fmt.count(LEGACY_WINDOW)} sessions itself.`);
  }
  if (answer.unsupported.includes("model")) notes.push("This server does not say which models a session used: the model filter is ignored.");
  if (answer.unsupported.includes("content")) notes.push("This server is older than the dashboard: search covers ids, names and tags, not what was said.");
  $("list-note").textContent = notes.join(" ");
  show($("list-note"), notes.length > 0);
}

function drawHead(query, navigate) {
  const row = clear($("sessions-head"));
  const [sortKey, descending] = [query.sort.replace(/^-/, ""), query.sort.startsWith("-")];
  for (const [label, key, numeric] of COLUMNS) {
    const active = key === sortKey;
    const th = el("th", { scope: "col", className: `col-${(key || label).toLowerCase().replace(/[^a-z]+/g, "-")}${numeric ? " num" : ""}`, "aria-sort": active ? (descending ? "descending" : "ascending") : null });
    if (!key) th.append(label);
    else {
      const next = active ? (descending ? key : `-${key}`) : key === "name" ? key : `-${key}`;
      th.append(
        el(
          "button",
          { type: "button", className: "sort", dataset: { sort: key }, title: `Sort by ${label.toLowerCase()}`, onclick: () => navigate(listHash({ ...query, sort: next, page: 1 })) },
          label,
          el("span", { className: "sort-mark", "aria-hidden": "true" }, active ? (descending ? " ▾" : " ▴") : ""),
        ),
      );
    }
    row.append(th);
  }
}

function drawRows(sessions, query, navigate) {
  const body = clear($("sessions-body"));
  const pickTag = (tag) => navigate(listHash({ ...query, tags: [tag], page: 1 }));
  for (const s of sessions) {
    const href = `#/sessions/${encodeURIComponent(s.session_id)}`;
    const running = !s.end_time;
    const num = (col, text, extra) => el("td", { className: `num ${extra || ""}`, dataset: { col } }, text);
    body.append(
      el(
        "tr",
        { testid: "session-row", dataset: { sessionId: s.session_id }, onclick: () => (window.location.hash = href) },
        el(
          "td",
          { className: "name" },
          el("div", { className: "name-line" }, el("a", { href, className: "truncate", title: s.name || "(unnamed)" }, s.name || "(unnamed)"), (s.tags || []).map((t) => tagChip(t, pickTag))),
        ),
        el("td", {}, el("code", { title: s.session_id }, fmt.shortId(s.session_id))),
        el("td", {}, el("time", { datetime: s.start_time, title: s.start_time }, fmt.localTime(s.start_time))),
        num("duration_s", running ? "running" : fmt.duration(s.duration_s)),
        el("td", { className: "state-cell" }, endStateBadge(s.end_state, running)),
        num("llm_calls", fmt.count(s.llm_calls)),
        num("tool_calls", fmt.count(s.tool_calls)),
        num("errors", fmt.count(s.errors), s.errors ? "has-errors" : ""),
        num("span_count", fmt.count(s.span_count)),
        el("td", { className: "num", dataset: { col: "total_tokens" }, title: `${fmt.tokens(s.prompt_tokens)} prompt + ${fmt.tokens(s.completion_tokens)} completion` }, fmt.tokens(s.total_tokens)),
        el("td", { className: "num", dataset: { col: "cost_usd" }, title: typeof s.cost_usd === "number" ? `$${s.cost_usd}` : "" }, fmt.sessionCost(s)),
      ),
    );
  }
  const empty = $("list-empty");
  empty.textContent = filtered(query)
    ? "No sessions match."
    : session.auth && session.auth.local
      ? "No sessions recorded on this machine yet. A program that calls agentops_otel.init() with no API key records its sessions here."
      : "No sessions in this project yet. A program that calls agentops_otel.init() with this project's API key (AGENTOPS_API_KEY) and this backend as its endpoint records its sessions here.";
  show(empty, sessions.length === 0);
}

// Whether any filter narrows the list (an empty list then means "none match", not "none yet").
function filtered(query) {
  return Boolean(
    query.q || query.range || query.since || query.until || query.endState || query.tags.length || query.model ||
      query.minCost !== "" || query.maxCost !== "" || query.minErrors !== "" || query.page > 1,
  );
}

function drawPager(answer, query, navigate) {
  const pages = answer.total === null ? null : Math.max(1, Math.ceil(answer.total / query.size));
  const go = (page) => () => navigate(listHash({ ...query, page }));
  $("list-total").textContent = answer.total === null ? "" : `(${fmt.count(answer.total)}${answer.approximate ? "+" : ""})`;
  $("page-first").disabled = query.page <= 1;
  $("page-prev").disabled = query.page <= 1;
  $("page-next").disabled = !answer.hasMore;
  $("page-last").disabled = pages === null || query.page >= pages;
  show($("page-last"), pages !== null);
  $("page-first").onclick = go(1);
  $("page-prev").onclick = go(Math.max(1, Math.min(query.page - 1, pages || query.page - 1)));
  $("page-next").onclick = go(query.page + 1);
  $("page-last").onclick = go(pages || 1);
  $("page-label").textContent = pages === null ? `Page ${query.page}` : `Page ${fmt.count(query.page)} of ${fmt.count(pages)}`;
  show($("pager"), !(query.page === 1 && !answer.hasMore));
}

export function wireListForm(getQuery, navigate) {
  const apply = (replace) => navigate(listHash(queryFromForm(getQuery())), replace);
  let timer = null;
  const soon = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => apply(true), 350);
  };
  // Typing then leaving the list (a session's link, Back) drops the search still waiting to apply.
  window.addEventListener("hashchange", () => window.clearTimeout(timer));
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    window.clearTimeout(timer);
    apply(false);
  });
  for (const id of ["filter-q", "filter-tag", "filter-model", "filter-min-cost", "filter-max-cost", "filter-min-errors"]) {
    $(id).addEventListener("input", soon);
  }
  for (const id of ["filter-range", "filter-state", "filter-since", "filter-until"]) {
    $(id).addEventListener("change", () => apply(false));
  }
  $("filter-clear").addEventListener("click", () => navigate(listHash({ ...parseListQuery(new URLSearchParams()), size: getQuery().size })));
  $("page-size").addEventListener("change", () => navigate(listHash({ ...getQuery(), size: Number($("page-size").value), page: 1 })));
}
