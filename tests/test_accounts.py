"""Users and API clients: the service and the ``mdm users`` / ``mdm clients`` commands."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from mdm.services import accounts
from mdm.services.accounts import AccountError, Scopes, parse_scopes
from mdm.store import models as m
from test_web_support import *  # noqa: F401,F403 - fixtures
from test_web_support import bearer

PASSWORD = "correct horse battery staple"


def test_users_roles_passwords(store):
    with store.session() as s:
        user = accounts.create_user(s, "stina", PASSWORD, "steward")
        assert user.password_hash.startswith("$argon2") and PASSWORD not in user.password_hash
    with store.session() as s:
        assert accounts.authenticate(s, "stina", PASSWORD).role == "steward"
        assert accounts.authenticate(s, "stina", "wrong password") is None
        assert accounts.authenticate(s, "nobody", PASSWORD) is None
        assert s.scalar(select(m.AppUser.last_login_at)) is not None
    with store.session() as s:
        accounts.disable_user(s, "stina")
    with store.session() as s:
        assert accounts.authenticate(s, "stina", PASSWORD) is None
        actions = s.scalars(select(m.AuditEvent.action).order_by(m.AuditEvent.id)).all()
    assert actions == ["user.create", "user.disable"]


@pytest.mark.parametrize("name,password,role,message", [
    ("a", PASSWORD, "boss", "unknown role"),
    ("a", "short", "viewer", "at least 12"),
    ("", PASSWORD, "viewer", "1 to 100"),
])
def test_user_refusals(store, name, password, role, message):
    with store.session() as s, pytest.raises(AccountError, match=message):
        accounts.create_user(s, name, password, role)


def test_duplicate_user(store):
    with store.session() as s:
        accounts.create_user(s, "a", PASSWORD, "viewer")
    with store.session() as s, pytest.raises(AccountError, match="already exists"):
        accounts.create_user(s, "a", PASSWORD, "viewer")


def test_scope_words():
    assert parse_scopes("all") == accounts.ALL_SCOPES
    sc = parse_scopes("lookup:hetu, lookup:phone,attrs:identity,hetu,persist:library")
    assert sc.identifier_types == {"hetu", "phone"} and sc.attribute_groups == {"identity"}
    assert sc.hetu and not sc.resolve and sc.persist_source == "library"
    assert sc.may_lookup("hetu") and not sc.may_lookup("email")
    assert parse_scopes("lookup:*,attrs:*").identifier_types is None
    assert Scopes.from_json(sc.to_json()) == sc
    for bad in ("", "lookup:shoe", "attrs:finance", "admin"):
        with pytest.raises(AccountError):
            parse_scopes(bad)


def test_scopes_from_json_fail_closed():
    sc = Scopes.from_json({"identifier_types": "everything", "attribute_groups": ["identity", "secret"],
                           "hetu": "yes"})
    assert sc.identifier_types == frozenset() and sc.attribute_groups == {"identity"} and sc.hetu is False
    assert Scopes.from_json(None) == Scopes()


def test_client_keys_are_hashed(store):
    with store.session() as s:
        key = accounts.create_client(s, "library", parse_scopes("lookup:library_card"))
    assert key.startswith("mdmk_") and len(key) > 40
    with store.session() as s:
        row = s.scalars(select(m.ApiClient)).one()
        assert row.key_hash == accounts.key_hash(key) and key not in (row.key_hash, row.key_prefix)
        assert key.startswith(row.key_prefix)
        assert accounts.authenticate_client(s, key).name == "library"
        assert accounts.authenticate_client(s, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        accounts.revoke_client(s, "library")
    with store.session() as s:
        assert accounts.authenticate_client(s, key) is None
        with pytest.raises(AccountError, match="no API client"):
            accounts.revoke_client(s, "nobody")


def test_cli_users_create_with_password_stdin(runner, store):
    res = runner.invoke(["users", "create", "stina", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")
    assert res.exit_code == 0, res.output
    assert PASSWORD not in res.output
    with store.session() as s:
        assert accounts.authenticate(s, "stina", PASSWORD).role == "admin"
    res = runner.invoke(["users", "create", "stina", "--role", "admin", "--password-stdin"], input=PASSWORD)
    assert res.exit_code == 2 and res.output.strip() == "Error: user 'stina' already exists"


def test_cli_users_create_prompts_twice(runner, store):
    res = runner.invoke(["users", "create", "vera", "--role", "viewer"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert res.exit_code == 0, res.output
    assert PASSWORD not in res.output  # hidden input
    assert res.output.count("Password") >= 1 and "Repeat" in res.output
    res = runner.invoke(["users", "disable", "vera"])
    assert res.exit_code == 0
    with store.session() as s:
        assert accounts.authenticate(s, "vera", PASSWORD) is None


def test_cli_clients_create_revoke(runner, store, client, world):
    res = runner.invoke(["clients", "create", "transit", "--scopes", "lookup:transit_card,attrs:identity"])
    assert res.exit_code == 0, res.output
    key = res.output.rstrip("\n").splitlines()[-1]
    assert key.startswith("mdmk_") and key.strip() == key and " " not in key
    assert res.output.count(key) == 1
    resp = client.post("/api/v1/lookup", json={"type": "transit_card", "value": "F123"}, headers=bearer(key))
    assert resp.status_code == 200 and resp.get_json()["results"][0]["id"] == "g-mother"
    assert client.post("/api/v1/lookup", json={"type": "hetu", "value": world.mother_hetu},
                       headers=bearer(key)).status_code == 403
    listed = runner.invoke(["clients", "list"])
    assert "transit\tactive\tlookup:transit_card,attrs:identity" in listed.output
    res = runner.invoke(["clients", "revoke", "transit"])
    assert res.exit_code == 0, res.output
    resp = client.post("/api/v1/lookup", json={"type": "transit_card", "value": "F123"}, headers=bearer(key))
    assert resp.status_code == 401


def test_cli_clients_all_and_errors(runner, store, client):
    res = runner.invoke(["clients", "create", "everything", "--scopes", "all", "--rate-limit", "100"])
    assert res.exit_code == 0
    key = res.output.splitlines()[-1]
    assert client.get("/api/v1/changes", headers=bearer(key)).status_code == 200
    res = runner.invoke(["clients", "create", "x", "--scopes", "lookup:shoe"])
    assert res.exit_code == 2 and res.output.startswith("Error: unknown scope 'lookup:shoe'")
    assert len(res.output.strip().splitlines()) == 1
    res = runner.invoke(["clients", "create", "y", "--scopes", "all", "--source", "nowhere"])
    assert res.exit_code == 2 and "no source system named 'nowhere'" in res.output
