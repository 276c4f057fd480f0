"""Which provider an OpenAI-compatible endpoint is: ``gen_ai.provider.name`` from the client's host.

The ``openai`` SDK reaches many providers through ``base_url`` (Azure OpenAI, Groq, DeepSeek, Together,
OpenRouter, Mistral, Gemini's OpenAI endpoint, Ollama, vLLM, ...). The span names the provider the
request went to, so prices and dashboards are per provider. The lookup order:

1. ``Configuration.provider_hosts`` (``AGENTOPS_PROVIDER_HOSTS``): ``host:port`` first, then ``host``;
2. the known public hosts below (a host or any subdomain of it);
3. Ollama's default port 11434 on any host;
4. the SDK's own provider (``openai``).

vLLM, LM Studio and other self-hosted servers have no host of their own: name them in
``provider_hosts`` (e.g. ``{"gpu-box:8000": "vllm"}``). Values are the GenAI conventions' names where
the conventions have one, else the lower-case names LiteLLM uses.
"""

from __future__ import annotations

from agentops_otel import _runtime, semconv

#: Host suffix -> ``gen_ai.provider.name``. A suffix matches the host itself or a subdomain.
KNOWN_HOSTS: dict[str, str] = {
    "api.openai.com": semconv.PROVIDER_OPENAI,
    "openai.azure.com": semconv.PROVIDER_AZURE_OPENAI,
    "cognitiveservices.azure.com": semconv.PROVIDER_AZURE_OPENAI,
    "services.ai.azure.com": semconv.PROVIDER_AZURE_INFERENCE,
    "models.inference.ai.azure.com": semconv.PROVIDER_AZURE_INFERENCE,
    "api.anthropic.com": semconv.PROVIDER_ANTHROPIC,
    "api.groq.com": semconv.PROVIDER_GROQ,
    "api.deepseek.com": semconv.PROVIDER_DEEPSEEK,
    "api.together.xyz": semconv.PROVIDER_TOGETHER,
    "api.together.ai": semconv.PROVIDER_TOGETHER,
    "openrouter.ai": semconv.PROVIDER_OPENROUTER,
    "api.mistral.ai": semconv.PROVIDER_MISTRAL,
    "generativelanguage.googleapis.com": semconv.PROVIDER_GCP_GEMINI,
    "aiplatform.googleapis.com": semconv.PROVIDER_GCP_VERTEX_AI,
    "api.x.ai": semconv.PROVIDER_X_AI,
    "api.perplexity.ai": semconv.PROVIDER_PERPLEXITY,
    "api.fireworks.ai": semconv.PROVIDER_FIREWORKS,
    "api.cerebras.ai": semconv.PROVIDER_CEREBRAS,
    "api.cohere.ai": semconv.PROVIDER_COHERE,
    "api.cohere.com": semconv.PROVIDER_COHERE,
    "api.moonshot.ai": semconv.PROVIDER_MOONSHOT,
    "amazonaws.com": semconv.PROVIDER_AWS_BEDROCK,
}
OLLAMA_PORT = 11434

_cache: dict[tuple[str, int | None, str, int], str] = {}


def provider_for(host: str | None, port: int | None, default: str) -> str:
    """The provider name for a request to ``host:port`` made through an SDK whose own provider is
    ``default``. Cached per host, port and configuration."""
    if not host:
        return default
    hosts = _runtime.config().provider_hosts
    key = (host, port, default, id(hosts))
    found = _cache.get(key)
    if found is None:
        found = _lookup(host.lower().rstrip("."), port, default, hosts)
        if len(_cache) >= 1024:
            _cache.clear()
        _cache[key] = found
    return found


def _lookup(host: str, port: int | None, default: str, hosts: dict[str, str]) -> str:
    if hosts:
        configured = {k.lower(): v for k, v in hosts.items()}
        for name in (f"{host}:{port}" if port is not None else None, host):
            if name is not None and name in configured:
                return configured[name]
    for suffix, provider in KNOWN_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            if provider == semconv.PROVIDER_AWS_BEDROCK and "bedrock" not in host:
                continue
            return provider
    if port == OLLAMA_PORT:
        return semconv.PROVIDER_OLLAMA
    return default


def provider_of_attributes(attributes: dict[str, object], default: str) -> str:
    """:func:`provider_for` the ``server.address`` / ``server.port`` already in ``attributes``."""
    host = attributes.get(semconv.SERVER_ADDRESS)
    port = attributes.get(semconv.SERVER_PORT)
    return provider_for(
        host if isinstance(host, str) else None, port if isinstance(port, int) else None, default
    )
