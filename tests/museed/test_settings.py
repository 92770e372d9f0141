"""Settings: embedded defaults, environment overrides, refusal of placeholder secrets in production, and what the
deploy files set (the image refuses the placeholder key, no peer may forge the client address)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from museed.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _image_env() -> dict[str, str]:
    """The `ENV` lines of deploy/Dockerfile."""
    lines = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(None, 1)[1].split("=", 1) for line in lines if line.startswith("ENV "))


def _compose_api_env() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env: dict[str, str] = compose["services"]["api"]["environment"]
    return env


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


def test_only_local_and_test_accept_the_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    for environment in ("local", "test"):
        monkeypatch.setenv("MUSEED_ENVIRONMENT", environment)
        assert Settings().secret_key.get_secret_value() == "change-me-local-only-placeholder-secret"
    with pytest.raises(ValidationError, match="MUSEED_ENVIRONMENT=production"):
        Settings(environment="production")


def test_the_image_refuses_the_placeholder_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container started from deploy/Dockerfile without MUSEED_SECRET_KEY does not start: its environment is
    production unless told otherwise, whatever runs it (compose, `docker run`, Kubernetes)."""
    image = _image_env()
    assert image["MUSEED_ENVIRONMENT"] == "production"
    for name, value in image.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MUSEED_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="MUSEED_SECRET_KEY"):
        Settings()
    api = _compose_api_env()
    assert api["MUSEED_ENVIRONMENT"] == "production"
    assert api["MUSEED_SECRET_KEY"].startswith("${MUSEED_SECRET_KEY:?")  # compose refuses to start without it


def test_no_deploy_file_lets_any_peer_forge_the_client_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """The login and sign-up throttles key on the client address; uvicorn rewrites it from X-Forwarded-For only
    for peers in FORWARDED_ALLOW_IPS (the variable `museed serve` leaves to uvicorn). Port 8000 is published
    directly, so the default trusts loopback only, never "*"."""
    import uvicorn

    compose_value = _compose_api_env()["FORWARDED_ALLOW_IPS"]
    compose_default = re.fullmatch(r"\$\{FORWARDED_ALLOW_IPS:-(.+)\}", compose_value)
    assert compose_default is not None, compose_value
    for trusted in (compose_default.group(1), _image_env()["FORWARDED_ALLOW_IPS"]):
        assert set(trusted.split(",")) == {"127.0.0.1", "::1"}
        monkeypatch.setenv("FORWARDED_ALLOW_IPS", trusted)
        config = uvicorn.Config("api.app:create_app", factory=True)
        assert config.proxy_headers and config.forwarded_allow_ips == trusted  # uvicorn reads this variable


def test_allowed_hosts_are_names_or_patterns() -> None:
    assert Settings().allowed_hosts == ["*"]
    ok = ["museed.example", "*.museed.example", "10.0.0.7", "[::1]", "localhost"]
    assert Settings(allowed_hosts=ok).allowed_hosts == ok
    for bad in ("https://museed.example", "museed.example:8000", "museed.*", "*museed.example", "a b"):
        with pytest.raises(ValidationError, match="allowed hosts"):
            Settings(allowed_hosts=[bad])
