"""What the service trusts about the checkpoints it signed (ADR 0011, addendum).

`ledger_checkpoints` is insert-only, but the runtime role can insert: a row is only a
claim. A row counts only if its note opens with the service's own verifiers for its
origin and says the row's size and root, and its size is not past the tree's. The last
checkpoint the service signed is also kept beside its keys (`<key dir>/checkpoints/<slug>
.last`, written atomically, 0600 in a 0700 directory), where neither the runtime role
nor the owner of the database reaches: a log cut back together with its checkpoint rows
is still refused a checkpoint that does not extend it."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import ledger
from application.storage.layout import ChainReader

log = logging.getLogger("ejournal.integrity")

CHECKPOINTS_TRIED = 100  # stored checkpoints looked at, largest first, for the latest
DETAILS = 3  # forged rows named in a report

Row = tuple[int, str, bytes, str]  # size, origin, root, note


def row_fault(row: Row, tree_size: int, keyring: ledger.KeyRing) -> str | None:
    """Why a stored checkpoint row is not one the service signed of this tree, or None."""
    size, origin, root, note = row
    try:
        checkpoint = ledger.open_checkpoint(note, keyring.note_verifiers(origin),
                                            origin=origin)
    except ledger.LedgerError as error:
        return f"its note does not verify: {error}"
    if (checkpoint.size, checkpoint.root) != (size, root):
        return (f"its note is a checkpoint of size {checkpoint.size}, root "
                f"{checkpoint.root.hex()}, not the row's")
    if size > tree_size:
        return f"the log has {tree_size} entries only: it was cut back"
    return None


def latest_stored(slug: str, reader: ChainReader, tree_size: int,
                  keyring: ledger.KeyRing) -> Row | None:
    """The largest stored checkpoint that the service signed of this tree (bounded: the
    CHECKPOINTS_TRIED largest rows); every row passed over is logged CRITICAL."""
    for row in reader.recent_checkpoints(CHECKPOINTS_TRIED):
        fault = row_fault(row, tree_size, keyring)
        if fault is None:
            return row
        log.critical("INTEGRITY %s: ledger_checkpoints row (size %s, origin %s) ignored: %s",
                     slug, row[0], row[1], fault)
    return None


def forged_rows(reader: ChainReader, chain_id: str, size: int, keyring: ledger.KeyRing
                ) -> ledger.Failure | None:
    """For `ejournal ledger verify`: the first checkpoint row, then the first verified-
    through mark, that the service did not write (with how many there are), or None."""
    bad = [(row[0], row[1], fault) for row in _all_checkpoints(reader)
           if (fault := row_fault(row, size, keyring)) is not None]
    signed_past = [(s, o) for s, o, f in bad if f.startswith("the log has")]
    if signed_past:  # a checkpoint the service did sign, of a longer log
        s, o = signed_past[0]
        return ledger.Failure(size + 1, ledger.FailureKind.MISSING,
                              f"ledger_checkpoints: the service signed a checkpoint of size "
                              f"{s} ({o}); the log has {size} entries: truncated")
    if bad:
        named = "; ".join(f"size {s}, origin {o}: {f}" for s, o, f in bad[:DETAILS])
        first = min(s for s, _, _ in bad)
        return ledger.Failure(max(1, min(first, size + 1)), ledger.FailureKind.INSERTED,
                              f"ledger_checkpoints: {len(bad)} rows the service did not "
                              f"sign of this log ({named})")
    marks: list[tuple[int, str]] = []
    for position, entry_hash, key_id, signature, stored in reader.all_verified_marks():
        if not keyring.verify_verified(key_id, chain_id, position, entry_hash, signature):
            marks.append((position, "its signature does not verify"))
        elif stored is None:
            marks.append((position, "the ledger does not reach it: truncated"))
        elif stored != entry_hash:
            marks.append((position, "the entry there is not the one verified"))
    if marks:
        named = "; ".join(f"at {p}: {why}" for p, why in marks[:DETAILS])
        return ledger.Failure(max(1, min(marks[0][0], size + 1)),
                              ledger.FailureKind.INSERTED,
                              f"ledger_verified: {len(marks)} verified-through marks the "
                              f"service did not write ({named})")
    return None


def _all_checkpoints(reader: ChainReader) -> Iterator[Row]:
    after = -1
    while True:
        page = reader.checkpoints(after, 1000)
        yield from ((s, o, r, n) for s, o, r, n, _ in page)
        if len(page) < 1000:
            return
        after = page[-1][0]


class Memory:
    """The last checkpoint the service signed of one institution's log, as a file in the
    key directory."""

    def __init__(self, key_dir: Path, slug: str) -> None:
        self.directory = Path(key_dir) / "checkpoints"
        self.path = self.directory / f"{slug}.last"

    def read(self, keyring: ledger.KeyRing) -> ledger.Checkpoint | None:
        """The remembered checkpoint; None if none was signed yet. NoteError if the file
        does not hold a note the service's keys sign."""
        try:
            note = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        origin = ledger.Checkpoint.parse(ledger.parse_note(note).text).origin
        return ledger.open_checkpoint(note, keyring.note_verifiers(origin), origin=origin)

    def supersede(self) -> Path:
        """Sets the remembered note aside (a deliberate restore of an older copy): kept as
        `<slug>.last.superseded-<UTC instant>`, never deleted. Returns its new path."""
        from datetime import UTC, datetime

        aside = self.path.with_name(
            f"{self.path.name}.superseded-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}")
        os.replace(self.path, aside)
        return aside

    def write(self, note: str) -> None:
        """Replaces the remembered note atomically (a temporary file, fsync, rename)."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                   dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(note)
                f.flush()
                os.fchmod(f.fileno(), 0o600)
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
