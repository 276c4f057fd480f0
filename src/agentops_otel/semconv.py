"""Every attribute name and value this package writes or reads, in one place (the bottom layer).

Two families:

- ours (SPEC.md section 3): ``session.id``, ``agentops.*``;
- the OpenTelemetry GenAI semantic conventions (``gen_ai.*``, ``server.*``, ``error.type``), kept here
  as plain strings because ``opentelemetry.semconv._incubating`` marks them as moving to another
  repository.

This module imports nothing of the package: every other module may import it.
"""

from __future__ import annotations

from typing import Final

# -- ours ----------------------------------------------------------------------------------------------

# Present on every span started while a session is active (W3C baggage member too).
SESSION_ID: Final = "session.id"
BAGGAGE_SESSION_ID: Final = "session.id"

SPAN_KIND: Final = "agentops.span.kind"

# Values of agentops.span.kind.
KIND_SESSION: Final = "session"
KIND_SESSION_START: Final = "session.start"
#: A zero-length child of the root sent every heartbeat interval while the owning process lives.
KIND_SESSION_HEARTBEAT: Final = "session.heartbeat"
KIND_LLM: Final = "llm"
KIND_TOOL: Final = "tool"
KIND_ACTION: Final = "action"
KIND_AGENT: Final = "agent"
KIND_ERROR: Final = "error"

# Root span of a session.
SESSION_TAGS: Final = "agentops.session.tags"
SESSION_NAME: Final = "agentops.session.name"
SESSION_END_STATE: Final = "agentops.session.end_state"
SESSION_END_STATE_REASON: Final = "agentops.session.end_state_reason"
SESSION_VIDEO: Final = "agentops.session.video"
SESSION_INHERITED: Final = "agentops.session.inherited"
#: Seconds between heartbeats, on the start marker and each heartbeat (a backend derives staleness).
SESSION_HEARTBEAT_INTERVAL: Final = "agentops.session.heartbeat_interval"

# Set on spans started inside an @agent call, so the backend can show who did what.
AGENT_NAME: Final = "gen_ai.agent.name"
AGENT_ID: Final = "gen_ai.agent.id"

# Cost of an LLM call in US dollars, from the price table.
COST_USD: Final = "agentops.usage.cost_usd"

SDK_NAME: Final = "agentops_otel"
#: Instrumentation scope of the LLM instrumentation's spans and metrics.
INSTRUMENTATION_SCOPE: Final = "agentops_otel.instrumentation"

# An @agent / @action call's input and output (the names AgentOps uses), and an action's type.
ENTITY_INPUT: Final = "agentops.entity.input"
ENTITY_OUTPUT: Final = "agentops.entity.output"
ACTION_TYPE: Final = "agentops.action.type"
#: ``version=`` of an ``@agent``/``@tool``/``@action`` (the agentops 0.4 decorators' option).
ENTITY_VERSION: Final = "agentops.entity.version"
#: The agent framework a span comes from (``openai_agents``, ``langchain``, ``crewai``).
FRAMEWORK: Final = "agentops.framework"
# Framework spans: an agent's tools and handoffs, a handoff's agents, a guardrail's verdict.
AGENT_TOOLS: Final = "agentops.agent.tools"
AGENT_HANDOFFS: Final = "agentops.agent.handoffs"
HANDOFF_FROM: Final = "agentops.handoff.from"
HANDOFF_TO: Final = "agentops.handoff.to"
GUARDRAIL_TRIGGERED: Final = "agentops.guardrail.triggered"

# record(ErrorEvent(...)) and record(...) of other events.
ERROR_DETAILS: Final = "agentops.error.details"
ERROR_CODE: Final = "agentops.error.code"
ERROR_LOGS: Final = "agentops.error.logs"
ERROR_TRIGGER_KIND: Final = "agentops.error.trigger.kind"
ERROR_TRIGGER_NAME: Final = "agentops.error.trigger.name"
EVENT_LOGS: Final = "agentops.event.logs"

# End states (SPEC.md section 2), as written on the root and read by the backend.
END_STATE_SUCCESS: Final = "Success"
END_STATE_FAIL: Final = "Fail"
END_STATE_INDETERMINATE: Final = "Indeterminate"
END_STATES: Final = (END_STATE_SUCCESS, END_STATE_FAIL, END_STATE_INDETERMINATE)

#: Prefixes of the host-environment attributes on a session root (host.*, os.*, process.runtime.*).
HOST_ENV_PREFIXES: Final = ("host.", "os.", "process.", "cpu.", "memory.", "disk.", "system.")

# -- OpenTelemetry GenAI semantic conventions ------------------------------------------------------------

OPERATION_NAME: Final = "gen_ai.operation.name"
PROVIDER_NAME: Final = "gen_ai.provider.name"
OUTPUT_TYPE: Final = "gen_ai.output.type"
TOKEN_TYPE: Final = "gen_ai.token.type"

REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_SEED: Final = "gen_ai.request.seed"
REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
REQUEST_STREAM: Final = "gen_ai.request.stream"
REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"

RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
#: Seconds from the request to the first chunk of a streamed response.
RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"

USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
# Older names, still written by some instrumentations; read when the current ones are absent.
USAGE_PROMPT_TOKENS_OLD: Final = "gen_ai.usage.prompt_tokens"
USAGE_COMPLETION_TOKENS_OLD: Final = "gen_ai.usage.completion_tokens"
USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
# The registry name; util-genai and the anthropic SDK write "cache_write": switch it here if needed.
USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

# Opt-in content (JSON strings in the semconv "parts" format).
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_TYPE: Final = "gen_ai.tool.type"
TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
CONVERSATION_ID: Final = "gen_ai.conversation.id"

INPUT_MESSAGES: Final = "gen_ai.input.messages"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"

SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"
#: ``chat_completions`` or ``responses``: which OpenAI API a ``chat`` span called.
OPENAI_API_TYPE: Final = "openai.api.type"

# Values of gen_ai.output.type.
OUTPUT_TEXT: Final = "text"
OUTPUT_JSON: Final = "json"

# Values.
OP_CHAT: Final = "chat"
OP_EMBEDDINGS: Final = "embeddings"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_CREATE_AGENT: Final = "create_agent"
#: gen_ai.tool.type of a tool the agent calls as a function in its own process.
TOOL_TYPE_FUNCTION: Final = "function"
PROVIDER_OPENAI: Final = "openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
# The conventions' other well-known providers.
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"
PROVIDER_AZURE_INFERENCE: Final = "azure.ai.inference"
PROVIDER_AWS_BEDROCK: Final = "aws.bedrock"
PROVIDER_GCP_GEMINI: Final = "gcp.gemini"
PROVIDER_GCP_VERTEX_AI: Final = "gcp.vertex_ai"
PROVIDER_GCP_GEN_AI: Final = "gcp.gen_ai"
PROVIDER_GROQ: Final = "groq"
PROVIDER_DEEPSEEK: Final = "deepseek"
PROVIDER_MISTRAL: Final = "mistral_ai"
PROVIDER_X_AI: Final = "x_ai"
PROVIDER_PERPLEXITY: Final = "perplexity"
PROVIDER_COHERE: Final = "cohere"
# Providers the conventions do not list: custom values, named as LiteLLM names them.
PROVIDER_TOGETHER: Final = "together_ai"
PROVIDER_OPENROUTER: Final = "openrouter"
PROVIDER_FIREWORKS: Final = "fireworks_ai"
PROVIDER_CEREBRAS: Final = "cerebras"
PROVIDER_MOONSHOT: Final = "moonshot_ai"
PROVIDER_OLLAMA: Final = "ollama"
PROVIDER_VLLM: Final = "vllm"
TOKEN_INPUT: Final = "input"
TOKEN_OUTPUT: Final = "output"
#: error.type of a stream the caller dropped without reading it to the end or closing it.
ERROR_OTHER: Final = "_OTHER"

# -- other instrumentations' names, read by the backend (its figures count their spans too) -------------

#: OpenLLMetry (Traceloop): the kind of a model call (chat, completion, embedding, rerank) and of the
#: other spans (workflow, task, agent, tool).
OPENLLMETRY_REQUEST_TYPE: Final = "llm.request.type"
OPENLLMETRY_SPAN_KIND: Final = "traceloop.span.kind"
#: OpenInference (Arize Phoenix): the span kind (LLM, EMBEDDING, TOOL, AGENT, CHAIN, ...), the model and
#: the token counts of a model call, and its content.
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OPENINFERENCE_MODEL_NAME: Final = "llm.model_name"
OPENINFERENCE_PROMPT_TOKENS: Final = "llm.token_count.prompt"
OPENINFERENCE_COMPLETION_TOKENS: Final = "llm.token_count.completion"
OPENINFERENCE_COST_TOTAL: Final = "llm.cost.total"
#: The deprecated name of gen_ai.provider.name, still written by many instrumentations.
SYSTEM_OLD: Final = "gen_ai.system"
#: Attribute names (and prefixes) holding recorded content: prompts, completions, inputs and outputs.
CONTENT_KEYS: Final = frozenset(
    {
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "agentops.entity.input",
        "agentops.entity.output",
        "input.value",
        "output.value",
    }
)
CONTENT_PREFIXES: Final = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
)

# Metrics.
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"

# Recommended bucket boundaries of the GenAI metric conventions.
TOKEN_BUCKETS: Final = (
    1,
    4,
    16,
    64,
    256,
    1024,
    4096,
    16384,
    65536,
    262144,
    1048576,
    4194304,
    16777216,
    67108864,
)
DURATION_BUCKETS: Final = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
)
