"""One span in full: its figures, the conversation of an LLM call, its attributes and events."""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import Any, TextIO

from agentops_otel import semconv
from agentops_otel.cli import format as fmt
from agentops_otel.cli.term import BOLD, DIM, RED, Terminal, clean

_INPUT_TOKENS = (semconv.USAGE_INPUT_TOKENS, semconv.USAGE_PROMPT_TOKENS_OLD)
_OUTPUT_TOKENS = (semconv.USAGE_OUTPUT_TOKENS, semconv.USAGE_COMPLETION_TOKENS_OLD)
_CONTENT = (semconv.SYSTEM_INSTRUCTIONS, semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES)
# Spans the SDK keeps for its own bookkeeping (start marker, heartbeats): not work, never shown.
_BOOKKEEPING = "session."


def parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def seconds_between(start: str | None, end: str | None) -> float | None:
    begin, finish = parse_time(start), parse_time(end)
    return (finish - begin).total_seconds() if begin and finish else None


def utc_time(value: str | None, *, fraction: bool = False) -> str:
    moment = parse_time(value)
    if moment is None:
        return fmt.MISSING
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + f".{moment.microsecond // 1000:03d}" if fraction else text


def is_work(span: Mapping[str, Any]) -> bool:
    kind = span.get("kind")
    return not (isinstance(kind, str) and kind.startswith(_BOOKKEEPING))


def llm_span_ids(spans: list[dict[str, Any]]) -> set[str]:
    """The spans that are LLM calls: our ``llm`` kind, or GenAI attributes of another instrumentation
    (an LLM span inside another LLM span is the same call: counted once, SPEC.md section 5)."""
    by_id = {s["span_id"]: s for s in spans}

    def marked(span: Mapping[str, Any]) -> bool:
        if span.get("kind") == semconv.KIND_LLM:
            return True
        attributes = span.get("attributes") or {}
        return span.get("kind") is None and attributes.get(semconv.OPERATION_NAME) in fmt.LLM_OPERATIONS

    found: set[str] = set()
    for span in spans:
        if not marked(span):
            continue
        parent, hops = by_id.get(span.get("parent_span_id") or ""), 0
        while parent is not None and hops < 1000 and not marked(parent):
            parent, hops = by_id.get(parent.get("parent_span_id") or ""), hops + 1
        if parent is None or span.get("kind") == semconv.KIND_LLM:
            found.add(span["span_id"])
    return found


def _number(attributes: Mapping[str, Any], names: tuple[str, ...]) -> int | None:
    for name in names:
        value = attributes.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def figures(span: Mapping[str, Any], llm: bool) -> dict[str, Any]:
    """A span's tokens, cost and status as the formatter takes them (``format.span_cost``)."""
    attributes = span.get("attributes") or {}
    cost = attributes.get(semconv.COST_USD)
    return {
        "llm": llm,
        "input_tokens": _number(attributes, _INPUT_TOKENS),
        "output_tokens": _number(attributes, _OUTPUT_TOKENS),
        "cost_usd": cost if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None,
        "status": span.get("status"),
    }


# -- one span ------------------------------------------------------------------------------------------


def print_span(span: dict[str, Any], llm: bool, out: TextIO, term: Terminal) -> None:
    attributes: dict[str, Any] = span.get("attributes") or {}
    numbers = figures(span, llm)
    status = span.get("status") or "UNSET"
    if span.get("status_message"):
        status += f": {span['status_message']}"
    fields: list[tuple[str, str, str | None]] = [
        ("span", span["span_id"], None),
        ("name", span.get("name") or fmt.MISSING, BOLD),
        ("kind", span.get("kind") or fmt.MISSING, None),
        ("parent", span.get("parent_span_id") or "(the root)", None),
        ("start (UTC)", utc_time(span.get("start_time"), fraction=True), None),
        ("duration", fmt.duration(seconds_between(span.get("start_time"), span.get("end_time"))), None),
        ("status", status, RED if span.get("status") == "ERROR" else None),
    ]
    if llm or numbers["input_tokens"] is not None:
        model = attributes.get(semconv.RESPONSE_MODEL) or attributes.get(semconv.REQUEST_MODEL)
        fields.append(("model", str(model or fmt.MISSING), None))
        fields.append(
            (
                "tokens",
                f"input {fmt.tokens(numbers['input_tokens'])}, output {fmt.tokens(numbers['output_tokens'])}",
                None,
            )
        )
    if llm or numbers["cost_usd"] is not None:
        fields.append(("cost", fmt.span_cost(numbers), None))
    pad = max(len(k) for k, _, _ in fields)
    for key, value, style in fields:
        out.write(f"{key.ljust(pad)}  {term.paint(clean(value), style)}\n")
    conversation = messages(attributes)
    if conversation:
        out.write(f"\n{term.paint('conversation', BOLD)}\n")
        for role, lines in conversation:
            out.write(f"  {term.paint(clean(role), BOLD)}\n")
            for line in lines:
                out.write(f"    {clean(line)}\n")
    out.write(f"\n{term.paint(f'attributes ({len(attributes)})', BOLD)}\n")
    width = max((len(k) for k in attributes), default=0)
    for key in sorted(attributes):
        value = "(shown above as the conversation)" if key in _CONTENT and conversation else attributes[key]
        _write_value(f"  {clean(key).ljust(width)}  ", value, out, term)
    events = span.get("events") or []
    if events:
        out.write(f"\n{term.paint(f'events ({len(events)})', BOLD)}\n")
        for event in events:
            when = utc_time(event.get("time"), fraction=True)
            out.write(f"  {term.paint(when, DIM)}  {clean(str(event.get('name')))}\n")
            for key, value in sorted((event.get("attributes") or {}).items()):
                _write_value(f"    {clean(key)}  ", value, out, term)


def _write_value(prefix: str, value: Any, out: TextIO, term: Terminal) -> None:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    lines = text.splitlines() or [""]
    out.write(prefix + clean(lines[0]) + "\n")
    indent = " " * len(prefix)
    for line in lines[1:]:
        out.write(indent + clean(line) + "\n")


# -- the conversation of an LLM span -------------------------------------------------------------------


def _loaded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def messages(attributes: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """``[(role, lines)]`` from the GenAI content attributes (``gen_ai.system_instructions``,
    ``gen_ai.input.messages``, ``gen_ai.output.messages``), else the older indexed
    ``gen_ai.prompt.N.*`` / ``gen_ai.completion.N.*`` of other instrumentations."""
    found: list[tuple[str, list[str]]] = []
    system = _loaded(attributes.get(semconv.SYSTEM_INSTRUCTIONS))
    if system:
        found.append(("system", _part_lines(system if isinstance(system, list) else [system])))
    for name in (semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES):
        items = _loaded(attributes.get(name))
        if isinstance(items, str):
            found.append(("user" if name == semconv.INPUT_MESSAGES else "assistant", items.splitlines()))
            continue
        for message in items if isinstance(items, list) else ():
            if not isinstance(message, dict):
                found.append(("?", [str(message)]))
                continue
            role = str(message.get("role") or "?")
            if message.get("finish_reason"):
                role += f"  (finish: {message['finish_reason']})"
            parts = message.get("parts")
            if parts is None and "content" in message:
                parts = [message["content"]]
            found.append((role, _part_lines(parts if isinstance(parts, list) else [parts])))
    return found or _indexed_messages(attributes)


def _part_lines(parts: list[Any]) -> list[str]:
    lines: list[str] = []
    for part in parts:
        if isinstance(part, str):
            lines += part.splitlines() or [""]
        elif not isinstance(part, dict):
            lines.append(json.dumps(part, ensure_ascii=False))
        elif part.get("type") in (None, "text"):
            lines += str(part.get("content") or "").splitlines() or [""]
        elif part.get("type") == "tool_call":
            args = part.get("arguments")
            shown = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            lines.append(f"-> tool call {part.get('name')} (id {part.get('id')}): {shown}")
        elif part.get("type") == "tool_call_response":
            result = part.get("response", part.get("result"))
            shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            lines.append(f"<- tool result (id {part.get('id')}): {shown}")
        else:
            lines.append(f"[{part.get('type')}]")
    return lines


def _indexed_messages(attributes: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    found = []
    for prefix in ("gen_ai.prompt", "gen_ai.completion"):
        index = 0
        while f"{prefix}.{index}.content" in attributes or f"{prefix}.{index}.role" in attributes:
            role = attributes.get(f"{prefix}.{index}.role") or (
                "user" if prefix == "gen_ai.prompt" else "assistant"
            )
            content = attributes.get(f"{prefix}.{index}.content")
            found.append((str(role), str(content if content is not None else "").splitlines()))
            index += 1
    return found
