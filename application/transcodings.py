"""How domain value objects are written into stored events (JSON)."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.persistence import Transcoding

from domain.values import Act, OrderRef


class DateAsISO(Transcoding):
    type = date
    name = "date"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ActAsDict(Transcoding):
    type = Act
    name = "act"

    def encode(self, obj: Act) -> dict[str, Any]:
        return {"actor_id": obj.actor_id, "capacity": obj.capacity, "local_date": obj.local_date}

    def decode(self, data: dict[str, Any]) -> Act:
        return Act(**data)


class OrderRefAsDict(Transcoding):
    type = OrderRef
    name = "order"

    def encode(self, obj: OrderRef) -> dict[str, Any]:
        return {"number": obj.number, "date": obj.date}

    def decode(self, data: dict[str, Any]) -> OrderRef:
        return OrderRef.restore(**data)


ALL = (DateAsISO, ActAsDict, OrderRefAsDict)
