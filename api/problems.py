"""Errors as RFC 9457 problem details (application/problem+json), messages in Russian."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.integrity import IntegrityAlarm
from application.service import Unauthenticated
from application.signing import SigningKeyUnavailable
from domain.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation

PROBLEM = "application/problem+json"
TYPE_BASE = "https://ejournal.invalid/problems/"
# The members every problem has (RFC 9457 and ours); extension members never replace them.
MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code"})

# 423: the journal cannot be written until an operator acts (ADR 0016).
STATUS = [(NotFound, 404), (Forbidden, 403), (Conflict, 409), (RuleViolation, 422),
          (SigningKeyUnavailable, 423)]

# What is wrong, per pydantic error type; {…} is filled from the error's context.
FIELD_MESSAGES = {
    "missing": "обязательное поле",
    "uuid_parsing": "ожидается идентификатор (UUID)",
    "uuid_type": "ожидается идентификатор (UUID)",
    "uuid_version": "ожидается идентификатор (UUID)",
    "date_from_datetime_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "date_from_datetime_inexact": "ожидается дата ГГГГ-ММ-ДД",
    "date_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "date_type": "ожидается дата ГГГГ-ММ-ДД",
    "int_parsing": "ожидается целое число",
    "int_type": "ожидается целое число",
    "int_from_float": "ожидается целое число",
    "int_parsing_size": "слишком большое число",
    "string_type": "ожидается строка",
    "string_unicode": "ожидается строка в UTF-8",
    "enum": "допустимые значения: {expected}",
    "literal_error": "допустимые значения: {expected}",
    "greater_than_equal": "не меньше {ge}",
    "greater_than": "больше {gt}",
    "less_than_equal": "не больше {le}",
    "less_than": "меньше {lt}",
    "string_too_short": "не короче {min_length} симв.",
    "string_too_long": "не длиннее {max_length} симв.",
    "too_short": "не меньше {min_length} элем.",
    "too_long": "не больше {max_length} элем.",
    "extra_forbidden": "лишнее поле",
    "json_invalid": "некорректный JSON",
    "model_attributes_type": "ожидается объект",
    "model_type": "ожидается объект",
    "dict_type": "ожидается объект",
    "list_type": "ожидается список",
    "bool_parsing": "ожидается true или false",
    "bool_type": "ожидается true или false",
}
# Error types raised by our own validators (api/schemas.py): their message is Russian.
OWN_MESSAGES = frozenset({"forbidden_character", "date_out_of_range"})
LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})
SHOWN_ERRORS = 5  # in `detail`; `errors` lists them all


def problem(status_code: int, code: str, title: str, detail: str, /,
            **extensions: Any) -> JSONResponse:
    """A problem response. The first four are positional-only, so no extension member can
    collide with them as an argument; an extension named like a member (`status`,
    `type`…) is dropped rather than allowed to replace it."""
    body: dict[str, Any] = {"type": TYPE_BASE + code, "title": title, "status": status_code,
                            "detail": detail, "code": code}
    body.update((k, v) for k, v in extensions.items() if k not in MEMBERS)
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    return JSONResponse(body, status_code=status_code, media_type=PROBLEM, headers=headers)


class FieldProblem(BaseModel):
    field: str = Field(description="поле (marks.0.value); пусто — тело запроса целиком")
    message: str = Field(description="что не так, по-русски")
    type: str = Field(description="вид ошибки (pydantic)")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details. A domain error adds its context (field, ids) as extension
    members; invalid input (422) lists every field in `errors`."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str = Field(description="по-русски, для человека")
    code: str = Field(description="стабильный машинный код")
    errors: list[FieldProblem] | None = None


# What every operation may answer besides its success (OpenAPI), as problem+json.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description,
             "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}}
    for status, description in {
        400: "Тело запроса не разобрать: не JSON, не UTF-8, слишком глубокая вложенность "
             "(malformed_body)",
        401: "Нет действующего токена (unauthenticated)",
        403: "Недостаточно прав",
        404: "Не найдено",
        409: "Конфликт изменений: запись изменили или она уже есть",
        413: "Тело запроса больше допустимого (body_too_large)",
        422: "Неверные данные или нарушено правило ведения журнала",
        423: "Хранимая история организации не прошла проверку целостности: обслуживание "
             "приостановлено до проверки (integrity_alarm)",
    }.items()
}


def field_name(loc: tuple[int | str, ...]) -> str:
    parts = loc[1:] if loc and loc[0] in LOCATIONS else loc
    return ".".join(str(p) for p in parts)


def field_message(error: dict[str, Any]) -> str:
    if error["type"] in OWN_MESSAGES:
        return str(error["msg"])
    template = FIELD_MESSAGES.get(error["type"], "недопустимое значение")
    try:
        message = template.format_map(error.get("ctx") or {})
    except (KeyError, IndexError, ValueError):
        return "недопустимое значение"
    return message.replace("' or '", "', '")  # pydantic's list of expected values


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 422


def integrity_alarm(alarm: IntegrityAlarm) -> JSONResponse:
    """423: the institution's stored history does not verify (ADR 0009); nothing of it is
    served until an operator has checked it. The detail names no stored value."""
    return problem(423, "integrity_alarm", "Проверка целостности не пройдена",
                   "Хранимая история организации не прошла проверку целостности; работа с "
                   "журналом приостановлена до проверки администратором "
                   "(ejournal ledger verify).", position=alarm.failure.position)


def install(app: FastAPI) -> None:
    @app.exception_handler(IntegrityAlarm)
    async def alarm(_: Request, error: IntegrityAlarm) -> JSONResponse:
        return integrity_alarm(error)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        context = {k: v for k, v in error.context.items() if isinstance(v, str | int)}
        return problem(status_of(error), error.code, error.title, error.message, **context)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, __: Unauthenticated) -> JSONResponse:
        return not_authenticated()

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        found = error.errors()
        bad_json = next((e for e in found if e["type"] == "json_invalid"), None)
        if bad_json is not None:
            position = bad_json["loc"][-1] if bad_json["loc"] else None
            where = f" (позиция {position})" if isinstance(position, int) else ""
            return malformed(f"Тело запроса — некорректный JSON{where}.")
        errors = [{"field": field_name(tuple(e["loc"])), "message": field_message(e),
                   "type": e["type"]} for e in found]
        listed = "; ".join(f"{e['field'] or 'тело запроса'}: {e['message']}"
                           for e in errors[:SHOWN_ERRORS])
        more = len(errors) - SHOWN_ERRORS
        if more > 0:
            listed += f"; и ещё {more}"
        return problem(422, "invalid_request", "Неверные данные запроса",
                       f"Проверьте поля: {listed}.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400:
            # FastAPI could not parse the body; the cause says why.
            cause = error.__cause__
            if isinstance(cause, UnicodeDecodeError):
                return malformed("Тело запроса не в кодировке UTF-8.")
            if isinstance(cause, RecursionError):
                return malformed("Слишком глубокая вложенность JSON в теле запроса.")
            return malformed("Тело запроса не удалось разобрать как JSON.")
        titles = {404: ("not_found", "Не найдено", "Такого адреса нет."),
                  405: ("method_not_allowed", "Метод не поддерживается",
                        "Этот метод не поддерживается для адреса."),
                  413: ("body_too_large", "Слишком большой запрос", str(error.detail))}
        code, title, detail = titles.get(
            error.status_code, ("http_error", "Ошибка запроса", str(error.detail)))
        response = problem(error.status_code, code, title, detail)
        if error.status_code == 413:
            response.headers["Connection"] = "close"  # the rest of the body stays unread
        return response

    install_openapi(app)


def not_authenticated() -> JSONResponse:
    return problem(401, "unauthenticated", "Требуется вход",
                   "Нужен действующий токен доступа (заголовок Authorization: Bearer …).")


def read_only() -> JSONResponse:
    """A write to a deployment without signing keys (an opened archive, ADR 0014): the
    same problem as the command's own refusal (ReadOnlyJournal)."""
    return problem(403, "read_only", "Журнал только для чтения",
                   "Журнал открыт только для чтения (архив): запись в него невозможна.")


def too_large(limit: int) -> JSONResponse:
    return problem(413, "body_too_large", "Слишком большой запрос",
                   f"Тело запроса больше {limit} байт.")


def malformed(detail: str) -> JSONResponse:
    return problem(400, "malformed_body", "Тело запроса не разобрать", detail)


def install_openapi(app: FastAPI) -> None:
    """Adds ProblemDetails (and what it refers to) to the document's components: the
    responses in RESPONSES refer to it by name."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            schema = ProblemDetails.model_json_schema(
                ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["ProblemDetails"] = schema
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
