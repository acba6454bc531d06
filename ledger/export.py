"""JSON-lines export of a chain, readable by `python -m ledger verify` alone.

Line 1, the header: {"format": "ejournal-ledger-export/1", "chain_id": "..."}.
Then one object per entry, in position order:

    {"position": int, "prev_hash": hex, "event_digest": hex, "entry_hash": hex,
     "key_id": str, "signature": hex,
     "event": null | {"originator_id": hex (32 chars), "originator_version": int,
                      "topic": str, "state_b64": base64 of the state bytes}}

The export carries the stored values as they are; it proves nothing by itself: the
verifier recomputes every hash from the event and trusts only the key directory.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any, TextIO

from ledger.chain import EventContent, StoredEntry
from ledger.errors import ExportFormatError

FORMAT = "ejournal-ledger-export/1"
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")

__all__ = ["FORMAT", "ExportFormatError", "export_header", "export_line", "read_export"]


def export_header(chain_id: str) -> str:
    """The header line (without newline): {"format": FORMAT, "chain_id": chain_id} as
    JSON, non-ASCII kept as UTF-8 text. Precondition: chain_id is a str."""
    return json.dumps({"format": FORMAT, "chain_id": chain_id}, ensure_ascii=False)


def export_line(entry: StoredEntry) -> str:
    """One entry line (without newline): bytes as lowercase hex, the event's state as
    standard base64, `event` null when the event row is gone. Preconditions: the
    entry's byte fields are bytes and its event's originator_id is bytes."""
    event = None if entry.event is None else {
        "originator_id": entry.event.originator_id.hex(),
        "originator_version": entry.event.originator_version,
        "topic": entry.event.topic,
        "state_b64": base64.b64encode(entry.event.state).decode("ascii"),
    }
    return json.dumps({
        "position": entry.position, "prev_hash": entry.prev_hash.hex(),
        "event_digest": entry.event_digest.hex(), "entry_hash": entry.entry_hash.hex(),
        "key_id": entry.key_id, "signature": entry.signature.hex(), "event": event,
    }, ensure_ascii=False)


def _field(obj: dict[str, Any], name: str, kind: type) -> Any:
    if name not in obj:
        raise ExportFormatError(f"no field {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ExportFormatError(f"field {name!r} must be {kind.__name__}")
    return value


def _hex_field(obj: dict[str, Any], name: str) -> bytes:
    text = _field(obj, name, str)
    if not _HEX.fullmatch(text):
        raise ExportFormatError(f"field {name!r} is not hex")
    return bytes.fromhex(text)


def _entry(obj: object) -> StoredEntry:
    if not isinstance(obj, dict):
        raise ExportFormatError("an entry must be a JSON object")
    e = obj.get("event", ...)
    if e is ...:
        raise ExportFormatError("no field 'event'")
    event = None
    if e is not None:
        if not isinstance(e, dict):
            raise ExportFormatError("field 'event' must be an object or null")
        try:
            state = base64.b64decode(_field(e, "state_b64", str), validate=True)
        except binascii.Error:
            raise ExportFormatError("field 'state_b64' is not base64") from None
        event = EventContent(_hex_field(e, "originator_id"),
                             _field(e, "originator_version", int), _field(e, "topic", str),
                             state)
    return StoredEntry(
        position=_field(obj, "position", int), prev_hash=_hex_field(obj, "prev_hash"),
        event_digest=_hex_field(obj, "event_digest"),
        entry_hash=_hex_field(obj, "entry_hash"), key_id=_field(obj, "key_id", str),
        signature=_hex_field(obj, "signature"), event=event,
    )


def entry_from_json(obj: Any) -> StoredEntry:
    """One entry of an export, as decoded JSON (ExportFormatError if malformed)."""
    return _entry(obj)


def read_export(stream: TextIO) -> tuple[str, Iterator[StoredEntry]]:
    """(chain_id, entries) of an export read from a text stream.

    The header is read at once; the entries are parsed lazily, one line per entry, as
    the iterator is consumed (blank lines are skipped). Raises ExportFormatError for a
    bad header, and, while iterating, for a line that is not a well-formed entry (JSON
    types, hex, base64). Field lengths are not checked here: wrong lengths are
    tampering, which `verify` reports as a failure."""
    first = stream.readline()
    try:
        header = json.loads(first)
    except ValueError as error:  # JSONDecodeError, or an integer past Python's limit
        raise ExportFormatError(f"line 1: bad header: {error}") from None
    except RecursionError:
        raise ExportFormatError("line 1: nested too deeply") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ExportFormatError(f"line 1: not an {FORMAT} header")
    chain_id = header.get("chain_id")
    if not isinstance(chain_id, str):
        raise ExportFormatError("line 1: the header has no chain_id string")

    def entries() -> Iterator[StoredEntry]:
        for number, line in enumerate(stream, start=2):
            if not line.strip():
                continue
            try:
                yield _entry(json.loads(line))
            except ValueError as error:  # JSONDecodeError, or an integer past the limit
                raise ExportFormatError(f"line {number}: {error}") from None
            except RecursionError:
                raise ExportFormatError(f"line {number}: nested too deeply") from None
            except ExportFormatError as error:
                raise ExportFormatError(f"line {number}: {error}") from None

    return chain_id, entries()
