"""A mark's full history: every value it had, who set it, when, on what basis."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from domain.lessons import Lesson
from projections.models import HistoryEntry, MarkHistory

ACTIONS = {"MarkRecorded": "recorded", "MarkChanged": "changed", "MarkCancelled": "cancelled",
           "Filed": "application_filed", "Decided": "application_decided",
           "Withdrawn": "application_withdrawn"}
APPLICATION_EVENTS = {"Filed", "Decided", "Withdrawn"}


def mark_history(lesson: Lesson, mark_id: UUID, events: list[Any],
                 names: dict[UUID, str]) -> MarkHistory:
    mark = lesson.mark(mark_id)
    entries = []
    for e in events:
        name = type(e).__name__
        action = ACTIONS.get(name)
        if action is None or (name not in APPLICATION_EVENTS and e.mark_id != mark_id):
            continue
        basis = getattr(e, "basis", None)
        value = getattr(e, "value", None)
        if name == "Filed":
            value = e.proposed_value
            basis = {"application_id": str(e.originator_id), "application_number": e.number,
                     "reason": e.reason, "document": e.document}
        elif name == "Decided":
            action = "application_approved" if e.approved else "application_rejected"
            basis = {"application_id": str(e.originator_id), "resolution": e.resolution}
        elif name == "Withdrawn":
            basis = {"application_id": str(e.originator_id)}
        entries.append(HistoryEntry(
            action=action, value=value, actor_id=e.act.actor_id,
            actor_name=names.get(e.act.actor_id, "?"), capacity=e.act.capacity,
            at=e.timestamp, local_date=e.act.local_date,
            basis={k: str(v) for k, v in basis.items()} if basis else None,
            late=bool(getattr(e, "late", False)),
        ))
    return MarkHistory(mark_id=mark_id, lesson_id=lesson.id, student_id=mark.student_id,
                       current_value=mark.value.value, cancelled=mark.cancelled,
                       entries=entries)
