// The newer API's list and overview answers, from the server when it has them, else computed here
// from the newest LEGACY_WINDOW sessions (the page then says so).
import { get, supports, LEGACY_WINDOW, HttpError } from "./api.js";
import { parseTime } from "./format.js";

export const SORT_KEYS = [
  "start_time", "end_time", "duration_s", "name", "span_count", "llm_calls", "tool_calls", "errors",
  "total_tokens", "cost_usd",
];

const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400 };

// The query's time range as epoch seconds {since, until} (either may be null).
export function timeRange(query, now) {
  const seconds = RANGES[query.range];
  if (seconds) return { since: (now || Date.now()) / 1000 - seconds, until: null };
  const since = query.since ? parseTime(query.since) : null;
  const until = query.until ? parseTime(query.until) : null;
  return { since: since === null ? null : since / 1000, until: until === null ? null : until / 1000 };
}

function hasV2Filters(query) {
  return Boolean(
    query.q || query.range || query.since || query.until || query.model || query.minCost !== "" ||
      query.maxCost !== "" || query.minErrors !== "" || (query.sort && query.sort !== "-start_time"),
  );
}

function listParams(query, withV2) {
  const params = new URLSearchParams();
  for (const tag of query.tags) params.append("tag", tag);
  if (query.endState) params.set("end_state", query.endState);
  if (!withV2) return params;
  const { since, until } = timeRange(query);
  if (query.q) params.set("q", query.q);
  if (since !== null) params.set("since", since.toFixed(3));
  if (until !== null) params.set("until", until.toFixed(3));
  if (query.sort) params.set("sort", query.sort);
  if (query.model) params.set("model", query.model);
  if (query.minCost !== "") params.set("min_cost", query.minCost);
  if (query.maxCost !== "") params.set("max_cost", query.maxCost);
  if (query.minErrors !== "") params.set("min_errors", query.minErrors);
  return params;
}

// cursors[query key][page] = the keyset cursor that returns that page (from the page before it).
const cursors = new Map();

// {sessions, total (or null), hasMore, approximate, unsupported: [filter names]}
export async function listSessions(query) {
  const key = listParams(query, true).toString() + `&size=${query.size}`;
  if (supports.listV2 !== false) {
    const params = listParams(query, true);
    params.set("limit", String(query.size));
    const known = (cursors.get(key) || {})[query.page];
    if (known) params.set("cursor", known);
    else params.set("offset", String((query.page - 1) * query.size));
    const { body } = await get(`/api/sessions?${params}`);
    if (typeof body.total === "number") {
      supports.listV2 = true;
      if (body.next_cursor) cursors.set(key, { ...(cursors.get(key) || {}), [query.page + 1]: body.next_cursor });
      const sessions = body.sessions || [];
      const hasMore = body.next_cursor !== undefined ? Boolean(body.next_cursor) : query.page * query.size < body.total;
      return { sessions, total: body.total, hasMore, approximate: false, unsupported: [] };
    }
    supports.listV2 = false; // an older server: ask again the way it understands
  }
  if (!hasV2Filters(query)) {
    const params = listParams(query, false);
    params.set("limit", String(query.size + 1));
    params.set("offset", String((query.page - 1) * query.size));
    const { body } = await get(`/api/sessions?${params}`);
    return legacyPage(body.sessions || [], query);
  }
  return legacyFiltered(query);
}

function legacyPage(sessions, query) {
  return {
    sessions: sessions.slice(0, query.size),
    total: null,
    hasMore: sessions.length > query.size,
    approximate: false,
    unsupported: [],
  };
}

async function legacyWindow(query) {
  const params = listParams(query, false);
  params.set("limit", String(LEGACY_WINDOW));
  const { body } = await get(`/api/sessions?${params}`);
  return body.sessions || [];
}

async function legacyFiltered(query) {
  const all = await legacyWindow(query);
  const unsupported = [];
  if (query.model && !all.some((s) => Array.isArray(s.models))) unsupported.push("model");
  const matching = all.filter(matcher(query, unsupported));
  matching.sort(comparator(query.sort || "-start_time"));
  const start = (query.page - 1) * query.size;
  // An older server stores no searchable content: the page's search covers ids, names and tags.
  if (query.q) unsupported.push("content");
  return {
    sessions: matching.slice(start, start + query.size),
    total: matching.length,
    hasMore: start + query.size < matching.length,
    approximate: all.length >= LEGACY_WINDOW,
    unsupported,
  };
}

export function idMatches(sessionId, q) {
  const want = q.toLowerCase().replace(/-/g, "");
  return want.length > 0 && String(sessionId).toLowerCase().replace(/-/g, "").startsWith(want);
}

function matcher(query, unsupported) {
  const { since, until } = timeRange(query);
  const q = (query.q || "").trim().toLowerCase();
  const num = (v) => (v === "" ? null : Number(v));
  const minCost = num(query.minCost);
  const maxCost = num(query.maxCost);
  const minErrors = num(query.minErrors);
  return (s) => {
    const start = (parseTime(s.start_time) || 0) / 1000;
    if (since !== null && start < since) return false;
    if (until !== null && start >= until) return false;
    if (q) {
      const name = String(s.name || "").toLowerCase();
      const tags = (s.tags || []).map((t) => String(t).toLowerCase());
      if (!idMatches(s.session_id, q) && !name.includes(q) && !tags.includes(q)) return false;
    }
    if (query.model && !unsupported.includes("model") && !(s.models || []).includes(query.model)) return false;
    if (minCost !== null && !((s.cost_usd || 0) >= minCost)) return false;
    if (maxCost !== null && !((s.cost_usd || 0) <= maxCost)) return false;
    if (minErrors !== null && !((s.errors || 0) >= minErrors)) return false;
    return true;
  };
}

function comparator(sort) {
  const descending = sort.startsWith("-");
  const key = sort.replace(/^-/, "");
  const value = (s) => {
    if (key === "start_time" || key === "end_time") return parseTime(s[key]) ?? -Infinity;
    if (key === "name") return String(s.name || "").toLowerCase();
    return typeof s[key] === "number" ? s[key] : -Infinity;
  };
  return (a, b) => {
    const x = value(a);
    const y = value(b);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return descending ? -order : order;
  };
}

// -- overview -------------------------------------------------------------------------------------

export function overviewBucket(since, until) {
  return until - since > 3 * 86400 ? "day" : "hour";
}

export async function overview(range, tags) {
  if (supports.overview !== false) {
    const params = new URLSearchParams({ since: range.since.toFixed(3), until: range.until.toFixed(3) });
    for (const tag of tags) params.append("tag", tag);
    try {
      const { body } = await get(`/api/overview?${params}`);
      supports.overview = true;
      return { ...body, computedHere: false };
    } catch (error) {
      if (!(error instanceof HttpError) || (error.status !== 404 && error.status !== 405)) throw error;
      supports.overview = false;
    }
  }
  return overviewHere(range, tags);
}

// The same figures from the newest sessions, for a server without /api/overview.
async function overviewHere(range, tags) {
  const params = new URLSearchParams({ limit: String(LEGACY_WINDOW) });
  for (const tag of tags) params.append("tag", tag);
  const { body } = await get(`/api/sessions?${params}`);
  const all = body.sessions || [];
  const bucket = overviewBucket(range.since, range.until);
  const step = bucket === "day" ? 86400 : 3600;
  const first = Math.floor(range.since / step) * step;
  const series = [];
  for (let t = first; t < range.until; t += step) {
    series.push({ start: new Date(t * 1000).toISOString(), sessions: 0, failed: 0, llm_calls: 0, total_tokens: 0, cost_usd: 0, errors: 0 });
  }
  const totals = { sessions: 0, failed: 0, fail_rate: 0, llm_calls: 0, tool_calls: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0, errors: 0 };
  const byTag = new Map();
  for (const s of all) {
    const start = (parseTime(s.start_time) || 0) / 1000;
    if (start < range.since || start >= range.until) continue;
    const failed = s.end_state === "Fail" ? 1 : 0;
    totals.sessions += 1;
    totals.failed += failed;
    for (const k of ["llm_calls", "tool_calls", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "errors"]) totals[k] += s[k] || 0;
    const slot = series[Math.floor((start - first) / step)];
    if (slot) {
      slot.sessions += 1;
      slot.failed += failed;
      for (const k of ["llm_calls", "total_tokens", "cost_usd", "errors"]) slot[k] += s[k] || 0;
    }
    for (const tag of s.tags || []) {
      const entry = byTag.get(tag) || { tag, sessions: 0, failed: 0, cost_usd: 0, total_tokens: 0 };
      entry.sessions += 1;
      entry.failed += failed;
      entry.cost_usd += s.cost_usd || 0;
      entry.total_tokens += s.total_tokens || 0;
      byTag.set(tag, entry);
    }
  }
  totals.fail_rate = totals.sessions ? totals.failed / totals.sessions : 0;
  return {
    since: new Date(range.since * 1000).toISOString(),
    until: new Date(range.until * 1000).toISOString(),
    bucket,
    totals,
    series,
    by_model: null, // needs the spans: only the server's /api/overview has it
    by_tag: [...byTag.values()].sort((a, b) => b.sessions - a.sessions),
    computedHere: true,
    approximate: all.length >= LEGACY_WINDOW,
  };
}
