"""Typed errors of the ledger core.

Every error the package raises on purpose is a `LedgerError`. Verification never raises
for tampered data: a tampered chain is a `Failure` in the report, not an exception. The
errors below are for callers breaking a precondition, for key directories that cannot be
used, and for export files that cannot be read.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error raised on purpose by `ledger`."""


class EncodingError(LedgerError, ValueError):
    """An input violates a precondition of the canonical encoding (ADR 0002), e.g. an
    originator id that is not 16 bytes or a hash that is not 32 bytes."""


class KeyNotFound(LedgerError, KeyError):
    """There is no usable key: no key directory, no `ACTIVE` file, or no private key
    file for the key that `ACTIVE` names; for a key ring, no `KEYS` index, an index that
    lists no key, or no `.pub` file for a key the index lists."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "key not found"


class UnsafeKeyPermissions(LedgerError):
    """A private key file is accessible to group or others (mode & 0o077 != 0), or a key
    directory or its `KEYS` index is writable by group or others (mode & 0o022 != 0)."""


class InvalidKeyFile(LedgerError):
    """A key file cannot be used: not hex, not 32 bytes, not an Ed25519 PEM key, an
    `ACTIVE` file that does not hold a key id, or a `KEYS` line that is not a key id."""


class KeyFileMismatch(InvalidKeyFile):
    """A key file's name (or a key ring entry's id) is not the key id of its content."""


class ExportFormatError(LedgerError, ValueError):
    """An export file is not a well-formed `ejournal-ledger-export/1` JSON-lines file."""


class MerkleError(LedgerError, ValueError):
    """A caller broke a precondition of the Merkle tree functions (ADR 0011): a hash that
    is not 32 bytes, a size or index out of range. (The verifiers never raise: they return
    False.)"""


class NoteError(LedgerError, ValueError):
    """A signed note, checkpoint, verifier key or tlog proof (ADR 0011) is malformed, or
    fails verification. `NoteFormatError` and `NoteVerificationError` tell which."""


class NoteFormatError(NoteError):
    """Text that is not a well-formed signed note, checkpoint body, verifier key or
    `c2sp.org/tlog-proof@v1` proof (C2SP signed-note v1.0.0, tlog-checkpoint v1.0.0)."""


class NoteVerificationError(NoteError):
    """A well-formed note that no known key signs, or whose signature by a known key does
    not verify, or a tlog proof whose inclusion proof does not lead to the checkpoint's
    root."""


class ManifestError(LedgerError, ValueError):
    """A SHA256SUMS manifest that is not lines of `<64 hex>  <safe relative path>`."""
