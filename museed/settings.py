"""One settings object for every MUSEED process (`MUSEED_*` environment variables or `.env`)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDER_SECRET = "change-me-local-only-placeholder-secret"
#: the environments that may sign tokens with the placeholder key: a developer's machine and the test suite
_PLACEHOLDER_ENVIRONMENTS = ("local", "test")


class Settings(BaseSettings):
    """Embedded defaults (SQLite + Milvus Lite files under `data/`), overridable to servers by environment."""

    model_config = SettingsConfigDict(env_prefix="MUSEED_", env_file=".env", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    data_dir: Path = Path("data")

    # metadata + social DB: SQLite file by default, PostgreSQL in production/tests
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/museed.sqlite"
    )
    # vector DB: a Milvus Lite file by default, or http://host:19530 for a Milvus server
    milvus_uri: str | None = Field(default=None, description="default <data_dir>/museed.db (Milvus Lite)")
    milvus_token: SecretStr | None = None
    milvus_alias: str = "tracks"
    # seconds per serving call to a Milvus server (pymilvus retries with backoff within it): a frozen or lost
    # server turns into a 503 within this, never a hang
    milvus_timeout_seconds: float = 0.8
    # PostgreSQL, per API request: the server cancels a statement (or a lock wait) past this many ms, and a
    # request waits at most db_pool_timeout_seconds for a pooled connection; both answer 503 + Retry-After
    db_statement_timeout_ms: int = 10_000
    db_pool_timeout_seconds: float = 2.0
    # library search answers kept per process (api/tracks/search_cache.py); 0 seconds keeps none
    search_cache_seconds: float = Field(default=60.0, ge=0)
    search_cache_entries: int = Field(default=4096, ge=0)
    # rate-limit store: in-process memory unless a Redis URL is given
    redis_url: str | None = None
    # namespace of every key MUSEED writes to Redis (B2B limits and quotas); tests use one per test
    redis_key_prefix: str = "museed"

    # encoder: "auto" = pretrained MuQ when reachable offline, else a small random MuQ (announced loudly)
    encoder: str = "auto"
    muq_hub_id: str = "OpenMuQ/MuQ-large-msd-iter"
    muq_local_dir: Path | None = None
    sample_rate: int = 24_000
    segment_seconds: float = 10.0
    segments_per_track: int = 3
    max_upload_bytes: int = 30 * 1024 * 1024
    # every other request body (JSON): a /v1 batch of 50 raw 1024-d vectors is ~1.2 MB
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_upload_seconds: float = 900.0  # longer uploads are refused (413)
    # decode+embed jobs running at once; more wait up to upload_wait_seconds, then get 503
    # load the encoder in the API process for uploads (off for processes that only serve library seeds)
    serve_uploads: bool = True
    upload_concurrency: int = 2
    upload_wait_seconds: float = 10.0
    # reference finder: a demo passage whose window cosine with a library recording reaches this is a near-copy
    # (discovery.why.NEAR_COPY_COSINE); an encoder whose unrelated windows score higher needs a higher one
    near_copy_cosine: float = Field(default=0.95, ge=0.0, le=1.0)
    # text search: a MuLan audio vector set of the library (`museed embed --encoder mulan`); its manifest names the
    # MuQ-MuLan whose text tower embeds the prompts. None: text search answers 501 text_search_unavailable
    text_search_vectors: Path | None = None

    # admission control per API process: requests served at once; the next wait this long for a slot, then 503
    max_in_flight: int = 32
    admission_wait_seconds: float = 1.0

    secret_key: SecretStr = SecretStr(_PLACEHOLDER_SECRET)
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    # failed-login throttle per (email, client address), in `limits` notation
    login_rate_limit: str = "5/minute"
    # sign-up attempts per client address (every attempt counts, a 409 for a taken email too), `limits` notation
    signup_rate_limit: str = "10/hour"
    # B2B trend reports list a label or seed track only when at least this many distinct listeners are behind it
    trend_min_listeners: int = Field(default=5, ge=1)
    log_json: bool = False
    # browsers may call the API from these other origins (exact "scheme://host[:port]"); none = same-origin only
    cors_allow_origins: list[str] = Field(default_factory=list)
    # Strict-Transport-Security max-age; set it only where MUSEED is reached over HTTPS alone (0 = not sent)
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    # Host headers served (exact names, "*.example.com", or "*": any); links in exports and audio_url use the Host
    allowed_hosts: list[str] = Field(default_factory=lambda: ["*"])

    @field_validator("cors_allow_origins")
    @classmethod
    def _explicit_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.fullmatch(r"https?://[^/\s*]+", origin):
                raise ValueError(f"CORS origins are exact scheme://host[:port] values, not {origin!r}")
        return origins

    @field_validator("allowed_hosts")
    @classmethod
    def _host_patterns(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if host != "*" and not re.fullmatch(r"(\*\.)?[^*:/\[\]\s]+|\[[0-9A-Fa-f:.]+\]", host):
                raise ValueError(f"allowed hosts are names, '*.example.com' or '*' (no scheme or port), not {host!r}")
        return hosts

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment in _PLACEHOLDER_ENVIRONMENTS:
            return self
        secret = self.secret_key.get_secret_value()
        if len(secret) < 32:
            raise ValueError("MUSEED_SECRET_KEY must be at least 32 characters (HS256 key length)")
        if secret == _PLACEHOLDER_SECRET:
            raise ValueError(
                f"MUSEED_SECRET_KEY must be set to a real secret when MUSEED_ENVIRONMENT={self.environment}"
            )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL in force (the SQLite file under `data_dir` unless overridden)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'museed.sqlite').as_posix()}"

    @property
    def milvus_target(self) -> str:
        """Milvus URI in force: a Lite file path or a server URL."""
        return self.milvus_uri or str(self.data_dir / "museed.db")

    @property
    def milvus_is_lite(self) -> bool:
        """True when the vector DB is an embedded Milvus Lite file."""
        return not self.milvus_target.startswith(("http://", "https://", "tcp://", "grpc://"))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call `get_settings.cache_clear()` after changing env)."""
    return Settings()
