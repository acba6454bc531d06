from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from application.config import Settings
from application.service import Ejournal
from tests.conftest import Clock, School, build_school

ROLES = ["director", "deputy", "admin", "teacher", "other_teacher", "curator", "guardian",
         "student", "auditor"]


@dataclass
class Api:
    client: TestClient
    ejournal: Ejournal
    school: School
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {} if role is None else {"Authorization": f"Bearer {self.tokens[role]}"}

    def call(self, method: str, path: str, role: str | None, body: object = None):  # type: ignore[no-untyped-def]
        return self.client.request(method, "/api/v1" + path, headers=self.headers(role),
                                   json=body)


def make_api(ejournal: Ejournal) -> Api:
    school = build_school(ejournal)
    api = Api(TestClient(create_app(ejournal)), ejournal, school)
    for role in ROLES:
        actor = getattr(school, role)
        api.tokens[role] = ejournal.issue_token(school.slug, actor.person_id, actor.kind)
    return api


@pytest.fixture
def api(ejournal: Ejournal) -> Api:
    return make_api(ejournal)


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory: pytest.TempPathFactory, key_dir: Path) -> Iterator[Api]:
    """One school on SQLite for the endpoint × role matrix (each call uses fresh inputs)."""
    directory = tmp_path_factory.mktemp("api")
    ejournal = Ejournal(Settings(database_url=f"sqlite:///{directory / 'e.sqlite3'}",
                                 key_dir=key_dir), Clock())
    yield make_api(ejournal)
    ejournal.close()
