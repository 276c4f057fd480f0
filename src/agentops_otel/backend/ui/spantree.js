// A session's spans as a tree: parents and children, per-span facts (tokens, cost, errors) and their
// sums over each subtree, and the rows left visible by collapsed branches and filters.
import * as fmt from "./format.js";

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);

// What a row shows of a span, read once from its attributes.
export function spanFacts(span) {
  const attrs = span.attributes || {};
  const operation = attrs["gen_ai.operation.name"];
  const llm = span.kind === "llm" || (!span.kind && fmt.LLM_OPERATIONS.has(operation));
  // The current names, else the older ones that other instrumentations still write.
  const input = num(attrs["gen_ai.usage.input_tokens"] ?? attrs["gen_ai.usage.prompt_tokens"]);
  const output = num(attrs["gen_ai.usage.output_tokens"] ?? attrs["gen_ai.usage.completion_tokens"]);
  return {
    llm,
    input,
    output,
    tokens: input === null && output === null ? null : (input || 0) + (output || 0),
    cost: num(attrs["agentops.usage.cost_usd"]),
    error: span.status === "ERROR" || span.kind === "error",
    model: attrs["gen_ai.response.model"] || attrs["gen_ai.request.model"] || null,
  };
}

// What fmt.spanCost takes of a span's node (the CLI's cli/spans.figures, the same fields).
export function costFigures(node) {
  const f = node.facts;
  return { llm: f.llm, cost_usd: f.cost, input_tokens: f.input, output_tokens: f.output, status: node.span.status };
}

function readSpan(span) {
  return { span, start: fmt.parseTime(span.start_time), end: fmt.parseTime(span.end_time), facts: spanFacts(span) };
}

// The root's span id is the low 64 bits of the session's UUID (SPEC.md section 3).
export function rootSpanId(sessionId) {
  return String(sessionId || "").replace(/-/g, "").slice(16).toLowerCase();
}

const CHUNK = 5000; // spans read per task when building a big tree

export class SpanTree {
  // Reads each span once (its times and facts, kept in cache across rebuilds of a growing session),
  // pausing every CHUNK spans so that a big session never blocks the page for long.
  static async build(spans, session, cache, pause) {
    let count = 0;
    for (const span of spans) {
      const known = cache.get(span.span_id);
      if (!known || known.span !== span) cache.set(span.span_id, readSpan(span));
      count += 1;
      if (count % CHUNK === 0 && pause) await pause();
    }
    return new SpanTree(spans, session, cache);
  }

  // spans: the API's span objects; session: the session object (for a root that has not arrived yet).
  constructor(spans, session, cache) {
    this.nodes = new Map();
    this.roots = [];
    const all = spans.slice();
    const rootId = rootSpanId(session && session.session_id);
    if (session && rootId && !all.some((s) => s.span_id === rootId) && all.some((s) => s.parent_span_id === rootId)) {
      // A running session's root span arrives when it ends: stand in for it meanwhile.
      all.push({
        span_id: rootId, parent_span_id: null, name: `${session.name || "session"} (running)`, kind: "session",
        start_time: session.start_time, end_time: null, status: "UNSET", attributes: {}, placeholder: true,
      });
    }
    for (const span of all) {
      if (this.nodes.has(span.span_id)) continue;
      const known = cache && cache.get(span.span_id);
      const { start, end, facts } = known && known.span === span ? known : readSpan(span);
      this.nodes.set(span.span_id, {
        id: span.span_id, span, start, end, facts, children: [], parent: null, depth: 0,
        sum: { tokens: 0, cost: 0, errors: 0, descendants: 0 },
      });
    }
    for (const node of this.nodes.values()) {
      const parent = node.span.parent_span_id ? this.nodes.get(node.span.parent_span_id) : null;
      if (parent && parent !== node) {
        node.parent = parent;
        parent.children.push(node);
      } else this.roots.push(node);
    }
    const byStart = (a, b) => (a.start ?? 0) - (b.start ?? 0);
    this.roots.sort(byStart);
    for (const node of this.nodes.values()) if (node.children.length > 1) node.children.sort(byStart);
    this.order = this._preorder();
    this._sums();
    // Loops, not Math.min(...all): a spread of 100,000 arguments overflows the stack.
    let first = Infinity;
    let lastEnd = -Infinity;
    for (const n of this.order) {
      if (n.start !== null && n.start < first) first = n.start;
      if (n.end !== null && n.end > lastEnd) lastEnd = n.end;
    }
    this.t0 = Number.isFinite(first) ? first : 0;
    const running = session && !session.end_time;
    const last = Math.max(this.t0 + 1, lastEnd);
    this.t1 = running ? Math.max(last, Math.min(Date.now(), this.t0 + 3600e3)) : last;
    this.errors = this.order.filter((n) => n.facts.error);
  }

  // Every node, parents before children; a cycle in bad data is cut where it closes.
  _preorder() {
    const out = [];
    const seen = new Set();
    const stack = this.roots.slice().reverse().map((n) => [n, 0]);
    while (stack.length) {
      const [node, depth] = stack.pop();
      if (seen.has(node.id)) continue;
      seen.add(node.id);
      node.depth = depth;
      out.push(node);
      for (let i = node.children.length - 1; i >= 0; i -= 1) stack.push([node.children[i], depth + 1]);
    }
    return out;
  }

  _sums() {
    for (let i = this.order.length - 1; i >= 0; i -= 1) {
      const node = this.order[i];
      const sum = node.sum;
      sum.tokens += node.facts.tokens || 0;
      sum.cost += node.facts.cost || 0;
      sum.errors += node.facts.error ? 1 : 0;
      if (node.parent) {
        const up = node.parent.sum;
        up.tokens += sum.tokens;
        up.cost += sum.cost;
        up.errors += sum.errors;
        up.descendants += sum.descendants + 1;
      }
    }
  }

  // The rows to draw: collapsed branches hide their descendants; a filter keeps the matching spans
  // and their ancestors (and then ignores collapsing, so that every match shows).
  visible(collapsed, filter) {
    const text = (filter.text || "").trim().toLowerCase();
    const active = Boolean(text || filter.kind || filter.errorsOnly);
    if (!active) {
      const out = [];
      let skipDepth = Infinity;
      for (const node of this.order) {
        if (node.depth > skipDepth) continue;
        skipDepth = collapsed.has(node.id) ? node.depth : Infinity;
        out.push(node);
      }
      return out;
    }
    const keep = new Set();
    for (const node of this.order) {
      const name = String(node.span.name || "").toLowerCase();
      const match =
        (!text || name.includes(text)) &&
        (!filter.kind || node.span.kind === filter.kind) &&
        (!filter.errorsOnly || node.facts.error);
      if (match) for (let n = node; n && !keep.has(n.id); n = n.parent) keep.add(n.id);
    }
    return this.order.filter((node) => keep.has(node.id));
  }
}
