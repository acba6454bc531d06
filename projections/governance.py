"""Read models of governance: the policy, a period-mark sheet, correction applications."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from domain.corrections import CorrectionApplication
from domain.groups import Group
from domain.period_marks import DEBT, PeriodMarkSheet
from domain.policy import DEFAULT_RATES, PRESETS, JournalPolicy
from domain.values import MarkValue
from projections.models import (
    CorrectionView,
    PeriodMarkRow,
    PeriodSheetView,
    PolicyView,
    WindowView,
)


def policy_view(policy: JournalPolicy, adopted: bool) -> PolicyView:
    return PolicyView(
        adopted=adopted, preset=policy.preset,
        order={"number": policy.order.number, "date": policy.order.date.isoformat()}
        if policy.order else None,
        windows={k: WindowView(rule=w.rule.value, days=w.days, description=w.describe())
                 for k, w in policy.windows.items()},
        weights={k.value: v for k, v in policy.weights.items()},
        rounding=policy.rounding.value, marks_enabled=policy.marks_enabled,
        delegates=sorted(policy.delegates),
        closed=[{"year_id": str(y), "period_number": p, "group_id": str(g) if g else None}
                for y, p, g in sorted(policy.closed, key=str)],
        presets={name: preset["title"] for name, preset in PRESETS.items()},
        draft=getattr(policy, "draft", None),
        rates=dict(getattr(policy, "rates", DEFAULT_RATES)),
    )


def period_sheet_view(group: Group, discipline_id: UUID, key: str,
                      sheet: PeriodMarkSheet | None,
                      suggestions: dict[UUID, MarkValue | None]) -> PeriodSheetView:
    marks = sheet.marks if sheet else {}
    students = sorted(set(suggestions) | set(marks), key=lambda s: group.names.get(s, ""))
    return PeriodSheetView(
        group_id=group.id, discipline_id=discipline_id, period=key,
        rows=[PeriodMarkRow(
            student_id=s, full_name=group.names.get(s, "?"),
            suggested=suggestions[s].value if suggestions.get(s) else None,
            value=marks[s].value if s in marks else None,
            academic_debt=s in marks and marks[s] in DEBT,
        ) for s in students],
    )


def correction_view(a: CorrectionApplication, today: date) -> CorrectionView:
    return CorrectionView(
        application_id=a.id, number=a.number, dated=a.dated, status=a.status.value,
        filed_on=a.filed_on, due_by=a.due_by, overdue=a.is_overdue(today),
        author_id=a.author_id, author_capacity=a.author_capacity, target=a.target.value,
        record_id=a.record_id, item_id=a.item_id, student_id=a.student_id,
        current_value=a.current_value, proposed_value=a.proposed_value, reason=a.reason,
        document=a.document, decided_by=a.decided_by, resolution=a.resolution,
    )
