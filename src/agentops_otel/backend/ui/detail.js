// The detail panel beside the span tree: key facts first, then the conversation (LLM calls), the
// arguments and result (tool calls), errors with their stack trace, and the raw attributes a click away.
import { $, el, append, clear, field, formatValue, kindBadge, statusMark, copyButton, show } from "./dom.js";
import { hasConversation, renderConversation, renderToolCall } from "./chat.js";
import * as fmt from "./format.js";
import { costFigures } from "./spantree.js";

function facts(span, node) {
  const a = span.attributes || {};
  const list = el("dl", { className: "facts" });
  const add = (label, value) => {
    if (value === undefined || value === null || value === "") return;
    list.append(el("div", { className: "fact" }, el("dt", {}, label), el("dd", {}, value)));
  };
  const seconds = node.start !== null && node.end !== null ? (node.end - node.start) / 1000 : null;
  add("Duration", node.end === null ? "running" : fmt.duration(seconds));
  if (node.facts.llm) {
    add("Model", a["gen_ai.response.model"] || a["gen_ai.request.model"]);
    add("Provider", a["gen_ai.provider.name"] || a["gen_ai.system"]);
    add("Tokens in", a["gen_ai.usage.input_tokens"] !== undefined ? fmt.tokens(a["gen_ai.usage.input_tokens"]) : null);
    add("Tokens out", a["gen_ai.usage.output_tokens"] !== undefined ? fmt.tokens(a["gen_ai.usage.output_tokens"]) : null);
    add("Cached", a["gen_ai.usage.cache_read.input_tokens"] !== undefined ? fmt.tokens(a["gen_ai.usage.cache_read.input_tokens"]) : null);
    add("Reasoning", a["gen_ai.usage.reasoning.output_tokens"] !== undefined ? fmt.tokens(a["gen_ai.usage.reasoning.output_tokens"]) : null);
    add("Cost", fmt.spanCost(costFigures(node)));
    const ttfc = a["gen_ai.response.time_to_first_chunk"] ?? a["gen_ai.server.time_to_first_token"];
    add("First chunk", typeof ttfc === "number" ? fmt.duration(ttfc) : null);
    const reasons = a["gen_ai.response.finish_reasons"];
    add("Finish", Array.isArray(reasons) ? reasons.join(", ") : reasons);
  } else if (node.children.length) {
    add("Spans below", fmt.count(node.sum.descendants));
    if (node.sum.tokens) add("Tokens (∑)", fmt.tokens(node.sum.tokens));
    if (node.sum.cost) add("Cost (∑)", fmt.cost(node.sum.cost));
    if (node.sum.errors) add("Errors (∑)", fmt.count(node.sum.errors));
  }
  if (span.kind === "tool" || a["gen_ai.tool.name"]) add("Tool", a["gen_ai.tool.name"]);
  return list;
}

function attributesTable(attrs) {
  const keys = Object.keys(attrs).sort();
  const body = el("tbody", {});
  if (!keys.length) body.append(el("tr", {}, el("td", { colspan: 2, className: "muted" }, "No attributes.")));
  for (const key of keys) {
    const text = formatValue(attrs[key]);
    const long = text.length > 120 || text.includes("\n");
    body.append(el("tr", { dataset: { attribute: key } }, el("th", { scope: "row" }, el("code", {}, key)), el("td", {}, long ? el("pre", {}, text) : text)));
  }
  return el("table", { className: "attributes", id: "span-attributes" }, el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Attribute"), el("th", { scope: "col" }, "Value"))), body);
}

function eventsList(events) {
  return el(
    "div",
    { id: "span-events" },
    events.map((event) => {
      const attrs = event.attributes || {};
      return el(
        "details",
        { className: "event", open: event.name === "exception" ? true : null },
        el("summary", {}, el("strong", {}, event.name), " · ", el("time", { datetime: event.time, title: event.time }, fmt.localTime(event.time, true))),
        el("dl", { className: "fields" }, Object.keys(attrs).sort().map((k) => el("div", { className: "field-row" }, el("dt", {}, k), el("dd", {}, el("pre", {}, formatValue(attrs[k])))))),
      );
    }),
  );
}

// Tabs: the first is the most useful view of this span; "Attributes" is always one click away.
function tabs(sections) {
  const list = el("div", { className: "tabs", role: "tablist", "aria-label": "Span views" });
  const panels = el("div", {});
  sections.forEach(([name, content], i) => {
    const id = `span-tab-${i}`;
    const tab = el("button", { type: "button", role: "tab", id, "aria-selected": String(i === 0), "aria-controls": `${id}-panel`, tabindex: i === 0 ? "0" : "-1", className: "tab" }, name);
    const panel = el("div", { role: "tabpanel", id: `${id}-panel`, "aria-labelledby": id, hidden: i !== 0 }, content);
    tab.addEventListener("click", () => {
      for (const t of list.children) t.setAttribute("aria-selected", String(t === tab));
      for (const t of list.children) t.tabIndex = t === tab ? 0 : -1;
      for (const p of panels.children) p.hidden = p !== panel;
    });
    list.append(tab);
    panels.append(panel);
  });
  return [list, panels];
}

export function renderDetail(span, node) {
  const panel = $("span-detail");
  show(panel, true);
  show($("span-detail-empty"), false);
  clear($("span-detail-title")).append(kindBadge(span.kind), " ", el("span", { className: "detail-name", title: span.name }, span.name));
  const attrs = span.attributes || {};
  const fields = el("dl", { className: "fields", id: "span-fields" });
  field(fields, "Status", statusMark(span.status), span.status_message ? el("span", { className: "status-message" }, ` ${span.status_message}`) : "");
  field(fields, "Span ID", el("code", {}, span.span_id), " ", copyButton(span.span_id, "span id"));
  field(fields, "Parent", span.parent_span_id ? el("code", {}, span.parent_span_id) : el("span", { className: "muted" }, "none (root)"));
  field(fields, "Start", el("time", { datetime: span.start_time, title: span.start_time }, fmt.localTime(span.start_time, true)));
  field(fields, "End", span.end_time ? el("time", { datetime: span.end_time, title: span.end_time }, fmt.localTime(span.end_time, true)) : el("span", { className: "muted" }, "still open"));

  const sections = [];
  if (hasConversation(attrs)) sections.push(["Conversation", renderConversation(attrs)]);
  const tool = renderToolCall(attrs);
  if (tool) sections.push(["Tool call", tool]);
  if ((span.events || []).length) sections.push([`Events (${span.events.length})`, eventsList(span.events)]);
  sections.push(["Attributes", attributesTable(attrs)]);
  if (span.placeholder) sections.unshift(["Session", el("p", { className: "muted" }, "The session's root span arrives when the session ends.")]);
  const [list, panels] = tabs(sections);
  const failure = span.status === "ERROR" && span.status_message ? el("p", { className: "notice error status-line" }, span.status_message) : null;
  // What the span did first (facts, its failure, its conversation); its ids and times after.
  append(clear($("span-detail-body")), [facts(span, node), failure, list, panels, el("h3", {}, "Span"), fields]);
}

export function hideDetail() {
  show($("span-detail"), false);
  show($("span-detail-empty"), true);
}
