"""The canned OpenAI answers of ``bench_compare.py`` (stdlib only): shared by the in-process transport of
the workers and the canned server on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini"
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello."}]


def _completion() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there!", "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": 21,
                "completion_tokens": 4,
                "total_tokens": 25,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
            "service_tier": "default",
            "system_fingerprint": "fp_bench",
        }
    ).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench-s",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


_WORDS = ["Hel", "lo", " there", ",", " how", " can", " I", " help", "?"]
_USAGE = {
    "id": "chatcmpl-bench-s",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [],
    "usage": {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30},
}


def _stream(usage: bool) -> bytes:
    """Ten chunks (a role, nine words, a finish), and the usage chunk when the request asked for it."""
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"content": w}) for w in _WORDS]
    chunks.append(_chunk({}, "stop"))
    if usage:
        chunks.append(_USAGE)
    return ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()


BODIES = {"json": _completion(), "stream": _stream(False), "stream+usage": _stream(True)}
