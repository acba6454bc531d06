"""The read-model tables and how each domain event changes them — pure: an event in,
row changes out (ADR 0010). The application layer applies the changes in SQL, in one
transaction with the projection's tracking position, so each event counts exactly once.

Every change is idempotent on its own (an upsert by primary key, an update or delete by
key), so an event delivered twice changes nothing either. Values are plain: UUIDs and
dates as ISO text (they sort as they should), flags as 0/1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# table → (columns in order, primary key columns)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rm_institution": (("id", "name", "timezone"), ("id",)),
    "rm_periods": (("year_id", "number", "kind", "title", "starts", "ends"),
                   ("year_id", "number")),
    "rm_years": (("year_id", "title", "starts", "ends"), ("year_id",)),
    "rm_disciplines": (("discipline_id", "name", "kind", "planned_hours"), ("discipline_id",)),
    "rm_groups": (("group_id", "year_id", "name", "curator_id"), ("group_id",)),
    "rm_staff": (("staff_id", "full_name", "roles"), ("staff_id",)),
    "rm_students": (("student_id", "full_name", "birth_date", "status", "group_id"),
                    ("student_id",)),
    "rm_roster": (("group_id", "student_id", "starts", "ends", "order_number", "order_date"),
                  ("group_id", "student_id", "starts")),
    "rm_moves": (("student_id", "version", "kind", "order_number", "order_date", "effective",
                  "group_id"), ("student_id", "version")),
    "rm_lessons": (("lesson_id", "assignment_id", "group_id", "subgroup_id", "discipline_id",
                    "teacher_id", "day", "number", "period_number", "topic", "homework",
                    "work_kind", "substitute", "late", "entered_on"), ("lesson_id",)),
    "rm_marks": (("mark_id", "lesson_id", "student_id", "value", "cancelled", "late",
                  "entered_on"), ("mark_id",)),
    "rm_attendance": (("lesson_id", "student_id", "status", "minutes", "reason", "document"),
                      ("lesson_id", "student_id")),
    "rm_sheets": (("sheet_id", "group_id", "discipline_id", "period_key"), ("sheet_id",)),
    "rm_period_marks": (("sheet_id", "student_id", "value", "suggested", "late"),
                        ("sheet_id", "student_id")),
    # Issue 9, section 3: what the control reports, the forecast and the snapshot need.
    "rm_policy": (("id", "weights", "rounding", "rates"), ("id",)),  # JSON texts
    # Closed periods: group_id "" for the whole institution (a key cannot be NULL).
    "rm_closures": (("year_id", "period_number", "group_id", "closed", "order_number",
                     "reason", "changed_on"), ("year_id", "period_number", "group_id")),
    "rm_assignments": (("assignment_id", "teacher_id", "group_id", "subgroup_id",
                        "discipline_id", "starts", "ends"), ("assignment_id",)),
    "rm_subgroup_members": (("subgroup_id", "student_id", "starts", "group_id", "ends"),
                            ("subgroup_id", "student_id", "starts")),
    "rm_corrections": (("application_id", "app_number", "dated", "author_id", "target",
                        "record_id", "student_id", "status", "filed_on", "decided_on"),
                       ("application_id",)),
    # Who wrote to the journal on which day, in which capacity (reads are not events).
    "rm_activity": (("person_id", "day", "capacity"), ("person_id", "day", "capacity")),
}
INDEXES: dict[str, tuple[str, ...]] = {
    "rm_lessons": ("group_id", "day"),
    "rm_marks": ("lesson_id",),
    "rm_attendance": ("student_id",),
    "rm_roster": ("student_id",),
    "rm_activity": ("day",),
}


@dataclass(frozen=True)
class Upsert:
    table: str
    row: dict[str, Any]


@dataclass(frozen=True)
class Update:
    table: str
    key: dict[str, Any]
    values: dict[str, Any]
    where_null: str | None = None  # also require this column to be NULL


@dataclass(frozen=True)
class Delete:
    table: str
    key: dict[str, Any]


Change = Upsert | Update | Delete


def text(value: Any) -> str | None:
    return None if value is None else str(value)


def day(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def changes_for(event: Any) -> list[Change]:
    """The read-model changes one domain event makes (none for events no read model
    needs)."""
    handler = _HANDLERS.get(type(event).__qualname__)
    changes = handler(event) if handler else []
    act = getattr(event, "act", None)
    if act is not None and getattr(act, "actor_id", None) is not None:
        capacity = getattr(act.capacity, "value", act.capacity)
        changes.append(Upsert("rm_activity", {"person_id": text(act.actor_id),
                                               "day": day(act.local_date),
                                               "capacity": text(capacity)}))
    return changes


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _institution_registered(e: Any) -> list[Change]:
    return [Upsert("rm_institution", {"id": 1, "name": e.name, "timezone": e.timezone})]


def _year_opened(e: Any) -> list[Change]:
    year = text(e.year_id)
    return [Upsert("rm_years", {"year_id": year, "title": e.title, "starts": day(e.starts),
                                "ends": day(e.ends)}),
            *[Upsert("rm_periods", {"year_id": year, "number": int(p["number"]),
                                    "kind": text(p["kind"]), "title": p["title"],
                                    "starts": day(p["starts"]), "ends": day(p["ends"])})
              for p in e.periods]]


def _discipline_added(e: Any) -> list[Change]:
    return [Upsert("rm_disciplines", {"discipline_id": text(e.discipline_id), "name": e.name,
                                      "kind": e.kind, "planned_hours": e.planned_hours})]


def _group_formed(e: Any) -> list[Change]:
    return [Upsert("rm_groups", {"group_id": text(e.originator_id), "year_id": text(e.year_id),
                                 "name": e.name, "curator_id": text(e.curator_id)})]


def _curator_assigned(e: Any) -> list[Change]:
    return [Update("rm_groups", {"group_id": text(e.originator_id)},
                   {"curator_id": text(e.curator_id)})]


def _student_admitted_to_group(e: Any) -> list[Change]:
    return [Upsert("rm_roster", {"group_id": text(e.originator_id),
                                 "student_id": text(e.student_id),
                                 "starts": day(e.effective), "ends": None,
                                 "order_number": e.order.number,
                                 "order_date": day(e.order.date)})]


def _student_released(e: Any) -> list[Change]:
    return [Update("rm_roster", {"group_id": text(e.originator_id),
                                 "student_id": text(e.student_id)},
                   {"ends": day(e.effective)}, where_null="ends")]


def _staff_hired(e: Any) -> list[Change]:
    return [Upsert("rm_staff", {"staff_id": text(e.originator_id), "full_name": e.full_name,
                                "roles": ",".join(sorted(e.roles))})]


def _student_admitted(e: Any) -> list[Change]:
    return [Upsert("rm_students", {"student_id": text(e.originator_id),
                                   "full_name": e.full_name, "birth_date": day(e.birth_date),
                                   "status": "admitted", "group_id": None})]


STATUS_AFTER = {"enrolment": "enrolled", "transfer": "enrolled", "return_from_leave": "enrolled",
                "academic_leave": "on_leave", "expulsion": "expelled",
                "graduation": "graduated"}


def _student_moved(e: Any) -> list[Change]:
    student = text(e.originator_id)
    return [Upsert("rm_moves", {"student_id": student, "version": e.originator_version,
                                "kind": e.kind, "order_number": e.order.number,
                                "order_date": day(e.order.date), "effective": day(e.effective),
                                "group_id": text(e.group_id)}),
            Update("rm_students", {"student_id": student},
                   {"status": STATUS_AFTER.get(e.kind, e.kind), "group_id": text(e.group_id)})]


def _lesson_conducted(e: Any) -> list[Change]:
    return [Upsert("rm_lessons", {
        "lesson_id": text(e.originator_id), "assignment_id": text(e.assignment_id),
        "group_id": text(e.group_id), "subgroup_id": text(e.subgroup_id),
        "discipline_id": text(e.discipline_id), "teacher_id": text(e.teacher_id),
        "day": day(e.day), "number": e.number, "period_number": e.period_number,
        "topic": e.topic, "homework": e.homework, "work_kind": e.work_kind,
        "substitute": int(bool(e.substitute)), "late": int(bool(getattr(e, "late", False))),
        "entered_on": day(e.act.local_date)})]


def _lesson_details(e: Any) -> list[Change]:
    return [Update("rm_lessons", {"lesson_id": text(e.originator_id)},
                   {"topic": e.topic, "homework": e.homework, "work_kind": e.work_kind})]


def _mark_recorded(e: Any) -> list[Change]:
    return [Upsert("rm_marks", {"mark_id": text(e.mark_id), "lesson_id": text(e.originator_id),
                                "student_id": text(e.student_id), "value": e.value,
                                "cancelled": 0, "late": int(bool(getattr(e, "late", False))),
                                "entered_on": day(e.act.local_date)})]


def _mark_changed(e: Any) -> list[Change]:
    return [Update("rm_marks", {"mark_id": text(e.mark_id)}, {"value": e.value})]


def _mark_cancelled(e: Any) -> list[Change]:
    return [Update("rm_marks", {"mark_id": text(e.mark_id)}, {"cancelled": 1})]


def _attendance(e: Any) -> list[Change]:
    key = {"lesson_id": text(e.originator_id), "student_id": text(e.student_id)}
    if e.status == "present":
        return [Delete("rm_attendance", key)]
    return [Upsert("rm_attendance", {**key, "status": e.status, "minutes": e.minutes,
                                     "reason": None, "document": None})]


def _absence_reason(e: Any) -> list[Change]:
    return [Update("rm_attendance", {"lesson_id": text(e.originator_id),
                                     "student_id": text(e.student_id)},
                   {"reason": e.kind, "document": e.document})]


def _sheet_opened(e: Any) -> list[Change]:
    return [Upsert("rm_sheets", {"sheet_id": text(e.originator_id),
                                 "group_id": text(e.group_id),
                                 "discipline_id": text(e.discipline_id), "period_key": e.key})]


def _period_mark_set(e: Any) -> list[Change]:
    return [Upsert("rm_period_marks", {"sheet_id": text(e.originator_id),
                                       "student_id": text(e.student_id), "value": e.value,
                                       "suggested": e.suggested,
                                       "late": int(bool(getattr(e, "late", False)))})]


def _period_mark_changed(e: Any) -> list[Change]:
    return [Update("rm_period_marks", {"sheet_id": text(e.originator_id),
                                       "student_id": text(e.student_id)}, {"value": e.value})]


def _policy_adopted(e: Any) -> list[Change]:
    from domain.policy import DEFAULT_RATES

    return [Upsert("rm_policy", {"id": 1, "weights": _json(e.weights),
                                 "rounding": text(getattr(e.rounding, "value", e.rounding)),
                                 "rates": _json(getattr(e, "rates", None) or DEFAULT_RATES)})]


def _assignment_made(e: Any) -> list[Change]:
    return [Upsert("rm_assignments", {
        "assignment_id": text(e.originator_id), "teacher_id": text(e.teacher_id),
        "group_id": text(e.group_id), "subgroup_id": text(e.subgroup_id),
        "discipline_id": text(e.discipline_id), "starts": day(e.starts), "ends": None})]


def _assignment_ended(e: Any) -> list[Change]:
    return [Update("rm_assignments", {"assignment_id": text(e.originator_id)},
                   {"ends": day(e.effective)})]


def _placed_in_subgroup(e: Any) -> list[Change]:
    return [Upsert("rm_subgroup_members", {
        "subgroup_id": text(e.subgroup_id), "student_id": text(e.student_id),
        "starts": day(e.effective), "group_id": text(e.originator_id), "ends": None})]


def _removed_from_subgroup(e: Any) -> list[Change]:
    return [Update("rm_subgroup_members", {"subgroup_id": text(e.subgroup_id),
                                           "student_id": text(e.student_id)},
                   {"ends": day(e.effective)}, where_null="ends")]


def _correction_filed(e: Any) -> list[Change]:
    return [Upsert("rm_corrections", {
        "application_id": text(e.originator_id), "app_number": e.number, "dated": day(e.dated),
        "author_id": text(e.author_id), "target": text(getattr(e.target, "value", e.target)),
        "record_id": text(e.record_id), "student_id": text(e.student_id),
        "status": "filed", "filed_on": day(e.act.local_date), "decided_on": None})]


def _correction_decided(e: Any) -> list[Change]:
    return [Update("rm_corrections", {"application_id": text(e.originator_id)},
                   {"status": "approved" if e.approved else "rejected",
                    "decided_on": day(e.act.local_date)})]


def _correction_withdrawn(e: Any) -> list[Change]:
    return [Update("rm_corrections", {"application_id": text(e.originator_id)},
                   {"status": "withdrawn", "decided_on": day(e.act.local_date)})]


def _period_closed(e: Any) -> list[Change]:
    order = getattr(e, "order", None)
    return [Upsert("rm_closures", {
        "year_id": text(e.year_id), "period_number": e.period_number,
        "group_id": text(e.group_id) or "", "closed": 1,
        "order_number": order.number if order else None,
        "reason": getattr(e, "reason", None), "changed_on": day(e.act.local_date)})]


def _period_reopened(e: Any) -> list[Change]:
    return [Upsert("rm_closures", {
        "year_id": text(e.year_id), "period_number": e.period_number,
        "group_id": text(e.group_id) or "", "closed": 0, "order_number": e.order.number,
        "reason": e.reason, "changed_on": day(e.act.local_date)})]


_HANDLERS = {
    "JournalPolicy.PeriodClosed": _period_closed,
    "JournalPolicy.PeriodReopened": _period_reopened,
    "Institution.Registered": _institution_registered,
    "Institution.AcademicYearOpened": _year_opened,
    "Institution.DisciplineAdded": _discipline_added,
    "Group.Formed": _group_formed,
    "Group.CuratorAssigned": _curator_assigned,
    "Group.StudentAdmitted": _student_admitted_to_group,
    "Group.StudentReleased": _student_released,
    "StaffMember.Hired": _staff_hired,
    "Student.Admitted": _student_admitted,
    "Student.Moved": _student_moved,
    "Lesson.Conducted": _lesson_conducted,
    "Lesson.DetailsChanged": _lesson_details,
    "Lesson.MarkRecorded": _mark_recorded,
    "Lesson.MarkChanged": _mark_changed,
    "Lesson.MarkCancelled": _mark_cancelled,
    "Lesson.AttendanceRecorded": _attendance,
    "Lesson.AbsenceReasonSet": _absence_reason,
    "PeriodMarkSheet.Opened": _sheet_opened,
    "PeriodMarkSheet.PeriodMarkSet": _period_mark_set,
    "PeriodMarkSheet.PeriodMarkChanged": _period_mark_changed,
    "JournalPolicy.Adopted": _policy_adopted,
    "TeachingAssignment.Made": _assignment_made,
    "TeachingAssignment.Ended": _assignment_ended,
    "Group.PlacedInSubgroup": _placed_in_subgroup,
    "Group.RemovedFromSubgroup": _removed_from_subgroup,
    "CorrectionApplication.Filed": _correction_filed,
    "CorrectionApplication.Decided": _correction_decided,
    "CorrectionApplication.Withdrawn": _correction_withdrawn,
}
