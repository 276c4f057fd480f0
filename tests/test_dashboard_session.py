"""The dashboard's session view in Debian's Chromium: the span tree beside the detail panel, an LLM
call's conversation with its tool call, a tool's arguments and result, errors, collapsing, zoom and the
keyboard, on sessions the real SDK and the real openai client recorded (tests/dashboard_fixtures.py)."""

from __future__ import annotations

import json
from typing import Any

import requests

from backend_fixtures import create_project
from cli_fixtures import FAILED_CALL_SCRIPT
from dashboard_fixtures import (  # noqa: F401  (the fixtures browser, page, world)
    ANSWER,
    QUESTION,
    SYSTEM_PROMPT,
    World,
    browser_fixture,
    page_fixture,
    run_script,
    shot,
    sign_in,
    span_row,
    sync_api,
    world_fixture,
)

expect = sync_api.expect


def open_session(page: Any, world: World, name: str) -> dict[str, Any]:
    sign_in(page, world.url, world.key, f"/#/sessions/{world.ids[name]}")
    api: dict[str, Any] = world.api[name]
    expect(page.get_by_test_id("span-row")).to_have_count(len(api["spans"]))
    return api


def spans_of(api: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return sorted((s for s in api["spans"] if s["kind"] == kind), key=lambda s: s["start_time"])


def test_the_tree_shows_every_span_with_kind_depth_tokens_and_cost(world: World, page: Any) -> None:
    api = open_session(page, world, "research")
    rows = page.get_by_test_id("span-row")
    shown = {
        rows.nth(i).get_attribute("data-span-id"): (
            rows.nth(i).locator(".span-name").inner_text(),
            rows.nth(i).locator(".badge.kind").inner_text(),
            int(rows.nth(i).get_attribute("aria-level") or 0),
        )
        for i in range(rows.count())
    }
    assert {k: v[:2] for k, v in shown.items()} == {
        s["span_id"]: (s["name"], s["kind"]) for s in api["spans"]
    }
    root = next(s for s in api["spans"] if s["parent_span_id"] is None)
    agent = spans_of(api, "agent")[0]
    assert rows.first.get_attribute("data-span-id") == root["span_id"]  # the root leads
    assert shown[root["span_id"]][2] == 1 and shown[agent["span_id"]][2] == 2
    assert all(shown[t["span_id"]][2] == 3 for t in spans_of(api, "tool"))
    failed = page.locator('[data-testid="span-row"][data-kind="tool"]', has_text="fetch_page")
    assert "is-error" in (failed.get_attribute("class") or "")
    assert failed.locator(".status").inner_text() == "ERROR"
    llm = span_row(page, spans_of(api, "llm")[0]["span_id"])
    assert llm.locator(".span-tokens").inner_text() == "150"
    assert llm.locator(".span-cost").inner_text() == "$0.000036"
    # The agent shows the sum of its branch.
    assert span_row(page, agent["span_id"]).locator(".span-tokens").inner_text() == "∑ 150"


def test_a_failed_call_that_used_no_tokens_costs_nothing_as_in_the_sessions_figure(
    world: World, page: Any
) -> None:
    """The demo's case: a call that failed before using a token is not unpriced in the session's cost
    (``$...``, no ``+ unknown``), so its row and detail show ``-``, as the CLI's tree does."""
    from agentops_otel.cli.demo_llm import canned_llm

    key = create_project(world.db, "flaky")["api_key"]
    with canned_llm() as llm_url:
        session_id = run_script(FAILED_CALL_SCRIPT, llm_url, world.url, key).strip()
    headers = {"Authorization": f"Bearer {key}"}
    api = requests.get(f"{world.url}/api/sessions/{session_id}", headers=headers, timeout=30).json()
    assert api["cost_usd"] > 0 and api.get("unpriced_llm_calls", 0) == 0, api
    sign_in(page, world.url, key, f"/#/sessions/{session_id}")
    expect(page.get_by_test_id("span-row")).to_have_count(len(api["spans"]))
    priced, failed = spans_of(api, "llm")
    assert failed["status"] == "ERROR" and "gen_ai.usage.input_tokens" not in failed["attributes"]
    assert span_row(page, priced["span_id"]).locator(".span-cost").inner_text().startswith("$0.0")
    assert span_row(page, failed["span_id"]).locator(".span-cost").inner_text() == "-"
    span_row(page, failed["span_id"]).click()
    cost = page.locator(".facts .fact", has=page.locator("dt", has_text="Cost"))
    expect(cost.locator("dd")).to_have_text("-")
    assert "unknown" not in page.locator("#session-view").inner_text()


def test_the_detail_opens_beside_the_tree_without_moving_the_page(world: World, page: Any) -> None:
    api = open_session(page, world, "support")
    tree = page.locator("#span-scroll").bounding_box()
    first_llm = span_row(page, spans_of(api, "llm")[0]["span_id"])
    before = page.evaluate("window.scrollY")
    first_llm.click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    box = detail.bounding_box()
    assert tree is not None and box is not None
    assert box["x"] >= tree["x"] + tree["width"]  # beside, not below
    assert box["y"] < 900 and box["y"] + 40 < tree["y"] + tree["height"]  # in view, level with the tree
    assert page.evaluate("window.scrollY") == before
    assert first_llm.get_attribute("aria-selected") == "true"
    assert "span=" in page.url  # the selected span is part of the link


def test_an_llm_call_reads_as_a_chat_with_its_tool_call(world: World, page: Any) -> None:
    api = open_session(page, world, "support")
    first, second = spans_of(api, "llm")
    span_row(page, first["span_id"]).click()
    messages = page.get_by_test_id("chat-message")
    expect(messages).to_have_count(3)
    assert [messages.nth(i).get_attribute("data-role") for i in range(3)] == ["system", "user", "assistant"]
    expect(messages.nth(0)).to_contain_text(SYSTEM_PROMPT)
    expect(messages.nth(1)).to_contain_text(QUESTION)
    call = messages.nth(2).locator('[data-part="tool_call"]')
    expect(call).to_contain_text("lookup_order")
    assert json.loads(call.locator("pre").inner_text()) == {"order_id": "A-1042"}  # parsed, not escaped
    facts = page.locator(".facts")
    expect(facts).to_contain_text("gpt-4o-mini")
    expect(facts).to_contain_text("1,200")
    expect(facts).to_contain_text("tool_calls")
    shot(page, "session-chat-tool-call")

    span_row(page, second["span_id"]).click()
    expect(messages).to_have_count(5)  # drawn once the span's detail has arrived
    roles = [m.get_attribute("data-role") for m in messages.all()]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    tool_message = page.locator('[data-testid="chat-message"][data-role="tool"]')
    assert json.loads(tool_message.locator("pre").inner_text())["status"] == "shipped"
    expect(page.get_by_test_id("chat-message").last).to_contain_text(ANSWER)
    shot(page, "session-chat")

    # The raw attributes are one click away.
    page.get_by_role("tab", name="Attributes").click()
    table = page.locator("#span-attributes")
    expect(table.locator('tr[data-attribute="gen_ai.output.messages"]')).to_contain_text(ANSWER)
    expect(table.locator('tr[data-attribute="gen_ai.request.model"] td')).to_have_text("gpt-4o-mini")

    # The tool span: its arguments and result, parsed.
    span_row(page, spans_of(api, "tool")[0]["span_id"]).click()
    io = page.locator(".tool-io")
    assert json.loads(io.locator(".tool-args").inner_text()) == {"order_id": "A-1042"}
    assert json.loads(io.locator(".tool-result-text").inner_text())["eta"] == "Friday"


def test_escape_closes_the_detail_and_returns_to_the_span(world: World, page: Any) -> None:
    api = open_session(page, world, "support")
    row = span_row(page, spans_of(api, "tool")[0]["span_id"])
    row.click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    assert "span=" not in page.url
    assert page.evaluate("document.activeElement.dataset.spanId") == row.get_attribute("data-span-id")
    # The keyboard: arrows move, Enter opens (focus into the detail), Escape closes.
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(detail).to_be_visible()
    assert page.evaluate("document.activeElement.closest('[data-testid=span-detail]') !== null")
    selected = page.locator('[data-testid="span-row"][aria-selected="true"]')
    assert selected.get_attribute("data-span-id") == spans_of(api, "llm")[0]["span_id"]
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()


def test_first_error_collapse_and_filters(world: World, page: Any) -> None:
    api = open_session(page, world, "research")
    errors = [s for s in api["spans"] if s["status"] == "ERROR" or s["kind"] == "error"]
    page.get_by_role("button", name="First error").click()
    detail = page.get_by_test_id("span-detail")
    expect(detail).to_be_visible()
    selected = page.locator('[data-testid="span-row"][aria-selected="true"]')
    first_error = selected.get_attribute("data-span-id")
    assert first_error in {s["span_id"] for s in errors}
    expect(page.locator("#span-fields")).to_contain_text("could not fetch")
    page.get_by_role("button", name="Next error").click()
    assert selected.get_attribute("data-span-id") != first_error

    agent = spans_of(api, "agent")[0]
    agent_row = span_row(page, agent["span_id"])
    agent_row.locator(".twisty").click()  # collapse the agent's branch
    expect(page.get_by_test_id("span-row")).to_have_count(2)
    assert agent_row.get_attribute("aria-expanded") == "false"
    expect(agent_row.locator(".hidden-count")).to_have_text(f"+{len(api['spans']) - 2}")
    agent_row.locator(".twisty").click()
    expect(page.get_by_test_id("span-row")).to_have_count(len(api["spans"]))

    page.get_by_label("Errors only").check()
    # The errors and the branch above them.
    expect(page.get_by_test_id("span-row")).to_have_count(len(errors) + 2)
    page.get_by_label("Errors only").uncheck()
    page.get_by_label("Filter spans by name").fill("search")
    expect(page.get_by_test_id("span-row")).to_have_count(2 + 2)  # two searches, their agent and root
    page.get_by_label("Kind").select_option("llm")
    expect(page.get_by_test_id("span-row")).to_have_count(0)


def test_the_timeline_zooms(world: World, page: Any) -> None:
    api = open_session(page, world, "research")
    axis = page.locator("#axis")
    whole = axis.inner_text()
    page.get_by_role("button", name="Zoom in").click()
    expect(axis).to_have_attribute("data-zoomed", "true")
    assert axis.inner_text() != whole
    page.get_by_role("button", name="Whole session").click()
    expect(axis).to_have_attribute("data-zoomed", "false")
    assert axis.inner_text() == whole
    # Dragging across the axis zooms into that range; the root's bar then overflows the track.
    box = axis.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + 5, steps=4)
    page.mouse.up()
    expect(axis).to_have_attribute("data-zoomed", "true")
    root = next(s for s in api["spans"] if s["parent_span_id"] is None)
    bar = span_row(page, root["span_id"]).locator(".span-bar")
    assert float(bar.evaluate("e => parseFloat(e.style.width)")) > 400  # percent of the track


def test_a_link_opens_a_span(world: World, page: Any) -> None:
    api = world.api["support"]
    tool = spans_of(api, "tool")[0]
    sign_in(page, world.url, world.key, f"/#/sessions/{world.ids['support']}?span={tool['span_id']}")
    expect(page.get_by_test_id("span-detail")).to_be_visible()
    expect(page.locator("#span-detail-title")).to_contain_text("lookup_order")
    assert span_row(page, tool["span_id"]).get_attribute("aria-selected") == "true"
    # An unknown session says so.
    page.goto(f"{world.url}/#/sessions/00000000-0000-4000-8000-000000000000")
    expect(page.locator("#session-error")).to_contain_text("No session")
