"""Settings: embedded defaults, environment overrides, refusal of placeholder secrets in production."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from museed.settings import Settings


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEED_DATA_DIR", "somewhere")
    s = Settings()
    assert s.sqlalchemy_url == "sqlite:///somewhere/museed.sqlite"
    assert s.milvus_target == "somewhere/museed.db" and s.milvus_is_lite
    assert s.redis_url is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEED_DATABASE_URL", "postgresql+psycopg2://u@db/museed")
    monkeypatch.setenv("MUSEED_MILVUS_URI", "http://milvus:19530")
    monkeypatch.setenv("MUSEED_REDIS_URL", "redis://redis:6379/0")
    s = Settings()
    assert s.sqlalchemy_url.startswith("postgresql")
    assert not s.milvus_is_lite
    assert s.redis_url == "redis://redis:6379/0"


def test_production_refuses_placeholder_and_short_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUSEED_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="MUSEED_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("MUSEED_SECRET_KEY", "short")
    with pytest.raises(ValidationError, match="32 characters"):
        Settings()
    monkeypatch.setenv("MUSEED_SECRET_KEY", "x" * 40)
    assert Settings().environment == "production"
