"""Governance: the journal policy, correction applications, period marks, closing."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, status

from api.deps import Session
from api.schemas import (
    ClosureIn,
    CorrectionIn,
    Created,
    DecisionIn,
    DelegationIn,
    OrderIn,
    PeriodMarkIn,
    PolicyDraftIn,
    PolicyIn,
    ReopeningIn,
)
from domain.corrections import Status, Target
from projections.governance import correction_view, period_sheet_view, policy_view
from projections.models import CorrectionView, PeriodSheetView, PolicyView

router = APIRouter(tags=["governance"])


@router.get("/policy", response_model=PolicyView)
def read_policy(session: Session) -> PolicyView:
    """The journal policy: entry windows, weights, rounding, delegations, closed periods."""
    actor, journal = session
    return policy_view(*journal.reads.policy_sources(actor))


@router.put("/policy", status_code=204)
def adopt_policy(body: PolicyIn, session: Session) -> None:
    """Adopt the journal policy (a preset and/or own windows) by the director's order."""
    actor, journal = session
    journal.regulation.adopt_policy(
        actor, body.preset,
        {k: w.model_dump() for k, w in body.windows.items()} if body.windows else None,
        {k.value: v for k, v in body.weights.items()} if body.weights else None,
        body.rounding, body.marks_enabled, body.order.ref(), body.rates)


@router.put("/policy/draft", status_code=204)
def prepare_policy(body: PolicyDraftIn, session: Session) -> None:
    """Prepare a draft of the policy (the journal administrator or the director); it
    binds nobody until the director adopts it."""
    actor, journal = session
    journal.regulation.prepare_policy(
        actor, body.preset,
        {k: w.model_dump() for k, w in body.windows.items()} if body.windows else None,
        {k.value: v for k, v in body.weights.items()} if body.weights else None,
        body.rounding, body.marks_enabled, body.rates)


@router.post("/policy/draft/adoption", status_code=204)
def adopt_prepared_policy(body: OrderIn, session: Session) -> None:
    """Adopt the prepared draft by the director's order."""
    actor, journal = session
    journal.regulation.adopt_prepared_policy(actor, body.order.ref())


@router.post("/policy/delegations", status_code=204)
def delegate_decisions(body: DelegationIn, session: Session) -> None:
    """Delegate the right to decide correction applications to a deputy or the journal
    administrator, by order."""
    actor, journal = session
    journal.regulation.delegate_decisions(actor, body.delegate(), body.order.ref())


@router.post("/policy/delegations/revocations", status_code=204)
def revoke_decisions(body: DelegationIn, session: Session) -> None:
    """Revoke a delegate's right to decide correction applications, by order."""
    actor, journal = session
    journal.regulation.delegate_decisions(actor, body.delegate(), body.order.ref(),
                                          revoke=True)


@router.post("/periods/closures", status_code=204)
def close_period(body: ClosureIn, session: Session) -> None:
    """Close a period for a group or the whole institution (deputy director); before the
    period's last day only by an order stating the reason."""
    actor, journal = session
    journal.regulation.close_period(actor, body.year_id, body.period_number, body.group_id,
                                    body.order.ref() if body.order else None, body.reason)


@router.post("/periods/reopenings", status_code=204)
def reopen_period(body: ReopeningIn, session: Session) -> None:
    """Reopen a closed period by the director's order, with a reason."""
    actor, journal = session
    journal.regulation.reopen_period(actor, body.year_id, body.period_number, body.group_id,
                          body.order.ref(), body.reason)


@router.put("/period-marks", status_code=204)
def set_period_mark(body: PeriodMarkIn, session: Session) -> None:
    """Set a student's period mark (quarter/semester number, year, attestation, exam)."""
    actor, journal = session
    journal.period_marks.set_period_mark(actor, body.group_id, body.discipline_id, body.period,
                            body.student_id, body.value, body.held_on)


@router.get("/period-marks/{group_id}/{discipline_id}/{period}",
            response_model=PeriodSheetView)
def read_period_marks(group_id: UUID, discipline_id: UUID, period: str,
                      session: Session) -> PeriodSheetView:
    """Period marks with the suggested mark and academic debt per student."""
    actor, journal = session
    group, sheet, suggestions = journal.reads.period_sheet_sources(actor, group_id, discipline_id,
                                                             period)
    return period_sheet_view(group, discipline_id, period, sheet, suggestions)


@router.post("/corrections", status_code=status.HTTP_201_CREATED, response_model=Created)
def file_correction(body: CorrectionIn, session: Session) -> Created:
    """File a correction application (заявление): change or cancel a mark, a period mark
    or an absence reason, or add a mark never entered (new_mark)."""
    actor, journal = session
    return Created(id=journal.corrections.file_correction(
        actor, Target(body.target), body.record_id, body.item_id, body.proposed_value,
        body.number, body.date, body.reason, body.document, body.proposed_document))


@router.get("/corrections", response_model=list[CorrectionView])
def list_corrections(session: Session,
                     state: Annotated[Status | None, Query(alias="status")] = None,
                     overdue: Annotated[bool | None, Query(
                         description="true — нерассмотренные дольше дня после подачи")] = None,
                     ) -> list[CorrectionView]:
    """Applications: all for the director (or a delegate), own for everyone else; each
    flagged overdue when undecided past its one-day deadline."""
    actor, journal = session
    applications = journal.reads.corrections_sources(actor, state, overdue)
    today = journal.local_date()
    return [correction_view(a, today) for a in applications]


@router.post("/corrections/{application_id}/decision", status_code=204)
def decide_correction(application_id: UUID, body: DecisionIn, session: Session) -> None:
    """Approve (the correction is applied, citing the application) or reject."""
    actor, journal = session
    journal.corrections.decide_correction(actor, application_id, body.approve, body.resolution)


@router.post("/corrections/{application_id}/withdrawal", status_code=204)
def withdraw_correction(application_id: UUID, session: Session) -> None:
    """Withdraw an undecided application (its author only)."""
    actor, journal = session
    journal.corrections.withdraw_correction(actor, application_id)
