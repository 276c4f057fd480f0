// An LLM call's conversation, from the GenAI content attributes (gen_ai.system_instructions,
// gen_ai.input.messages, gen_ai.output.messages: role + parts), or from the older indexed
// gen_ai.prompt.N.* / gen_ai.completion.N.* attributes of other instrumentations.
import { el } from "./dom.js";

const LONG_TEXT = 1200; // characters shown before "Show all"
const ROLES = { system: "system", developer: "system", user: "user", human: "user", assistant: "assistant", model: "assistant", ai: "assistant", tool: "tool", function: "tool", ipython: "tool" };

function loaded(value) {
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch (_) {
    return value;
  }
}

function pretty(value) {
  const parsed = loaded(value);
  return typeof parsed === "string" ? parsed : JSON.stringify(parsed, null, 2);
}

// [{role, parts, finish}] in conversation order.
export function conversation(attrs) {
  const out = [];
  const system = loaded(attrs["gen_ai.system_instructions"]);
  if (system) out.push({ role: "system", parts: Array.isArray(system) ? system : [system] });
  for (const [name, fallback] of [["gen_ai.input.messages", "user"], ["gen_ai.output.messages", "assistant"]]) {
    const items = loaded(attrs[name]);
    if (typeof items === "string") out.push({ role: fallback, parts: [items] });
    for (const message of Array.isArray(items) ? items : []) {
      if (!message || typeof message !== "object") {
        out.push({ role: fallback, parts: [message] });
        continue;
      }
      let parts = message.parts;
      if (parts === undefined && "content" in message) parts = [message.content];
      out.push({ role: String(message.role || fallback), parts: Array.isArray(parts) ? parts : [parts], finish: message.finish_reason });
    }
  }
  return out.length ? out : indexed(attrs);
}

function indexed(attrs) {
  const out = [];
  for (const prefix of ["gen_ai.prompt", "gen_ai.completion"]) {
    for (let i = 0; `${prefix}.${i}.role` in attrs || `${prefix}.${i}.content` in attrs; i += 1) {
      const role = String(attrs[`${prefix}.${i}.role`] || (prefix === "gen_ai.prompt" ? "user" : "assistant"));
      const parts = [attrs[`${prefix}.${i}.content`]].filter((p) => p !== undefined);
      for (let j = 0; `${prefix}.${i}.tool_calls.${j}.name` in attrs; j += 1) {
        parts.push({ type: "tool_call", name: attrs[`${prefix}.${i}.tool_calls.${j}.name`], id: attrs[`${prefix}.${i}.tool_calls.${j}.id`], arguments: attrs[`${prefix}.${i}.tool_calls.${j}.arguments`] });
      }
      out.push({ role, parts, finish: attrs[`${prefix}.${i}.finish_reason`] });
    }
  }
  return out;
}

export function hasConversation(attrs) {
  return conversation(attrs).length > 0;
}

function longText(text, className) {
  const body = el("div", { className: `chat-text ${className || ""}` }, text.length > LONG_TEXT ? text.slice(0, LONG_TEXT) + "…" : text);
  if (text.length <= LONG_TEXT) return body;
  const more = el("button", { type: "button", className: "link-button", "aria-expanded": "false" }, `Show all (${text.length.toLocaleString("en-US")} characters)`);
  more.addEventListener("click", () => {
    const all = more.getAttribute("aria-expanded") === "true";
    body.textContent = all ? text.slice(0, LONG_TEXT) + "…" : text;
    more.setAttribute("aria-expanded", String(!all));
    more.textContent = all ? `Show all (${text.length.toLocaleString("en-US")} characters)` : "Show less";
  });
  return el("div", {}, body, more);
}

// A tool's answer is often JSON: indented, it reads better.
function textPart(text, role) {
  if (role === "tool" && /^\s*[[{]/.test(text)) {
    const indented = pretty(text);
    if (indented !== text || text.includes("\n")) return el("pre", { className: "tool-result-text" }, indented);
  }
  return longText(text);
}

function part(p, role) {
  if (p === null || p === undefined) return null;
  if (typeof p !== "object") return textPart(String(p), role);
  const type = p.type || "text";
  if (type === "text") return textPart(String(p.content ?? ""), role);
  if (type === "tool_call") {
    return el(
      "div",
      { className: "tool-call", dataset: { part: "tool_call" } },
      el("div", { className: "part-head" }, el("span", { className: "badge kind kind-tool" }, "tool call"), " ", el("code", {}, String(p.name || "?")), p.id ? el("span", { className: "muted small" }, ` ${p.id}`) : null),
      el("pre", { className: "tool-args" }, pretty(p.arguments ?? {})),
    );
  }
  if (type === "tool_call_response") {
    return el(
      "div",
      { className: "tool-result", dataset: { part: "tool_call_response" } },
      el("div", { className: "part-head" }, el("span", { className: "badge kind kind-tool" }, "tool result"), p.id ? el("span", { className: "muted small" }, ` ${p.id}`) : null),
      el("pre", {}, pretty(p.response ?? p.result ?? "")),
    );
  }
  if (type === "reasoning" || type === "thinking") {
    return el("details", { className: "reasoning", dataset: { part: "reasoning" } }, el("summary", {}, "Reasoning"), longText(String(p.content ?? "")));
  }
  // Images, audio, files...: their type and any URI, never the payload.
  return el("div", { className: "muted part-other" }, `[${type}${p.uri ? ` ${p.uri}` : ""}${p.mime_type ? ` ${p.mime_type}` : ""}]`);
}

export function renderConversation(attrs) {
  const messages = conversation(attrs);
  return el(
    "div",
    { className: "chat" },
    messages.map((m) => {
      const role = ROLES[m.role.toLowerCase()] || "user";
      const parts = m.parts.map((p) => part(p, role)).filter(Boolean);
      return el(
        "div",
        { className: `chat-message role-${role}`, testid: "chat-message", dataset: { role } },
        el("div", { className: "chat-role" }, m.role, m.finish ? el("span", { className: "muted small" }, ` · finish: ${m.finish}`) : null),
        parts.length ? parts : el("div", { className: "muted small" }, "(no text content)"),
      );
    }),
  );
}

// A tool span's arguments and result (gen_ai.tool.call.arguments / .result), parsed when JSON.
export function renderToolCall(attrs) {
  const args = attrs["gen_ai.tool.call.arguments"];
  const result = attrs["gen_ai.tool.call.result"];
  if (args === undefined && result === undefined) return null;
  return el(
    "div",
    { className: "tool-io" },
    args !== undefined ? el("div", { className: "tool-call" }, el("h3", {}, "Arguments"), el("pre", { className: "tool-args" }, pretty(args))) : null,
    result !== undefined ? el("div", { className: "tool-result" }, el("h3", {}, "Result"), el("pre", { className: "tool-result-text" }, pretty(result))) : null,
  );
}
