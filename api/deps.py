"""Dependencies shared by the routers: the deployment and the authenticated actor."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.limits import SESSION_KEY
from application.actors import Actor
from application.journal import Journal
from application.service import Ejournal, Unauthenticated

bearer = HTTPBearer(auto_error=False, description="Токен, выданный `ejournal users add`")


def get_ejournal(request: Request) -> Ejournal:
    return request.app.state.ejournal


def get_session(
    request: Request,
    ejournal: Annotated[Ejournal, Depends(get_ejournal)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> tuple[Actor, Journal]:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated
    # A request with a body was authenticated before its body was read (api/limits.py).
    known = request.scope.get("state", {}).get(SESSION_KEY)
    if known is not None and known[0] == credentials.credentials:
        session: tuple[Actor, Journal] = known[1]
    else:
        session = ejournal.authenticate(credentials.credentials)
    projections = getattr(request.app.state, "projections", None)
    if projections is not None:
        projections.ensure(session[1])  # keeps this institution's read models current
    return session


Session = Annotated[tuple[Actor, Journal], Depends(get_session)]
