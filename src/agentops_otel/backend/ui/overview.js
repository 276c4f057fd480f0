// The overview: sessions, cost, tokens, LLM calls and fail rate over a period, as uPlot charts
// (vendor/uplot), with the per-model and per-tag breakdown, from GET /api/overview.
import { $, el, clear, show, setError } from "./dom.js";
import { overview } from "./adapter.js";
import * as fmt from "./format.js";

const PERIODS = { "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "90d": 90 * 86400 };
const charts = [];

export function parseOverviewQuery(params) {
  const range = params.get("range");
  return {
    view: "overview",
    range: range in PERIODS ? range : "7d",
    tags: (params.get("tag") || "").split(",").map((t) => t.trim()).filter(Boolean),
  };
}

export function overviewHash(query) {
  const params = new URLSearchParams();
  if (query.range !== "7d") params.set("range", query.range);
  if (query.tags.length) params.set("tag", query.tags.join(","));
  const text = params.toString();
  return text ? `#/overview?${text}` : "#/overview";
}

export function wireOverview(getQuery, navigate) {
  $("overview-range").addEventListener("change", () => navigate(overviewHash({ ...getQuery(), range: $("overview-range").value })));
  let timer = null;
  $("overview-tag").addEventListener("input", () => {
    window.clearTimeout(timer);
    const tags = () => $("overview-tag").value.split(",").map((t) => t.trim()).filter(Boolean);
    timer = window.setTimeout(() => navigate(overviewHash({ ...getQuery(), tags: tags() }), true), 400);
  });
  $("overview-filters").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("resize", () => {
    for (const chart of charts) chart.setSize(size(chart.root.parentElement));
  });
}

function size(box) {
  return { width: Math.max(240, (box && box.clientWidth) || 400), height: 180 };
}

// A cost with the part no price is known for ("$1.20 + unknown"), where the server counts unpriced
// calls (totals, tags and models of /api/overview); else the sum alone, as older servers gave it.
function costOf(row) {
  if (typeof row.unpriced_llm_calls !== "number") return fmt.cost(row.cost_usd);
  return fmt.sessionCost({ cost_usd: row.cost_usd, llm_calls: row.llm_calls, unpriced_llm_calls: row.unpriced_llm_calls });
}

function total(label, value, key, title) {
  return el("li", { className: "stat", dataset: { figure: key }, title: title || null }, el("span", { className: "stat-value" }, value), el("span", { className: "stat-label" }, label));
}

// The total cost: "+ unknown" smaller, on a line of its own where the card is too narrow for both.
function totalCost(t) {
  const text = costOf(t);
  const cut = text.indexOf(" + ");
  if (cut < 0) return text;
  return [el("span", {}, text.slice(0, cut)), el("span", { className: "stat-more" }, text.slice(cut))];
}

export async function loadOverview(query, isCurrent) {
  $("overview-range").value = query.range;
  if (document.activeElement !== $("overview-tag")) $("overview-tag").value = query.tags.join(", ");
  const until = Math.ceil(Date.now() / 1000 / 60) * 60;
  const answer = await overview({ since: until - PERIODS[query.range], until }, query.tags);
  if (!isCurrent()) return;
  setError($("overview-error"), "");
  const note = answer.computedHere
    ? `This server has no /api/overview: the figures are computed here from the newest sessions${answer.approximate ? " (not all of them)" : ""}.`
    : "";
  $("overview-note").textContent = note;
  show($("overview-note"), Boolean(note));
  const t = answer.totals;
  clear($("overview-totals")).append(
    total("Sessions", fmt.count(t.sessions), "sessions"),
    total("Failed", `${fmt.count(t.failed)} · ${(100 * (t.fail_rate || 0)).toFixed(1)}%`, "failed", "failed sessions and fail rate"),
    total("LLM calls", fmt.count(t.llm_calls), "llm_calls"),
    total("Tool calls", fmt.count(t.tool_calls), "tool_calls"),
    total("Tokens", fmt.tokens(t.total_tokens), "total_tokens", `${fmt.tokens(t.prompt_tokens)} prompt + ${fmt.tokens(t.completion_tokens)} completion`),
    total("Cost", totalCost(t), "cost_usd", t.unpriced_llm_calls ? `no price for ${fmt.count(t.unpriced_llm_calls)} of ${fmt.count(t.llm_calls)} LLM calls` : null),
    total("Errors", fmt.count(t.errors), "errors"),
  );
  drawCharts(answer);
  drawBreakdowns(answer, query);
}

function colours() {
  const style = getComputedStyle(document.documentElement);
  const get = (name) => style.getPropertyValue(name).trim();
  return { text: get("--muted"), grid: get("--border"), accent: get("--accent"), fail: get("--fail"), llm: get("--k-llm"), tool: get("--k-tool"), success: get("--success") };
}

function drawCharts(answer) {
  while (charts.length) charts.pop().destroy();
  const box = clear($("overview-charts"));
  const series = answer.series || [];
  const xs = series.map((b) => fmt.parseTime(b.start) / 1000);
  const c = colours();
  const specs = [
    ["Sessions", [["sessions", "Sessions", c.accent], ["failed", "Failed", c.fail]], (v) => fmt.count(v)],
    ["Cost", [["cost_usd", "Cost", c.success]], (v) => fmt.cost(v)],
    ["Tokens", [["total_tokens", "Tokens", c.llm]], (v) => fmt.tokens(v)],
    ["LLM calls", [["llm_calls", "LLM calls", c.tool]], (v) => fmt.count(v)],
    ["Fail rate", [["fail_rate", "Fail rate", c.fail]], (v) => (v === null || v === undefined ? "-" : `${(100 * v).toFixed(1)}%`)],
  ];
  const uPlot = window.uPlot;
  const step = answer.bucket === "hour" ? 3600 : 86400;
  for (const [title, lines, format] of specs) {
    const values = lines.map(([key]) => series.map((b) => (key === "fail_rate" ? (b.sessions ? b.failed / b.sessions : null) : b[key] || 0)));
    const holder = el("div", { className: "chart-canvas" });
    const sum = lines.map(([key, label], i) => `${label}: ${format(key === "fail_rate" ? answer.totals.fail_rate : values[i].reduce((a, b) => a + (b || 0), 0))}`).join(", ");
    const figure = el("figure", { className: "card chart", testid: "overview-chart", dataset: { chart: lines[0][0] }, "aria-label": `${title} per ${answer.bucket}. ${sum}` }, el("figcaption", {}, title, el("span", { className: "muted small" }, ` per ${answer.bucket}`)), holder);
    box.append(figure);
    if (!uPlot) {
      holder.append(el("p", { className: "muted" }, "Charts need vendor/uplot."));
      continue;
    }
    const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } };
    const opts = {
      ...size(holder),
      series: [{}, ...lines.map(([, label, colour]) => ({ label, stroke: colour, fill: `${colour}40`, width: 2, value: (u, v) => format(v), paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } }))],
      axes: [{ ...axis }, { ...axis, size: 74, values: (u, ticks) => ticks.map((v) => format(v)) }],
      scales: {
        // Half a bucket of room on each side, so that the first and last bars show whole.
        x: { time: true, range: (u, min, max) => [min - step / 2, max + step / 2] },
        y: { range: (u, min, max) => [0, title === "Fail rate" ? 1 : max > 0 ? max * 1.15 : 1] },
      },
      legend: { show: lines.length > 1 },
      cursor: { drag: { x: false, y: false } },
    };
    charts.push(new uPlot(opts, [xs, ...values], holder));
  }
}

function table(head, rows) {
  if (!rows.length) return el("p", { className: "muted" }, "Nothing in this period.");
  return el(
    "table",
    { className: "breakdown" },
    el("thead", {}, el("tr", {}, head.map(([label, numeric]) => el("th", { scope: "col", className: numeric ? "num" : "" }, label)))),
    el("tbody", {}, rows),
  );
}

function drawBreakdowns(answer, query) {
  const models = answer.by_model;
  const byModel = clear($("by-model"));
  if (models === null || models === undefined) byModel.append(el("p", { className: "muted" }, "This server does not break figures down by model."));
  else {
    byModel.append(
      table(
        [["Model"], ["LLM calls", true], ["Prompt", true], ["Completion", true], ["Cost", true]],
        models.map((m) =>
          el(
            "tr",
            { dataset: { model: m.model } },
            el("th", { scope: "row" }, el("a", { href: `#/?model=${encodeURIComponent(m.model)}`, className: "truncate", title: m.model }, m.model)),
            el("td", { className: "num" }, fmt.count(m.llm_calls)),
            el("td", { className: "num" }, fmt.tokens(m.prompt_tokens)),
            el("td", { className: "num" }, fmt.tokens(m.completion_tokens)),
            el("td", { className: "num" }, costOf(m)),
          ),
        ),
      ),
    );
  }
  const range = { "24h": "24h", "7d": "7d", "30d": "30d", "90d": "" }[query.range];
  clear($("by-tag")).append(
    table(
      [["Tag"], ["Sessions", true], ["Failed", true], ["Tokens", true], ["Cost", true]],
      (answer.by_tag || []).map((t) =>
        el(
          "tr",
          { dataset: { tag: t.tag } },
          el("th", { scope: "row" }, el("a", { href: `#/?tag=${encodeURIComponent(t.tag)}${range ? `&range=${range}` : ""}`, className: "truncate", title: t.tag }, t.tag)),
          el("td", { className: "num" }, fmt.count(t.sessions)),
          el("td", { className: "num" }, fmt.count(t.failed)),
          el("td", { className: "num" }, fmt.tokens(t.total_tokens)),
          el("td", { className: "num", title: t.unpriced_llm_calls ? `no price for ${fmt.count(t.unpriced_llm_calls)} of ${fmt.count(t.llm_calls)} LLM calls` : null }, costOf(t)),
        ),
      ),
    ),
  );
}
