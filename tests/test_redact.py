"""Secrets in recorded content: what the redactor replaces, and that the content paths use it (with
capture on, through the real decorators and ``record()``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from agentops_otel import _content
from agentops_otel._redact import MARKER, Redactor
from span_fixtures import configured

SECRETS = {
    "openai key": "key sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789 here",
    "anthropic key": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-ABCDEFG",
    "aws key id": "AKIAIOSFODNN7EXAMPLE",
    "google key": "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "github token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "slack token": "xoxb-123456789012-abcdefghij",
    "hugging face": "hf_abcdefghijklmnopqrstuvwxyzABCDEF",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "bearer": "Authorization: Bearer abcdefghijklmnop1234",
    "password=": "connect with password=hunter2 now",
    "api_key:": "api_key: abc123def",
    "url credentials": "postgres://admin:s3cr3t@db.internal:5432/app",
    "private key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
}
SECRET_PARTS = {
    "openai key": "Abcdefghijklmnop", "anthropic key": "api03-abcdef", "aws key id": "IOSFODNN7",
    "google key": "SyA1234567890", "github token": "abcdefghijklmnopqrstuvwxyz0123456789",
    "slack token": "123456789012-abc", "hugging face": "abcdefghijklmnopqrstuvwxyzABCDEF",
    "jwt": "dozjgNryP4J3", "bearer": "abcdefghijklmnop1234", "password=": "hunter2",
    "api_key:": "abc123def", "url credentials": "s3cr3t", "private key": "b3BlbnNzaC1rZXkt",
}  # fmt: skip


@pytest.mark.parametrize("case", list(SECRETS))
def test_each_kind_of_secret_is_replaced(case: str) -> None:
    text = Redactor().text(SECRETS[case])
    assert MARKER in text
    assert SECRET_PARTS[case] not in text


@pytest.mark.parametrize(
    "text",
    ["max_tokens=100, completion_tokens: 20", "the token budget is 5", "sk-short", "a plain sentence"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert Redactor().text(text) == text


def test_json_stays_json_and_keys_count() -> None:
    inner = json.dumps({"password": "hunter2", "query": "weather"})
    outer = json.dumps({"arguments": inner, "client_secret": "abc", "token": "t1", "tokens": 5})
    scrubbed = json.loads(Redactor().text(outer))
    assert scrubbed["client_secret"] == MARKER and scrubbed["token"] == MARKER and scrubbed["tokens"] == 5
    assert json.loads(scrubbed["arguments"]) == {"password": MARKER, "query": "weather"}


def test_user_patterns_and_their_first_group() -> None:
    redactor = Redactor([r"ACME-\d{4}", r"pin (\d+)", "([unclosed"])  # a bad one is skipped
    assert redactor.text("badge ACME-1234, pin 9876") == f"badge {MARKER}, pin {MARKER}"


@pytest.fixture
def capture_with(request: pytest.FixtureRequest) -> Iterator[None]:
    yield from configured(capture_content=True, **getattr(request, "param", {}))


@pytest.mark.parametrize(
    ("capture_with", "redacted"),
    [({}, True), ({"redact_secrets": False}, False), ({"redact_patterns": [r"weather"]}, True)],
    indirect=["capture_with"],
)
def test_the_content_serialisers_use_the_configured_redactor(capture_with: None, redacted: bool) -> None:
    arguments = _content.serialize({"user": "bob", "password": "hunter2", "note": "sk-" + "x" * 30})
    assert ("hunter2" not in arguments) is redacted
    assert ("xxxxxxxxxx" not in arguments) is redacted
    assert "bob" in arguments
    messages = _content.messages_json([{"role": "user", "content": "my password=hunter2"}], "user")
    assert ("hunter2" not in messages) is redacted
    assert ("hunter2" not in _content.to_json({"api_key": "hunter2"})) is redacted
