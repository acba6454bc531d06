"""Auditor's entry point, without the service:

    python -m ledger verify EXPORT.jsonl --keys DIR [--expect-head POSITION:HEXHASH]
    python -m ledger verify-receipt RECEIPT --vkey VKEY   (ejournal-verify receipt …)
    python -m ledger verify-archive ARCHIVE.zip --vkey KEY | --keys DIR   (ejournal-verify …)

Reads the export line by line and, from DIR, the `<key_id>.pub` files of the keys that
DIR/KEYS lists (only those are trusted; see ledger.keys). Prints
`OK <count> entries, head <position>:<hexhash>` and exits 0, or
`FAILED at position <p>: <kind>: <detail>` and exits 1; exits 2 on a usage error or an
unreadable file (message on stderr).

`verify-archive` prints `OK <file>: log <origin> (institution <slug>), academic year
<title>[, period …], entries <first>..<last>` (from the signed package.json).
`verify-receipt` prints `OK entry …` (exit 0) or `FAILED: <reason>` (exit 1) for any
receipt it could read, forged or damaged (empty, truncated, binary, not canonical);
exit 2 only for a usage error, a malformed --vkey or a file it cannot read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from ledger.archive import keyring_of, verify_archive
from ledger.chain import ChainHead, verify
from ledger.errors import LedgerError, NoteFormatError, NoteVerificationError
from ledger.export import read_export
from ledger.keys import KeyRing
from ledger.note import parse_vkey
from ledger.receipt import MAX_RECEIPT_BYTES, open_receipt

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_HEAD = re.compile(r"(\d+):([0-9a-fA-F]{64})")


def parse_head(text: str) -> ChainHead:
    """A ChainHead from "POSITION:HEXHASH" (decimal position >= 0, 64 hex characters).
    Raises argparse.ArgumentTypeError otherwise."""
    match = _HEAD.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("expected POSITION:HEXHASH (64 hex characters)")
    return ChainHead(int(match.group(1)), bytes.fromhex(match.group(2)))


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default sys.argv[1:]) and returns the exit code:
    0 verified, 1 verification failed, 2 usage or format error."""
    parser = argparse.ArgumentParser(prog="python -m ledger",
                                     description="Verify an exported ejournal ledger chain.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify an exported chain")
    v.add_argument("export", type=Path, help="the JSON-lines export file")
    v.add_argument("--keys", type=Path, required=True,
                   help="directory of <key_id>.pub files and the KEYS index of the "
                        "trusted ones (private keys not needed)")
    v.add_argument("--expect-head", type=parse_head, metavar="POSITION:HEXHASH",
                   help="a head published earlier; catches a truncated or rewritten chain")
    r = sub.add_parser("verify-receipt", help="verify a family's receipt for one entry")
    r.add_argument("receipt", type=Path, help="the receipt (c2sp.org/tlog-proof@v1)")
    r.add_argument("--vkey", action="append", required=True,
                   help="the institution's published verifier key "
                        "(`ejournal ledger verifier-key`); repeat for several")
    a = sub.add_parser("verify-archive", help="verify a year-end archive package")
    a.add_argument("archive", type=Path, help="the package (.zip)")
    a.add_argument("--keys", type=Path, help="directory of trusted public keys (KEYS and "
                                             "<key_id>.pub)")
    a.add_argument("--vkey", action="append", help="the institution's published verifier "
                                                   "key (`ejournal ledger verifier-key`); "
                                                   "repeat for several")
    a.add_argument("--trust-package-keys", action="store_true",
                   help="accept the keys the package carries (exit 0 proves integrity, not "
                        "that the package is the institution's)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse exits 2 on usage errors, 0 on --help
        return int(exit_.code or 0)
    if args.command == "verify-receipt":
        return _verify_receipt(args.receipt, args.vkey)
    if args.command == "verify-archive":
        return _verify_archive(args.archive, args.keys, args.vkey or [],
                               args.trust_package_keys)
    try:
        keyring = KeyRing.from_directory(args.keys)
        with args.export.open(encoding="utf-8") as stream:
            chain_id, entries = read_export(stream)
            report = verify(chain_id, entries, keyring, expect_head=args.expect_head)
    except (LedgerError, OSError, UnicodeDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if report.ok:
        print(f"OK {report.count} entries, head {report.head.position}:"
              f"{report.head.entry_hash.hex()}")
        return EXIT_OK
    failure = report.failure
    assert failure is not None
    print(f"FAILED at position {failure.position}: {failure.kind.value}: {failure.detail}")
    return EXIT_FAILED


def _verify_receipt(path: Path, vkeys: list[str]) -> int:
    """A receipt that cannot be read (no such file) or a malformed --vkey is a usage
    error (2); a receipt that is read but does not verify — forged, or damaged: empty,
    truncated, binary, non-canonical — is FAILED (1)."""
    try:
        verifiers = [parse_vkey(v) for v in vkeys]
        with path.open("rb") as stream:
            data = stream.read(MAX_RECEIPT_BYTES + 1)
    except (LedgerError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        receipt = open_receipt(data, verifiers)
    except NoteVerificationError as error:
        print(f"FAILED: {error}")
        return EXIT_FAILED
    except (NoteFormatError, LedgerError) as error:
        print(f"FAILED: not a valid receipt: {error}")
        return EXIT_FAILED
    entry, checkpoint = receipt.entry, receipt.checkpoint
    event = entry.event
    try:
        state = json.dumps(json.loads(event.state), ensure_ascii=False, sort_keys=True)
    except (ValueError, RecursionError):
        state = event.state.hex()
    print(f"OK entry {entry.position} of {checkpoint.origin} (tree size {checkpoint.size}, "
          f"root {checkpoint.root.hex()})")
    print(f"event {UUID(bytes=event.originator_id)} v{event.originator_version} "
          f"{event.topic}")
    print(f"state {state}")
    return EXIT_OK


def _verify_archive(path: Path, keys: Path | None, vkeys: list[str],
                    trust_package_keys: bool) -> int:
    try:
        keyring = KeyRing.from_directory(keys) if keys is not None else None
        if vkeys:
            keyring = keyring_of([parse_vkey(v) for v in vkeys])
    except (LedgerError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE

    def progress(position: int) -> None:
        print(f"  entry {position}…", file=sys.stderr, flush=True)

    origins = [parse_vkey(v).name for v in vkeys] if vkeys else None
    report = verify_archive(path, keyring, origins=origins, progress=progress)
    for fact in report.facts:
        print(fact)
    if report.ok and (report.pinned or trust_package_keys):
        print(f"OK {path.name}: {report.scope()}"
              + ("" if report.pinned else " (keys not pinned)"))
        return EXIT_OK
    if report.ok:
        print(f"NOT AUTHENTICATED {path.name}: intact, but signed only by the keys it "
              "carries; pass the institution's published key with --vkey (or --keys DIR)")
        return EXIT_FAILED
    print(f"FAILED {report.problem}")
    return EXIT_FAILED


def verify_main(argv: Sequence[str] | None = None) -> int:
    """`ejournal-verify ARCHIVE.zip [--keys DIR]` (= `python -m ledger verify-archive`)
    and `ejournal-verify receipt FILE --vkey KEY` (= `python -m ledger verify-receipt`):
    the console script for auditors and families."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "receipt":
        return main(["verify-receipt", *args[1:]])
    if args and not args[0].startswith("-"):
        return main(["verify-archive", *args])
    print("usage: ejournal-verify ARCHIVE.zip --vkey KEY | --keys DIR\n"
          "       ejournal-verify receipt FILE --vkey KEY", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
