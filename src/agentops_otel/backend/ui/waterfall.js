// The span tree and timeline, windowed: only the rows in view (plus a few) are in the DOM, through
// TanStack's virtual-core (vendor/virtual-core), so a session of any size draws in the same time.
import "./node-env.js";
import { Virtualizer, elementScroll, observeElementOffset, observeElementRect } from "./vendor/virtual-core/index.js";
import { el, clear, kindBadge, statusMark } from "./dom.js";
import * as fmt from "./format.js";
import { costFigures } from "./spantree.js";

export const ROW_HEIGHT = 30;
const MIN_VIEW_MS = 0.05;

function tokensText(node) {
  if (node.facts.tokens !== null) return [fmt.tokens(node.facts.tokens), ""];
  return node.sum.tokens ? [`∑ ${fmt.tokens(node.sum.tokens)}`, "sum"] : ["", ""];
}

function costText(node) {
  if (node.facts.llm) return [fmt.spanCost(costFigures(node)), ""];
  if (node.facts.cost !== null) return [fmt.cost(node.facts.cost), ""];
  return node.sum.cost ? [`∑ ${fmt.cost(node.sum.cost)}`, "sum"] : ["", ""];
}

export class Waterfall {
  // handlers: {onSelect(node, how), onOpen(node)}
  constructor(scroller, container, axis, header, handlers) {
    this.scroller = scroller;
    this.container = container;
    this.axis = axis;
    this.header = header;
    this.handlers = handlers;
    this.rows = [];
    this.tree = null;
    this.collapsed = new Set();
    this.selectedId = null;
    this.focusIndex = 0;
    this.view = null; // {from, to} in ms since the tree's t0; null: the whole session
    this.virtualizer = new Virtualizer({
      count: 0,
      getScrollElement: () => this.scroller,
      estimateSize: () => ROW_HEIGHT,
      overscan: 12,
      observeElementRect,
      observeElementOffset,
      scrollToFn: elementScroll,
      onChange: () => this.draw(),
    });
    this.unmount = this.virtualizer._didMount();
    this.virtualizer._willUpdate(); // observes the scroller (one layout, now, while the page is small)
    container.addEventListener("click", (event) => this._click(event));
    container.addEventListener("dblclick", (event) => this._zoomToRow(event));
    container.addEventListener("keydown", (event) => this._key(event));
    this._wireAxis();
  }

  // A new or grown tree: keeps collapsed branches, the selection and the zoom.
  setTree(tree, rows) {
    this.tree = tree;
    this.rows = rows;
    this.focusIndex = Math.min(this.focusIndex, Math.max(0, rows.length - 1));
    // Rows have one fixed height: a new count is all the virtualizer needs (no re-measuring).
    this.virtualizer.setOptions({ ...this.virtualizer.options, count: rows.length });
    this.draw();
  }

  reset() {
    this.collapsed = new Set();
    this.selectedId = null;
    this.focusIndex = 0;
    this.view = null;
    this.scroller.scrollTop = 0;
  }

  window() {
    const total = Math.max(this.tree.t1 - this.tree.t0, MIN_VIEW_MS);
    return this.view || { from: 0, to: total };
  }

  indexOf(id) {
    return this.rows.findIndex((node) => node.id === id);
  }

  scrollTo(index) {
    if (index >= 0) this.virtualizer.scrollToIndex(index, { align: "auto" });
  }

  focusRow(index) {
    this.focusIndex = Math.max(0, Math.min(index, this.rows.length - 1));
    this.scrollTo(this.focusIndex);
    this.draw();
    const row = this.container.querySelector(`[data-index="${this.focusIndex}"]`);
    if (row) row.focus({ preventScroll: true });
  }

  draw() {
    if (!this.tree) return;
    const hadFocus = this.container.contains(document.activeElement);
    const items = this.virtualizer.getVirtualItems();
    this.container.style.setProperty("height", `${this.virtualizer.getTotalSize()}px`);
    const { from, to } = this.window();
    const span = to - from;
    const rows = items.map((item) => this._row(this.rows[item.index], item, from, span)).filter(Boolean);
    clear(this.container).append(...rows);
    this._drawAxis(from, to);
    // The header lines up with the rows: as wide as the scroller less its scrollbar.
    this.header.style.setProperty("padding-right", `${this.scroller.offsetWidth - this.scroller.clientWidth}px`);
    if (hadFocus) {
      const row = this.container.querySelector(`[data-index="${this.focusIndex}"]`);
      if (row) row.focus({ preventScroll: true });
    }
  }

  _row(node, item, from, span) {
    if (!node) return null;
    const t0 = this.tree.t0;
    const open = node.end === null;
    const start = node.start === null ? 0 : node.start - t0;
    const end = open ? this.tree.t1 - t0 : node.end - t0;
    const left = ((start - from) / span) * 100;
    const width = Math.max(((end - start) / span) * 100, 0.25);
    const hasChildren = node.children.length > 0;
    const collapsed = this.collapsed.has(node.id);
    const [tokens, tokensClass] = tokensText(node);
    const [cost, costClass] = costText(node);
    const kindClass = node.span.kind && /^[a-z]+$/.test(node.span.kind) ? node.span.kind : "other";
    const seconds = node.start !== null && node.end !== null ? (node.end - node.start) / 1000 : null;
    return el(
      "div",
      {
        role: "treeitem",
        className: `span-row${node.facts.error ? " is-error" : ""}`,
        testid: "span-row",
        dataset: { spanId: node.id, kind: node.span.kind || "", index: String(item.index) },
        "aria-level": String(node.depth + 1),
        "aria-selected": node.id === this.selectedId ? "true" : "false",
        "aria-expanded": hasChildren ? String(!collapsed) : null,
        tabindex: item.index === this.focusIndex ? "0" : "-1",
        style: { transform: `translateY(${item.start}px)` },
      },
      el(
        "span",
        { className: "span-label", style: { "--depth": String(Math.min(node.depth, 24)) } },
        el("span", { className: "twisty", dataset: hasChildren ? { toggle: "1" } : {}, "aria-hidden": "true" }, hasChildren ? (collapsed ? "▸" : "▾") : ""),
        kindBadge(node.span.kind),
        el("span", { className: "span-name", title: node.span.name }, node.span.name),
        node.facts.error ? statusMark("ERROR") : null,
        collapsed ? el("span", { className: "hidden-count muted", title: "spans in this branch" }, `+${node.sum.descendants}`) : null,
      ),
      el("span", { className: `num span-tokens ${tokensClass}` }, tokens),
      el("span", { className: `num span-cost ${costClass}` }, cost),
      el(
        "span",
        { className: "span-track", "aria-hidden": "true" },
        el("span", {
          className: `span-bar kind-${kindClass}${open ? " open" : ""}`,
          style: { left: `${left.toFixed(3)}%`, width: `${width.toFixed(3)}%` },
        }),
      ),
      el("span", { className: "num span-duration" }, open ? "running" : fmt.duration(seconds)),
    );
  }

  _click(event) {
    const row = event.target.closest("[data-span-id]");
    if (!row) return;
    const index = Number(row.dataset.index);
    const node = this.rows[index];
    if (!node) return;
    this.focusIndex = index;
    if (event.target.closest("[data-toggle]")) {
      this.toggle(node);
      return;
    }
    this.handlers.onSelect(node, "click");
  }

  toggle(node, expand) {
    const collapse = expand === undefined ? !this.collapsed.has(node.id) : !expand;
    if (collapse) this.collapsed.add(node.id);
    else this.collapsed.delete(node.id);
    this.handlers.onLayout();
  }

  _key(event) {
    const node = this.rows[this.focusIndex];
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 15, PageUp: -15 };
    if (event.key in moves) this.focusRow(this.focusIndex + moves[event.key]);
    else if (event.key === "Home") this.focusRow(0);
    else if (event.key === "End") this.focusRow(this.rows.length - 1);
    else if (event.key === "ArrowRight" && node) {
      if (node.children.length && this.collapsed.has(node.id)) this.toggle(node, true);
      else if (node.children.length) this.focusRow(this.focusIndex + 1);
    } else if (event.key === "ArrowLeft" && node) {
      if (node.children.length && !this.collapsed.has(node.id)) this.toggle(node, false);
      else if (node.parent) this.focusRow(this.indexOf(node.parent.id));
    } else if ((event.key === "Enter" || event.key === " ") && node) this.handlers.onSelect(node, "key");
    else return;
    event.preventDefault();
  }

  // -- zoom ----------------------------------------------------------------------------------------

  zoom(factor, centre) {
    const total = Math.max(this.tree.t1 - this.tree.t0, MIN_VIEW_MS);
    const { from, to } = this.window();
    const mid = centre ?? (from + to) / 2;
    const width = Math.min(total, Math.max(MIN_VIEW_MS, (to - from) * factor));
    let start = Math.max(0, mid - width / 2);
    if (start + width > total) start = Math.max(0, total - width);
    this.view = width >= total ? null : { from: start, to: start + width };
    this.draw();
  }

  zoomTo(from, to) {
    const total = Math.max(this.tree.t1 - this.tree.t0, MIN_VIEW_MS);
    const a = Math.max(0, Math.min(from, to));
    const b = Math.min(total, Math.max(from, to));
    this.view = b - a >= total ? null : { from: a, to: Math.max(b, a + MIN_VIEW_MS) };
    this.draw();
  }

  _zoomToRow(event) {
    const row = event.target.closest("[data-span-id]");
    const node = row && this.rows[Number(row.dataset.index)];
    if (!node || node.start === null) return;
    const end = node.end === null ? this.tree.t1 : node.end;
    const pad = (end - node.start) * 0.05;
    this.zoomTo(node.start - this.tree.t0 - pad, end - this.tree.t0 + pad);
  }

  _drawAxis(from, to) {
    const ticks = [0, 0.5, 1].map((f, i) =>
      el("span", { className: `tick tick-${i}` }, fmt.offset(from + (to - from) * f)),
    );
    clear(this.axis).append(...ticks, el("span", { className: "axis-pick", hidden: true }));
    this.axis.dataset.zoomed = this.view ? "true" : "false";
  }

  // Dragging across the axis zooms into the range dragged over.
  _wireAxis() {
    let startX = null;
    const msAt = (x) => {
      const box = this.axis.getBoundingClientRect();
      const { from, to } = this.window();
      return from + ((x - box.left) / Math.max(1, box.width)) * (to - from);
    };
    this.axis.addEventListener("pointerdown", (event) => {
      startX = event.clientX;
      this.axis.setPointerCapture(event.pointerId);
    });
    this.axis.addEventListener("pointermove", (event) => {
      const pick = this.axis.querySelector(".axis-pick");
      if (startX === null || !pick) return;
      const box = this.axis.getBoundingClientRect();
      pick.hidden = false;
      pick.style.setProperty("left", `${Math.min(startX, event.clientX) - box.left}px`);
      pick.style.setProperty("width", `${Math.abs(event.clientX - startX)}px`);
    });
    this.axis.addEventListener("pointerup", (event) => {
      if (startX === null) return;
      const moved = Math.abs(event.clientX - startX);
      const a = msAt(startX);
      const b = msAt(event.clientX);
      startX = null;
      if (moved > 4) this.zoomTo(a, b);
      else this.draw();
    });
  }
}
