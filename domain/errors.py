"""Domain errors. Each carries a stable machine code and a Russian message.

The API maps the family of an error to an HTTP status: `RuleViolation` → 422,
`NotFound` → 404, `Conflict` → 409, `Forbidden` → 403.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"
    title = "Ошибка журнала"

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class RuleViolation(DomainError):
    code = "rule_violation"
    title = "Нарушено правило ведения журнала"


class NotFound(DomainError):
    code = "not_found"
    title = "Не найдено"


class Conflict(DomainError):
    code = "conflict"
    title = "Конфликт изменений"


class Forbidden(DomainError):
    code = "forbidden"
    title = "Недостаточно прав"


# Rule violations (422): each a stable code the API and clients can rely on.
class InvalidValue(RuleViolation):
    code = "invalid_value"


class StudentNotInGroup(RuleViolation):
    code = "student_not_in_group"


class DateOutsideYear(RuleViolation):
    code = "date_outside_academic_year"


class StudentStatusRule(RuleViolation):
    code = "student_status_rule"


class OrderRequired(RuleViolation):
    code = "order_required"


class MarkCancelled(RuleViolation):
    code = "mark_cancelled"


class NoAbsence(RuleViolation):
    code = "no_absence"


class DuplicateEntry(Conflict):
    code = "duplicate"


class StaleVersion(Conflict):
    code = "concurrent_edit"
