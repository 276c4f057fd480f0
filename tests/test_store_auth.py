"""Projects, keys and tokens on both stores: only digests are stored, tokens expire, a revoked key (and its
tokens) is refused, a rotated project has one new key, and several store instances (servers) agree."""

from __future__ import annotations

import threading

import pytest

from agentops_otel.store import auth, open_store
from agentops_otel.store.auth import digest
from agentops_otel.store.base import BaseStore


def _secret_rows(store: BaseStore) -> str:
    rows = store._read("SELECT * FROM project_keys") + store._read("SELECT * FROM auth_tokens")
    return repr(rows)


def test_keys_and_tokens_are_stored_as_digests_only(any_store: BaseStore) -> None:
    project_id, api_key, created = any_store.create_project("p")
    assert created and any_store.project_for_key(api_key) == project_id
    issued = any_store.issue_token(api_key)
    assert issued is not None and issued[1] == project_id
    stored = _secret_rows(any_store)
    assert api_key not in stored and issued[0] not in stored
    assert digest(api_key) in stored and digest(issued[0]) in stored
    assert any_store.project_for_token(issued[0]) == project_id
    assert any_store.project_for_token(issued[0][:-2] + "xx") is None
    assert any_store.issue_token("not-a-key") is None


def test_a_second_key_for_a_project_and_the_same_project_twice(any_store: BaseStore) -> None:
    first, key1, created1 = any_store.create_project("p")
    second, key2, created2 = any_store.create_project("p")
    assert first == second and created1 and not created2 and key1 != key2
    assert any_store.project_for_key(key1) == any_store.project_for_key(key2) == first
    [listed] = any_store.list_projects()
    assert listed["name"] == "p" and listed["active_keys"] == 2 and listed["retention_s"] is None


def test_tokens_expire(store_url: str) -> None:
    with open_store(store_url, token_ttl=-1.0) as store:  # every token is born expired
        _, api_key, _ = store.create_project("p")
        first, second = store.issue_token(api_key), store.issue_token(api_key)
        assert first is not None and second is not None
        assert store.project_for_token(first[0]) is None and store.project_for_token(second[0]) is None
        assert store.purge_expired_tokens() == 1  # the first went at once (issuing purges hourly)
    with open_store(store_url, token_ttl=3600.0) as store:
        issued = store.issue_token(api_key)
        assert issued is not None and store.project_for_token(issued[0]) is not None
        assert store.purge_expired_tokens() == 0
        assert store.project_for_token(issued[0]) is not None


def test_a_revoked_key_and_its_tokens_are_refused_by_every_instance(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_store(store_url) as server_a, open_store(store_url) as server_b:
        project_id, api_key, _ = server_a.create_project("p")
        _, other_key, _ = server_a.create_project("p")
        token = server_a.issue_token(api_key)
        assert token is not None
        assert server_b.project_for_token(token[0]) == project_id  # B has it cached now
        assert server_a.revoke_key(api_key) and not server_a.revoke_key(api_key)
        assert server_a.project_for_key(api_key) is None and server_a.issue_token(api_key) is None
        assert server_a.project_for_token(token[0]) is None
        monkeypatch.setattr(auth, "AUTH_CACHE_S", 0.0)  # B's cache window over
        assert server_b.project_for_token(token[0]) is None
        assert server_b.project_for_key(other_key) == project_id  # the project's other key still works
        assert not server_b.revoke_key("never-issued")


def test_rotate_revokes_every_earlier_key(any_store: BaseStore) -> None:
    project_id, key1, _ = any_store.create_project("p")
    _, key2, _ = any_store.create_project("p")
    token = any_store.issue_token(key1)
    assert token is not None
    rotated = any_store.rotate_key("p")
    assert rotated is not None and rotated[0] == project_id
    assert any_store.project_for_key(key1) is None and any_store.project_for_key(key2) is None
    assert any_store.project_for_token(token[0]) is None
    assert any_store.project_for_key(rotated[1]) == project_id
    assert any_store.rotate_key(project_id) is not None  # by id too
    assert any_store.rotate_key("no-such-project") is None
    assert any_store.list_projects()[0]["active_keys"] == 1


def test_servers_creating_one_project_at_once_agree(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []

    def create(store: BaseStore) -> None:
        try:
            results.append(store.create_project("shared")[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.close()
    assert not errors and len(results) == 4 and len(set(results)) == 1
