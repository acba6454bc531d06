"""The ledger core: canonical encoding, hashing, signing, chaining and verifying.

Standalone: imports only the standard library and `cryptography`, so an auditor can run
it without the service (`python -m ledger verify EXPORT --keys DIR`). Pure functions over
bytes, no storage: the database adapter stores and reads what these functions produce.
ADR 0002 specifies the encoding byte for byte.
"""

from ledger.chain import (
    ChainHead,
    EventContent,
    Failure,
    FailureKind,
    NewEntry,
    StoredEntry,
    VerifyReport,
    append,
    verify,
)
from ledger.encoding import (
    ENTRY_TAG,
    EVENT_TAG,
    GENESIS_TAG,
    SIGNATURE_TAG,
    entry_bytes,
    entry_hash,
    event_digest,
    genesis_hash,
    key_id,
    signing_message,
    verified_message,
)
from ledger.errors import (
    EncodingError,
    ExportFormatError,
    InvalidKeyFile,
    KeyFileMismatch,
    KeyNotFound,
    LedgerError,
    UnsafeKeyPermissions,
)
from ledger.export import export_header, export_line, read_export
from ledger.keys import KeyRing, Signer, generate_key

__all__ = [
    "ENTRY_TAG",
    "EVENT_TAG",
    "GENESIS_TAG",
    "SIGNATURE_TAG",
    "ChainHead",
    "EncodingError",
    "EventContent",
    "ExportFormatError",
    "Failure",
    "FailureKind",
    "InvalidKeyFile",
    "KeyFileMismatch",
    "KeyNotFound",
    "KeyRing",
    "LedgerError",
    "NewEntry",
    "Signer",
    "StoredEntry",
    "UnsafeKeyPermissions",
    "VerifyReport",
    "append",
    "entry_bytes",
    "entry_hash",
    "event_digest",
    "export_header",
    "export_line",
    "generate_key",
    "genesis_hash",
    "key_id",
    "read_export",
    "signing_message",
    "verified_message",
    "verify",
]
