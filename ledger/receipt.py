"""Receipts: a family's proof of what the journal said (ADR 0011).

A receipt is a `c2sp.org/tlog-proof@v1` text — leaf index, inclusion proof, the signed
checkpoint verbatim — whose `extra` line carries the entry itself, so that the receipt
alone, with the institution's published verifier key, proves that this event stood at
this position of the institution's log in the tree the checkpoint commits to. The school
can never silently invalidate it: a log that no longer holds the entry cannot extend the
checkpoint (consistency proofs), and the checkpoint's signature cannot be forged.

The `extra` bytes are UTF-8 JSON (keys sorted, no spaces):

    {"format": "ejournal-receipt/1", "chain_id": str, "position": int >= 1,
     "prev_hash": hex, "event": {"originator_id": hex (32 chars),
     "originator_version": int, "topic": str, "state_b64": base64 of the state bytes}}

The verifier recomputes the event digest from the event, the chain leaf (ADR 0002) from
chain id, position, previous hash and digest, and its leaf hash; the proof's index must
be position - 1. Nothing in `extra` is trusted until the inclusion proof holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.chain import EventContent
from ledger.errors import EncodingError, NoteFormatError, NoteVerificationError
from ledger.merkle import chain_leaf_hash
from ledger.note import Checkpoint, NoteVerifier, TlogProof, open_tlog_proof

RECEIPT_FORMAT = "ejournal-receipt/1"
MAX_RECEIPT_BYTES = 1 << 20

__all__ = ["RECEIPT_FORMAT", "ReceiptEntry", "VerifiedReceipt", "make_receipt",
           "open_receipt"]


@dataclass(frozen=True)
class ReceiptEntry:
    """The chain entry a receipt is for: where it stands and the event it records."""

    chain_id: str
    position: int
    prev_hash: bytes
    event: EventContent

    def leaf_hash(self) -> bytes:
        """The Merkle leaf hash of this entry (EncodingError for impossible values)."""
        return chain_leaf_hash(self.chain_id, self.position, self.prev_hash,
                               self.event.digest())

    def extra(self) -> bytes:
        """The canonical `extra` bytes (module docstring)."""
        return json.dumps({
            "format": RECEIPT_FORMAT, "chain_id": self.chain_id, "position": self.position,
            "prev_hash": self.prev_hash.hex(),
            "event": {"originator_id": self.event.originator_id.hex(),
                      "originator_version": self.event.originator_version,
                      "topic": self.event.topic,
                      "state_b64": base64.b64encode(self.event.state).decode("ascii")},
        }, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_extra(cls, extra: bytes) -> ReceiptEntry:
        """The entry of canonical `extra` bytes; NoteFormatError otherwise."""
        try:
            obj = json.loads(extra.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise NoteFormatError("the receipt's extra data is not UTF-8 JSON") from None
        if not isinstance(obj, dict) or obj.get("format") != RECEIPT_FORMAT:
            raise NoteFormatError(f"the receipt's extra data is not {RECEIPT_FORMAT}")
        event = _field(obj, "event", dict)
        try:
            entry = cls(
                chain_id=_field(obj, "chain_id", str),
                position=_field(obj, "position", int),
                prev_hash=bytes.fromhex(_field(obj, "prev_hash", str)),
                event=EventContent(
                    originator_id=bytes.fromhex(_field(event, "originator_id", str)),
                    originator_version=_field(event, "originator_version", int),
                    topic=_field(event, "topic", str),
                    state=base64.b64decode(_field(event, "state_b64", str), validate=True)))
        except (ValueError, binascii.Error):
            raise NoteFormatError("a receipt field is not valid hex or base64") from None
        if entry.extra() != extra:
            raise NoteFormatError("the receipt's extra data is not in canonical form")
        return entry


def _field(obj: dict[str, Any], name: str, kind: type) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise NoteFormatError(f"the receipt's field {name!r} is missing or not "
                              f"{kind.__name__}")
    return value


@dataclass(frozen=True)
class VerifiedReceipt:
    entry: ReceiptEntry
    checkpoint: Checkpoint
    proof: TlogProof


def make_receipt(entry: ReceiptEntry, proof: Sequence[bytes], checkpoint_note: str) -> str:
    """The receipt text: a tlog-proof of `entry` (leaf index position - 1) with the given
    inclusion proof in the tree of the signed checkpoint `checkpoint_note`."""
    return TlogProof(entry.position - 1, tuple(proof), checkpoint_note, entry.extra()).text()


def open_receipt(text: str | bytes, verifiers: Iterable[NoteVerifier], *,
                 origin: str | None = None) -> VerifiedReceipt:
    """The receipt's entry and checkpoint, if: it is a well-formed tlog proof whose extra
    data is a canonical receipt entry at leaf index position - 1; a known key named as its
    origin (and `origin`, if given) signs the checkpoint; and the inclusion proof puts the
    entry's leaf hash at that index of the checkpoint's tree. NoteFormatError for a
    malformed receipt, NoteVerificationError for one that does not prove its entry."""
    if isinstance(text, bytes | bytearray) and len(text) > MAX_RECEIPT_BYTES:
        raise NoteFormatError(f"a receipt is at most {MAX_RECEIPT_BYTES} bytes")
    parsed = TlogProof.parse(text)
    if parsed.extra is None:
        raise NoteFormatError("the receipt carries no entry (no 'extra' line)")
    entry = ReceiptEntry.from_extra(parsed.extra)
    if parsed.index != entry.position - 1:
        raise NoteVerificationError(f"the proof's index {parsed.index} is not the leaf of "
                                    f"chain position {entry.position}")
    try:
        leaf = entry.leaf_hash()
    except EncodingError as error:
        raise NoteFormatError(f"the receipt's entry is not encodable: {error}") from None
    _, checkpoint = open_tlog_proof(parsed, leaf, verifiers, origin=origin)
    return VerifiedReceipt(entry, checkpoint, parsed)
