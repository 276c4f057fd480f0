"""Secrets in recorded content replaced by a marker, before they reach a span.

With content capture on, prompts, tool arguments and results are recorded; they may hold an API key
pasted into a prompt, a ``password=`` keyword argument, a bearer token in a tool result. A
:class:`Redactor` replaces, in text and in JSON:

- provider API keys and tokens by their shape (OpenAI/Anthropic ``sk-...``, AWS ``AKIA...``, Google
  ``AIza...``, GitHub ``ghp_...``/``github_pat_...``, Slack ``xox?-...``, Hugging Face ``hf_...``,
  Groq ``gsk_...``, xAI ``xai-...``, Stripe ``sk_live_...``), JWTs, and PEM private keys;
- the credential of ``Bearer <token>``/``Basic <token>`` and of ``scheme://user:password@host``;
- the value of a secret-named key: ``password=...``/``api_key: ...`` in text, ``"password": "..."`` in
  JSON (also inside a JSON string), and values of such keys in mappings (:meth:`Redactor.secret_key`);
- what the user's own patterns match (their first group, when they have one).

It errs towards redacting: a false positive costs a few characters of a record, a miss leaks a key.
Pure stdlib, no state but a cache of compiled redactors: the bottom layer of the package.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence

logger = logging.getLogger("agentops_otel")

MARKER = "[REDACTED]"

_NAMES = (
    r"passw(?:or)?d|passphrase|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|(?:access|refresh|auth|id|session|bearer|api)[_-]?token|"
    r"authorization|credentials?"
)
# A key in a mapping or JSON object: one of the names, maybe with a prefix ("openai_api_key",
# "X-Api-Key", "db_password"); a bare "token" counts here (structured), not in free text.
_KEY = re.compile(rf"(?i)^(?:[a-z0-9]+[_.-])*(?:{_NAMES}|token)$")

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----")
# "key": "value", or \"key\": \"value\" inside a JSON string: the same quote style throughout.
_JSON_PAIR = re.compile(r'(\\?")([A-Za-z0-9_.-]{1,64})\1(\s*:\s*)\1((?:[^"\\]|\\[^"])*)\1')
_ASSIGNMENT = re.compile(
    rf"(?i)(?<![A-Za-z0-9_])((?:[a-z0-9]+[_.-])*(?:{_NAMES}))(\s*[=:]\s*['\"]?)([^\s\"'&,;<>\\]+)"
)
_SHAPES = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"  # a PEM header left by a cut (the whole block is _PEM)
    r"|\bsk-[A-Za-z0-9_\-]{20,}"
    r"|\b[spr]k_(?:live|test)_[A-Za-z0-9]{16,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{22,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bhf_[A-Za-z0-9]{30,}"
    r"|\bgsk_[A-Za-z0-9]{20,}"
    r"|\bxai-[A-Za-z0-9]{20,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}"
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@\"'\\]+:)([^/\s@\"'\\]+)(@)")


def _json_pair(match: re.Match[str]) -> str:
    if not _KEY.match(match.group(2)) or match.group(4) == MARKER:
        return match.group(0)
    quote = match.group(1)
    return f"{quote}{match.group(2)}{quote}{match.group(3)}{quote}{MARKER}{quote}"


def _assignment(match: re.Match[str]) -> str:
    if match.group(3).lower() in ("bearer", "basic"):  # "Authorization: Bearer ...": the token is done
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{MARKER}"


class Redactor:
    """Replaces what looks like a secret by :data:`MARKER` (see the module docstring)."""

    def __init__(self, patterns: Sequence[str] = ()) -> None:
        self.patterns: list[re.Pattern[str]] = []
        for pattern in patterns:
            try:
                self.patterns.append(re.compile(pattern))
            except re.error as exc:
                logger.error("agentops_otel: ignoring the redact pattern %r: %s", pattern, exc)

    def secret_key(self, key: str) -> bool:
        """Whether a mapping's value under ``key`` is a secret by its name (``password``, ``api_key``)."""
        return bool(_KEY.match(key))

    def text(self, text: str) -> str:
        """``text`` with every secret found replaced by the marker."""
        if "-----BEGIN" in text:
            text = _PEM.sub(MARKER, text)
        if '"' in text:
            text = _JSON_PAIR.sub(_json_pair, text)
        text = _AUTH_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MARKER}", text)
        text = _ASSIGNMENT.sub(_assignment, text)
        text = _SHAPES.sub(MARKER, text)
        if "://" in text:
            text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{MARKER}{m.group(3)}", text)
        for pattern in self.patterns:
            text = pattern.sub(_user_replacement, text)
        return text


def _user_replacement(match: re.Match[str]) -> str:
    if match.re.groups and match.group(1) is not None:
        whole, start, end = match.group(0), match.start(1) - match.start(0), match.end(1) - match.start(0)
        return whole[:start] + MARKER + whole[end:]
    return MARKER


@functools.lru_cache(maxsize=16)
def redactor(enabled: bool, patterns: tuple[str, ...] = ()) -> Redactor | None:
    """The redactor for these settings (None when redaction is off), compiled once."""
    return Redactor(patterns) if enabled else None
