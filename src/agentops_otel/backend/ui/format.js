// Units and formats shared with the CLI (agentops_otel/cli/format.py): durations, costs, counts, bytes.
// The rules are integer arithmetic on doubles (floor(x * k + 0.5)), so Python and JavaScript give the
// same text for the same number; format_cases.json holds the cases both must pass.

export const MISSING = "-";
export const UNKNOWN = "unknown";

// gen_ai.operation.name values that make a span without our kind an LLM call (SPEC.md section 5).
export const LLM_OPERATIONS = new Set(["chat", "text_completion", "generate_content", "embeddings", "completion"]);

function number(value) {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return null;
  return value;
}

const round = (x) => Math.floor(x + 0.5);
const pad = (n, digits) => String(n).padStart(digits, "0");
const group = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

export function duration(seconds) {
  const x = number(seconds);
  if (x === null) return MISSING;
  if (x === 0) return "0 ms";
  const hundredthsMs = round(x * 1e5);
  if (hundredthsMs < 1000) return `${Math.floor(hundredthsMs / 100)}.${pad(hundredthsMs % 100, 2)} ms`;
  const ms = round(x * 1e3);
  if (ms < 1000) return `${ms} ms`;
  const centis = round(x * 1e2);
  if (centis < 1000) return `${Math.floor(centis / 100)}.${pad(centis % 100, 2)} s`;
  const tenths = round(x * 10);
  if (tenths < 600) return `${Math.floor(tenths / 10)}.${tenths % 10} s`;
  const secs = round(x);
  if (secs < 3600) return `${Math.floor(secs / 60)}m ${pad(secs % 60, 2)}s`;
  const minutes = round(x / 60);
  if (minutes < 1440) return `${Math.floor(minutes / 60)}h ${pad(minutes % 60, 2)}m`;
  const hours = round(x / 3600);
  return `${Math.floor(hours / 24)}d ${pad(hours % 24, 2)}h`;
}

export function count(value) {
  const x = number(value);
  return x === null ? MISSING : group(round(x));
}

export const tokens = count;

export function cost(usd) {
  if (usd === null || usd === undefined) return UNKNOWN;
  const x = number(usd);
  if (x === null) return MISSING;
  if (x === 0) return "$0";
  const cents = round(x * 100);
  if (cents >= 100) return `$${group(Math.floor(cents / 100))}.${pad(cents % 100, 2)}`;
  const tenthMils = round(x * 1e4);
  if (tenthMils >= 100) return `$0.${pad(tenthMils, 4)}`;
  // Two significant digits: the first scale at which the rounded value has two digits.
  for (const [digits, scale] of [[4, 1e4], [5, 1e5], [6, 1e6], [7, 1e7]]) {
    const n = round(x * scale);
    if (n >= 10) return `$0.${pad(n, digits)}`;
  }
  return "<$0.000001";
}

export function bytes(value) {
  const x = number(value);
  if (x === null) return MISSING;
  const n = round(x);
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let unit = 0;
  let tenths = round((n / 1024) * 10);
  while (tenths >= 10240 && unit < units.length - 1) {
    unit += 1;
    tenths = round((n / 1024 ** (unit + 1)) * 10);
  }
  return `${Math.floor(tenths / 10)}.${tenths % 10} ${units[unit]}`;
}

// A session's cost; unpriced_llm_calls (when the server sends it) says how many calls had no price.
export function sessionCost(session) {
  const usd = number(session.cost_usd);
  const calls = number(session.llm_calls) || 0;
  const unpriced = number(session.unpriced_llm_calls);
  if (unpriced === null) {
    if (!usd) return calls ? UNKNOWN : MISSING;
    return cost(usd);
  }
  if (calls === 0 && !usd) return MISSING;
  if (unpriced === 0) return cost(usd || 0);
  if (unpriced >= calls && !usd) return UNKNOWN;
  return `${cost(usd || 0)} + ${UNKNOWN}`;
}

// One span's cost: its cost_usd; for an LLM call without one, "unknown" when the session's figure counts
// it as unpriced (store/calls.py is_unpriced: it used tokens, or did not fail), else "-" (a failed call
// that used no tokens: nothing to price). span: {llm, cost_usd, input_tokens, output_tokens, status}.
export function spanCost(span) {
  if (number(span.cost_usd) !== null) return cost(span.cost_usd);
  if (!span.llm) return MISSING;
  const used = Math.trunc(number(span.input_tokens) || 0) + Math.trunc(number(span.output_tokens) || 0); // as the store counts them
  return span.status === "ERROR" && used === 0 ? MISSING : UNKNOWN;
}

export function shortId(value) {
  return value ? String(value).slice(0, 8) : MISSING;
}

const seconds = new Map();

// ISO 8601 with microseconds -> milliseconds since the epoch, keeping the sub-millisecond part.
export function parseTime(iso) {
  if (!iso) return null;
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(iso);
  if (!match) {
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? null : ms;
  }
  // Spans of one session share their seconds: each whole second is parsed once.
  const key = match[1] + (match[3] || "Z");
  let whole = seconds.get(key);
  if (whole === undefined) {
    whole = Date.parse(key);
    if (seconds.size > 50000) seconds.clear();
    seconds.set(key, whole);
  }
  if (Number.isNaN(whole)) return null;
  return whole + (match[2] ? Number("0." + match[2]) * 1000 : 0);
}

// Local time with milliseconds, so that spans within one second can be ordered by eye.
export function localTime(iso, withMs) {
  const ms = parseTime(iso);
  if (ms === null) return MISSING;
  const d = new Date(ms);
  const base =
    `${d.getFullYear()}-${pad(d.getMonth() + 1, 2)}-${pad(d.getDate(), 2)} ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}

// An offset from the session start in milliseconds, as a waterfall axis label: "+1.20 s".
export function offset(ms) {
  return `+${duration(Math.max(0, ms) / 1000)}`;
}
