"""Settings from the environment (EJOURNAL_*), read when asked — never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EJOURNAL_")

    # What the service runs as: on PostgreSQL, a role that may only read and append.
    database_url: str = "sqlite:///var/ejournal.sqlite3"
    # The owner of the schemas, for `ejournal init`, `institutions add` and `demo`
    # (schema changes and grants); unset: the same as database_url.
    owner_database_url: str | None = None
    key_dir: Path = Path("var/keys")
    # The name of each institution's log in its checkpoints (ADR 0011): the origin is
    # `<prefix>/<slug>`, and the checkpoint key is named after it. A deployment sets its
    # own host here (EJOURNAL_LOG_ORIGIN_PREFIX); `--origin` overrides per command.
    log_origin_prefix: str = "ejournal.example"
    # A timestamp authority (RFC 3161, ADR 0013): unset, checkpoints get no token. Its
    # trusted roots (a PEM file) are what tokens are verified against; unset, a token is
    # still checked to answer its request (nonce, imprint) but not against a root.
    tsa_url: str | None = None
    tsa_roots: Path | None = None
    tsa_timeout: float = 10.0  # seconds, per request

    @property
    def owner_url(self) -> str:
        return self.owner_database_url or self.database_url

    def runtime_role(self) -> str | None:
        """The role named by database_url when it differs from the owner's (PostgreSQL);
        `ejournal init` creates it and grants it what it needs."""
        if not self.database_url.startswith(("postgresql://", "postgres://")):
            return None
        runtime = unquote(urlsplit(self.database_url).username or "")
        owner = unquote(urlsplit(self.owner_url).username or "")
        return runtime if runtime and runtime != owner else None


@lru_cache
def get_settings() -> Settings:
    return Settings()
