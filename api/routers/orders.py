"""Student movement by orders (приказы): enrolment, transfer, leave, expulsion, graduation."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from api.deps import Session
from api.schemas import DepartureIn, EnrolmentIn, ReturnIn, SubgroupMoveIn, TransferIn

router = APIRouter(prefix="/orders", tags=["orders"])


@router.post("/enrolments", status_code=204)
def enrol(body: EnrolmentIn, session: Session) -> None:
    """Enrol a student into a group by order."""
    actor, journal = session
    journal.roster.enrol(actor, body.student_id, body.group_id, body.order.ref(), body.effective)


@router.post("/transfers", status_code=204)
def transfer(body: TransferIn, session: Session) -> None:
    """Transfer a student to another group by order."""
    actor, journal = session
    journal.roster.transfer(actor, body.student_id, body.to_group_id, body.order.ref(),
                     body.effective)


@router.post("/academic-leaves", status_code=204)
def grant_academic_leave(body: DepartureIn, session: Session) -> None:
    """Grant a student academic leave by order."""
    actor, journal = session
    journal.roster.grant_academic_leave(actor, body.student_id, body.order.ref(), body.effective)


@router.post("/returns", status_code=204)
def return_from_leave(body: ReturnIn, session: Session) -> None:
    """Return a student from academic leave into a group by order."""
    actor, journal = session
    journal.roster.return_from_leave(actor, body.student_id, body.group_id, body.order.ref(),
                              body.effective)


@router.post("/expulsions", status_code=204)
def expel(body: DepartureIn, session: Session) -> None:
    """Expel a student by order."""
    actor, journal = session
    journal.roster.expel(actor, body.student_id, body.order.ref(), body.effective)


@router.post("/graduations", status_code=204)
def graduate(body: DepartureIn, session: Session) -> None:
    """Graduate a student by order."""
    actor, journal = session
    journal.roster.graduate(actor, body.student_id, body.order.ref(), body.effective)


@router.post("/subgroups/{group_id}/{subgroup_id}/placements", status_code=204)
def place_in_subgroup(group_id: UUID, subgroup_id: UUID, body: SubgroupMoveIn,
                      session: Session) -> None:
    """Place a student in a subgroup by order."""
    actor, journal = session
    journal.roster.place_in_subgroup(actor, group_id, subgroup_id, body.student_id,
                              body.order.ref(), body.effective)


@router.post("/subgroups/{group_id}/{subgroup_id}/removals", status_code=204)
def remove_from_subgroup(group_id: UUID, subgroup_id: UUID, body: SubgroupMoveIn,
                         session: Session) -> None:
    """Remove a student from a subgroup by order."""
    actor, journal = session
    journal.roster.remove_from_subgroup(actor, group_id, subgroup_id, body.student_id,
                                 body.order.ref(), body.effective)
