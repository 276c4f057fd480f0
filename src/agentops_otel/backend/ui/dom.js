// DOM helpers. Every piece of data reaches the page through text nodes or attribute setters (never
// innerHTML), so names, tags and attributes show as text, whatever they hold.

export const $ = (id) => document.getElementById(id);

// el("a", {href: "#/", className: "x"}, "text", child): children that are strings become text nodes.
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "testid") node.dataset.testid = value;
    // Through the CSSOM: the page's Content-Security-Policy forbids inline style attributes.
    else if (key === "style") for (const [name, v] of Object.entries(value)) node.style.setProperty(name, v);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export function show(node, visible) {
  node.hidden = !visible;
}

export function setError(node, message) {
  node.textContent = message || "";
  show(node, Boolean(message));
}

// Text that may be long: cut by CSS with an ellipsis, the whole text in the tooltip.
export function truncated(tag, text, className) {
  return el(tag, { className: `truncate ${className || ""}`, title: text }, text);
}

export const END_STATES = ["Success", "Fail", "Indeterminate"];
export const KINDS = ["session", "agent", "llm", "tool", "action", "error"];

export function endStateBadge(state, running) {
  if (running) return el("span", { className: "badge state state-running" }, "running");
  const known = END_STATES.includes(state) ? state : "Indeterminate";
  return el("span", { className: `badge state state-${known.toLowerCase()}` }, known);
}

export function kindBadge(kind) {
  const known = KINDS.includes(kind) ? kind : "other";
  return el("span", { className: `badge kind kind-${known}` }, kind || "span");
}

export function statusMark(status) {
  const known = ["OK", "ERROR", "UNSET"].includes(status) ? status : "UNSET";
  return el("span", { className: `status status-${known.toLowerCase()}` }, known);
}

export function tagChip(tag, onPick) {
  if (!onPick) return el("span", { className: "tag", title: tag }, tag);
  return el(
    "button",
    {
      type: "button",
      className: "tag",
      title: `Show sessions tagged ${tag}`,
      tabindex: "-1", // the row's link is the tab stop; chips are for the mouse (the Tag filter does the same)
      onclick: (event) => {
        event.stopPropagation();
        onPick(tag);
      },
    },
    tag,
  );
}

// Only plain web and file links are made clickable; anything else is shown as text.
export function safeLink(url) {
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

export function field(list, label, ...value) {
  list.append(el("div", { className: "field-row" }, el("dt", {}, label), el("dd", {}, ...value)));
}

// A value as text: structured values recorded as JSON strings read better indented.
export function formatValue(value) {
  if (typeof value === "string") {
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

// A copy button for an id (the Clipboard API needs a secure context: 127.0.0.1 is one).
export function copyButton(text, label) {
  return el(
    "button",
    {
      type: "button",
      className: "copy",
      title: `Copy ${label}`,
      "aria-label": `Copy ${label}`,
      onclick: async (event) => {
        event.stopPropagation();
        const button = event.currentTarget;
        try {
          await navigator.clipboard.writeText(text);
          button.textContent = "copied";
        } catch (_) {
          button.textContent = "select it";
        }
        window.setTimeout(() => (button.textContent = "copy"), 1500);
      },
    },
    "copy",
  );
}
