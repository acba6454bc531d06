"""Auditors: checkpoints, proofs and raw entries of the signed record; families: receipts
for their own marks (application/audit.py, ADR 0011). Hashes are standard base64, as in
C2SP checkpoints and proofs."""

from __future__ import annotations

import base64
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel

from api.deps import Session, get_ejournal
from application.audit import CHECKPOINTS_PAGE, Audit
from application.service import Ejournal

router = APIRouter(tags=["audit"])
MAX_SIZE = 1 << 62
NOTE = {200: {"description": "Подписанная контрольная точка (C2SP tlog-checkpoint)",
              "content": {"text/plain": {}}}}
ENTRIES = {200: {"description": "Записи реестра в формате `ejournal ledger export` "
                                "(JSON-строки, первая — заголовок)",
                 "content": {"application/x-ndjson": {}}}}
RECEIPT = {200: {"description": "Квитанция: c2sp.org/tlog-proof@v1 с записью об отметке; "
                                "ключ проверки — в заголовке Ejournal-Verifier-Key",
                 "content": {"text/plain": {}}}}


def get_audit(ejournal: Annotated[Ejournal, Depends(get_ejournal)]) -> Audit:
    return Audit(ejournal)


AuditArea = Annotated[Audit, Depends(get_audit)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class CheckpointItem(BaseModel):
    size: int
    origin: str
    root: str
    signed_at: str
    note: str


class InclusionView(BaseModel):
    index: int
    position: int
    size: int
    leaf_hash: str
    root: str
    proof: list[str]


class ConsistencyView(BaseModel):
    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]


@router.get("/audit/checkpoint", response_class=PlainTextResponse, responses=NOTE)
def latest_checkpoint(session: Session, audit: AuditArea) -> PlainTextResponse:
    """Последняя контрольная точка журнала организации (подписывается новая, если дерево
    выросло). Только для проверяющего."""
    actor, _ = session
    return PlainTextResponse(audit.checkpoint(actor))


@router.get("/audit/checkpoints", response_model=list[CheckpointItem])
def checkpoint_history(session: Session, audit: AuditArea,
                       after_size: Annotated[int, Query(ge=0, le=MAX_SIZE)] = 0,
                       limit: Annotated[int, Query(ge=1, le=CHECKPOINTS_PAGE)] = 100
                       ) -> list[CheckpointItem]:
    """История контрольных точек, подписанных сервисом (по возрастанию размера дерева;
    следующая страница — after_size последней)."""
    actor, _ = session
    return [CheckpointItem(size=c.size, origin=c.origin, root=b64(c.root),
                           signed_at=c.signed_at, note=c.note)
            for c in audit.checkpoints(actor, after_size, limit)]


@router.get("/audit/proofs/inclusion", response_model=InclusionView)
def inclusion_proof(session: Session, audit: AuditArea,
                    index: Annotated[int, Query(ge=0, le=MAX_SIZE,
                                                description="номер листа: позиция − 1")],
                    size: Annotated[int | None, Query(ge=1, le=MAX_SIZE)] = None
                    ) -> InclusionView:
    """Доказательство включения записи в дерево размера size (по умолчанию — текущее),
    RFC 9162 §2.1.3."""
    actor, _ = session
    p = audit.inclusion(actor, index, size)
    return InclusionView(index=p.index, position=p.index + 1, size=p.size,
                         leaf_hash=b64(p.leaf_hash), root=b64(p.root),
                         proof=[b64(h) for h in p.proof])


@router.get("/audit/proofs/consistency", response_model=ConsistencyView)
def consistency_proof(session: Session, audit: AuditArea,
                      old_size: Annotated[int, Query(ge=1, le=MAX_SIZE)],
                      new_size: Annotated[int | None, Query(ge=1, le=MAX_SIZE)] = None
                      ) -> ConsistencyView:
    """Доказательство согласованности дерева old_size с деревом new_size (по умолчанию —
    текущим), RFC 9162 §2.1.4."""
    actor, _ = session
    p = audit.consistency(actor, old_size, new_size)
    return ConsistencyView(old_size=p.old_size, new_size=p.new_size, old_root=b64(p.old_root),
                           new_root=b64(p.new_root), proof=[b64(h) for h in p.proof])


@router.get("/audit/entries", response_class=StreamingResponse, responses=ENTRIES)
def ledger_entries(session: Session, audit: AuditArea,
                   first: Annotated[int, Query(alias="from", ge=1, le=MAX_SIZE)] = 1,
                   last: Annotated[int | None, Query(alias="to", ge=1, le=MAX_SIZE)] = None
                   ) -> StreamingResponse:
    """Канонические записи реестра с позиции from по to (не более 10 000 за запрос), с
    событиями, как в `ejournal ledger export`: `python -m ledger verify` проверяет их."""
    actor, _ = session
    lines = audit.entries(actor, first, last)
    return StreamingResponse(lines, media_type="application/x-ndjson")


@router.get("/lessons/{lesson_id}/marks/{mark_id}/receipt", response_class=PlainTextResponse,
            responses=RECEIPT, tags=["reads"])
def mark_receipt(lesson_id: UUID, mark_id: UUID, session: Session,
                 audit: AuditArea) -> Response:
    """Квитанция об отметке для обучающегося или его законного представителя: запись
    журнала, доказательство её включения и подписанная контрольная точка. Проверка без
    сервиса: `ejournal-verify receipt ФАЙЛ --vkey КЛЮЧ`."""
    actor, _ = session
    receipt = audit.receipt(actor, lesson_id, mark_id)
    return PlainTextResponse(receipt.text, headers={
        "Ejournal-Verifier-Key": receipt.verifier_key,
        "Content-Disposition": f'attachment; filename="receipt-{mark_id}.tlog-proof"'})
