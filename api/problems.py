"""Errors as RFC 9457 problem details (application/problem+json), messages in Russian."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from application.service import Unauthenticated
from domain.errors import Conflict, DomainError, Forbidden, NotFound, RuleViolation

PROBLEM = "application/problem+json"
TYPE_BASE = "https://ejournal.invalid/problems/"

STATUS = [(NotFound, 404), (Forbidden, 403), (Conflict, 409), (RuleViolation, 422)]

FIELD_MESSAGES = {
    "missing": "обязательное поле",
    "uuid_parsing": "ожидается идентификатор (UUID)",
    "uuid_type": "ожидается идентификатор (UUID)",
    "date_from_datetime_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "date_parsing": "ожидается дата ГГГГ-ММ-ДД",
    "date_type": "ожидается дата ГГГГ-ММ-ДД",
    "int_parsing": "ожидается целое число",
    "int_type": "ожидается целое число",
    "string_type": "ожидается строка",
    "enum": "недопустимое значение",
    "literal_error": "недопустимое значение",
    "greater_than_equal": "значение слишком мало",
    "less_than_equal": "значение слишком велико",
    "string_too_short": "строка слишком короткая",
    "string_too_long": "строка слишком длинная",
    "too_long": "слишком много элементов",
    "extra_forbidden": "лишнее поле",
    "json_invalid": "некорректный JSON",
    "model_attributes_type": "ожидается объект",
    "list_type": "ожидается список",
    "bool_parsing": "ожидается true или false",
}


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + code, "title": title, "status": status, "detail": detail,
            "code": code, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def status_of(error: DomainError) -> int:
    for cls, status in STATUS:
        if isinstance(error, cls):
            return status
    return 422


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, error: DomainError) -> JSONResponse:
        context = {k: v for k, v in error.context.items() if isinstance(v, str | int)}
        return problem(status_of(error), error.code, error.title, error.message, **context)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, __: Unauthenticated) -> JSONResponse:
        return problem(401, "unauthenticated", "Требуется вход",
                       "Нужен действующий токен доступа (заголовок Authorization: Bearer …).")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body"),
             "message": FIELD_MESSAGES.get(e["type"], "недопустимое значение"),
             "type": e["type"]}
            for e in error.errors()
        ]
        fields = ", ".join(e["field"] or "тело запроса" for e in errors)
        return problem(422, "invalid_request", "Неверные данные запроса",
                       f"Проверьте поля: {fields}.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        titles = {404: ("not_found", "Не найдено", "Такого адреса нет."),
                  405: ("method_not_allowed", "Метод не поддерживается",
                        "Этот метод не поддерживается для адреса.")}
        code, title, detail = titles.get(
            error.status_code, ("http_error", "Ошибка запроса", str(error.detail)))
        return problem(error.status_code, code, title, detail)
