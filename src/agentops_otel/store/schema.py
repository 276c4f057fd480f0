"""The schema's version and the SQLite schema snapshot: what the Alembic migrations produce, as SQL.

The migrations (``store/migrations``, Alembic on SQLAlchemy Core) are the one source of the schema for
SQLite and PostgreSQL. A new SQLite file is created from :data:`SQLITE_SCHEMA` instead of by running
them, so the SDK's embedded store (every instrumented process, and the spool at exit) never imports
SQLAlchemy or Alembic for a new or current file; ``tests/test_store_schema.py`` proves the snapshot
identical to what the migrations write (``sqlite_master`` row for row). After a new revision, paste the
statements that test prints. Standard library only.
"""

from __future__ import annotations

#: The Alembic head revision: the schema version this code reads and writes.
REVISION = "0005"
#: SQLite's ``PRAGMA user_version`` at :data:`REVISION` (0.1.0 wrote 1; a release reading a higher value
#: refuses the file instead of misreading it).
USER_VERSION = int(REVISION)


class NewerSchema(RuntimeError):
    """The database was written by a newer agentops-otel (a higher revision than :data:`REVISION`)."""


#: ``sqlite_master.sql`` of a file the migrations brought to :data:`REVISION`, in creation order.
SQLITE_SCHEMA: tuple[str, ...] = (
    (
        "CREATE TABLE alembic_version (\n"
        "\tversion_num VARCHAR(32) NOT NULL, \n"
        "\tCONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
        ")"
    ),
    (
        "CREATE TABLE projects (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tname TEXT NOT NULL, \n"
        "\tcreated_ns BIGINT NOT NULL, retention_s BIGINT, \n"
        "\tPRIMARY KEY (project_id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE resources (\n"
        "\tresource_id INTEGER NOT NULL, \n"
        "\tdigest TEXT NOT NULL, \n"
        "\tattributes TEXT NOT NULL, \n"
        "\tPRIMARY KEY (resource_id), \n"
        "\tUNIQUE (digest)\n"
        ")"
    ),
    (
        "CREATE TABLE sessions (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tsession_id TEXT NOT NULL, \n"
        "\ttrace_id TEXT, \n"
        "\tname TEXT, \n"
        "\tstart_ns BIGINT, \n"
        "\tlast_end_ns BIGINT, \n"
        "\tend_ns BIGINT, \n"
        "\thas_root INTEGER NOT NULL, \n"
        "\thas_marker INTEGER NOT NULL, \n"
        "\tend_state TEXT NOT NULL, \n"
        "\tend_state_reason TEXT, \n"
        "\ttags TEXT NOT NULL, \n"
        "\thost_env TEXT NOT NULL, \n"
        "\tvideo TEXT, \n"
        "\tspan_count INTEGER NOT NULL, \n"
        "\tllm_calls INTEGER NOT NULL, \n"
        "\ttool_calls INTEGER NOT NULL, \n"
        "\tactions INTEGER NOT NULL, \n"
        "\terrors INTEGER NOT NULL, \n"
        "\tprompt_tokens BIGINT NOT NULL, \n"
        "\tcompletion_tokens BIGINT NOT NULL, \n"
        "\tcost_usd DOUBLE NOT NULL, last_seen_ns BIGINT, seen_ns BIGINT, heartbeat_s DOUBLE, "
        "is_trace INTEGER DEFAULT 0 NOT NULL, agents INTEGER DEFAULT 0 NOT NULL, "
        "unpriced_llm_calls INTEGER DEFAULT 0 NOT NULL, models TEXT DEFAULT '[]' NOT NULL, "
        "model_figures TEXT DEFAULT '{}' NOT NULL, failures TEXT, "
        "has_content INTEGER DEFAULT 0 NOT NULL, \n"
        "\tPRIMARY KEY (project_id, session_id)\n"
        ")"
    ),
    (
        "CREATE TABLE project_keys (\n"
        "\tkey_digest TEXT NOT NULL, \n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tcreated_ns BIGINT NOT NULL, \n"
        "\trevoked_ns BIGINT, \n"
        "\tPRIMARY KEY (key_digest)\n"
        ")"
    ),
    ("CREATE INDEX project_keys_by_project ON project_keys (project_id)"),
    (
        "CREATE TABLE auth_tokens (\n"
        "\ttoken_digest TEXT NOT NULL, \n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tkey_digest TEXT NOT NULL, \n"
        "\tcreated_ns BIGINT NOT NULL, \n"
        "\texpires_ns BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (token_digest)\n"
        ")"
    ),
    ("CREATE INDEX auth_tokens_by_key ON auth_tokens (key_digest)"),
    ("CREATE INDEX auth_tokens_by_expiry ON auth_tokens (expires_ns)"),
    ("CREATE INDEX sessions_by_seen ON sessions (project_id, last_seen_ns)"),
    (
        "CREATE TABLE spool (\n"
        "\tid INTEGER NOT NULL, \n"
        "\ttraces_url TEXT NOT NULL, \n"
        "\tkey_fingerprint TEXT NOT NULL, \n"
        "\tcreated_ns BIGINT NOT NULL, \n"
        "\tspans INTEGER NOT NULL, \n"
        "\tbody BLOB NOT NULL, \n"
        "\tclaimed_by TEXT, \n"
        "\tclaimed_ns BIGINT, \n"
        "\tPRIMARY KEY (id)\n"
        ")"
    ),
    ("CREATE INDEX spool_by_destination ON spool (traces_url, key_fingerprint, id)"),
    ("CREATE INDEX sessions_by_start ON sessions (project_id, is_trace, start_ns, session_id)"),
    ("CREATE INDEX sessions_by_start_all ON sessions (is_trace, start_ns, session_id, project_id)"),
    (
        "CREATE TABLE scopes (\n"
        "\tscope_id INTEGER NOT NULL, \n"
        "\tdigest TEXT NOT NULL, \n"
        "\tattributes TEXT NOT NULL, \n"
        "\tPRIMARY KEY (scope_id), \n"
        "\tUNIQUE (digest)\n"
        ")"
    ),
    (
        "CREATE TABLE session_tags (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tsession_id TEXT NOT NULL, \n"
        "\ttag TEXT NOT NULL, \n"
        "\tstart_ns BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (project_id, session_id, tag)\n"
        ")"
    ),
    ("CREATE INDEX session_tags_by_tag ON session_tags (project_id, tag, start_ns, session_id)"),
    (
        "CREATE TABLE session_models (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tsession_id TEXT NOT NULL, \n"
        "\tmodel TEXT NOT NULL, \n"
        "\tstart_ns BIGINT NOT NULL, \n"
        "\tllm_calls INTEGER NOT NULL, \n"
        "\tprompt_tokens BIGINT NOT NULL, \n"
        "\tcompletion_tokens BIGINT NOT NULL, \n"
        "\tcost_usd DOUBLE NOT NULL, \n"
        "\tunpriced_llm_calls INTEGER NOT NULL, \n"
        "\tPRIMARY KEY (project_id, session_id, model)\n"
        ")"
    ),
    ("CREATE INDEX session_models_by_model ON session_models (project_id, model, start_ns)"),
    ("CREATE INDEX session_models_by_start ON session_models (project_id, start_ns)"),
    (
        "CREATE TABLE span_blocks (\n"
        "\tblock_id INTEGER NOT NULL, \n"
        "\tproject_id TEXT NOT NULL, \n"
        "\tsession_id TEXT NOT NULL, \n"
        "\tspans INTEGER NOT NULL, \n"
        "\tstart_ns BIGINT NOT NULL, \n"
        "\tlast_start_ns BIGINT NOT NULL, \n"
        "\tcodec INTEGER NOT NULL, \n"
        "\tids BLOB NOT NULL, \n"
        "\tllm BLOB, \n"
        "\tdata BLOB NOT NULL, \n"
        "\textra BLOB, \n"
        "\tPRIMARY KEY (block_id)\n"
        ")"
    ),
    ("CREATE INDEX span_blocks_by_session ON span_blocks (project_id, session_id, start_ns)"),
    (
        "CREATE TABLE overview_models (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\thour BIGINT NOT NULL, \n"
        "\tmodel TEXT NOT NULL, \n"
        "\tllm_calls BIGINT NOT NULL, \n"
        "\tprompt_tokens BIGINT NOT NULL, \n"
        "\tcompletion_tokens BIGINT NOT NULL, \n"
        "\tcost_usd DOUBLE NOT NULL, \n"
        "\tunpriced_llm_calls BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (project_id, hour, model)\n"
        ")"
    ),
    (
        "CREATE TABLE overview_hours (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\thour BIGINT NOT NULL, \n"
        "\tsessions BIGINT NOT NULL, \n"
        "\tfailed BIGINT NOT NULL, \n"
        "\tllm_calls BIGINT NOT NULL, \n"
        "\ttool_calls BIGINT NOT NULL, \n"
        "\tprompt_tokens BIGINT NOT NULL, \n"
        "\tcompletion_tokens BIGINT NOT NULL, \n"
        "\tcost_usd DOUBLE NOT NULL, \n"
        "\terrors BIGINT NOT NULL, \n"
        "\tunpriced_llm_calls BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (project_id, hour)\n"
        ")"
    ),
    (
        "CREATE TABLE overview_tags (\n"
        "\tproject_id TEXT NOT NULL, \n"
        "\thour BIGINT NOT NULL, \n"
        "\ttag TEXT NOT NULL, \n"
        "\tsessions BIGINT NOT NULL, \n"
        "\tfailed BIGINT NOT NULL, \n"
        "\tcost_usd DOUBLE NOT NULL, \n"
        "\ttotal_tokens BIGINT NOT NULL, \n"
        "\tllm_calls BIGINT NOT NULL, \n"
        "\tunpriced_llm_calls BIGINT NOT NULL, \n"
        "\tPRIMARY KEY (project_id, hour, tag)\n"
        ")"
    ),
)
