"""The operator's `orgs` and `keys` commands on SQLite and PostgreSQL: the secret is printed once, stored hashed,
and rotation or revocation refuses the old key."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from api.b2b.service import b2b_service_for
from api.db.migrate import upgrade
from api.db.models import ApiKey, User
from api.db.session import session_factory, transaction
from api.errors import Unauthorized
from museed.settings import get_settings
from orchestration.keys import keys_app, orgs_app


@pytest.fixture
def migrated(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    upgrade(db_url)
    monkeypatch.setenv("MUSEED_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield db_url
    get_settings.cache_clear()


def _key(output: str) -> str:
    found = re.findall(r"^msk_[0-9a-f]{8}_\S+$", output, flags=re.M)
    assert len(found) == 1, output
    return found[0]


def test_orgs_and_keys_commands(migrated: str) -> None:
    runner = CliRunner()
    org = f"acme-{uuid.uuid4().hex[:6]}"
    assert runner.invoke(orgs_app, ["create", org]).exit_code == 0
    assert runner.invoke(orgs_app, ["create", org]).exit_code == 1  # unique names
    with transaction(session_factory(migrated)) as s:
        s.add(User(email=f"{org}@example.org", password_hash="x", display_name="ops"))
    added = runner.invoke(orgs_app, ["add-member", org, f"{org}@example.org", "--role", "admin"])
    assert added.exit_code == 0, added.output

    created = runner.invoke(keys_app, ["create", org, "--plan", "pro", "--scope", "recommend", "--scope", "trends"])
    assert created.exit_code == 0, created.output
    key = _key(created.output)
    prefix = key[:12]
    listed = runner.invoke(keys_app, ["list", org])
    assert prefix in listed.output and key not in listed.output and "active" in listed.output
    with transaction(session_factory(migrated)) as s:
        row = s.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one()
        assert row.secret_hash == hashlib.sha256(key.encode()).hexdigest() and row.scopes == ["recommend", "trends"]
        assert b2b_service_for(s).authenticate(key).id == row.id

    rotated = runner.invoke(keys_app, ["rotate", prefix])
    assert rotated.exit_code == 0, rotated.output
    new = _key(rotated.output)
    revoked = runner.invoke(keys_app, ["revoke", new[:12]])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    with transaction(session_factory(migrated)) as s:
        for dead in (key, new):
            with pytest.raises(Unauthorized):
                b2b_service_for(s).authenticate(dead)
    assert runner.invoke(keys_app, ["create", org, "--plan", "gold"]).exit_code == 1
    assert runner.invoke(keys_app, ["revoke", "msk_00000000"]).exit_code == 1
