"""Settings from the environment (EJOURNAL_*), read when asked — never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EJOURNAL_")

    database_url: str = "sqlite:///var/ejournal.sqlite3"
    key_dir: Path = Path("var/keys")


@lru_cache
def get_settings() -> Settings:
    return Settings()
