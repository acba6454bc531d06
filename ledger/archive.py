"""Year-end archive packages (ADR 0014): the format and its verifier.

A package is one ZIP file whose members all sit under one directory, `<slug>-<year>/`
(`<slug>-<year>-<period>/` for a period; the year's title with `/` as `_`), which must be
the one the signed package.json names:

    VERIFY.md         how to verify, in Russian and English
    package.json      what the package holds: institution, chain id, log origin, the
                      year, the entries' positions first..last, the statements with the
                      journal state each was built from, the manifest's key id
    entries.jsonl     the entries first..last in chain order, as `ledger export` lines
                      (header first): canonical fields, signature, the event
    link.json         the chain before `first`: the entry first-1 (its canonical fields,
                      entry hash, and its inclusion proof in the checkpoint's tree) and
                      the Merkle frontier of the first-1 leaves before the package
    checkpoint.txt    the signed checkpoint (C2SP tlog-checkpoint) of size `last`
    checkpoint.tsr    its RFC 3161 timestamp token, where one was issued
    keys/KEYS, keys/<id>.pub, keys/<id>.pem
                      every public key the entries, the checkpoint and the manifest need
    keys/rotations.jsonl
                      every key announcement of the chain up to `last` (ADR 0016), one
                      a line: {"entry": an export line's object, "inclusion_proof": [b64]}
    keys/validity.json
                      each key's stretch of the chain: {"<id>": {"in_force_from": p,
                      "in_force_to": q or null (still in force at `last`)}}
    statements/…      the year's statements, PDF/A and CSV
    SHA256SUMS        `sha256sum -c` lines of every other member but SHA256SUMS.sig
    SHA256SUMS.sig    the plain Ed25519 signature of SHA256SUMS (openssl pkeyutl -rawin)

`verify_archive` checks, and names the first problem precisely (member, entry position,
what): the manifest's signature and every member's hash, with no member unlisted; the
directory the members sit in against package.json; the checkpoint's signature; every
entry's event digest, link and signature from the entry before the package; the Merkle
root of the frontier and the entries against the checkpoint; the inclusion proof of the
entry before the package; each statement's journal state (entry hash and Merkle root at
its position, and the CSV's own footnote).

Trust: the keys given by the caller (an auditor's own copy), else the package's keys —
reported as such, to be compared with the institution's published key. A key announced
(keys/rotations.jsonl) by a trusted key, in an entry that key signed, is trusted too: an
auditor who pinned the institution's first key verifies packages signed by its later
keys. Each announcement must be in the checkpoint's tree (its inclusion proof), the
entries must be signed by the key in force at their positions, and validity.json must
state exactly the stretches the announcements give.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ledger.chain import ChainHead, StoredEntry, verify
from ledger.encoding import HASH_SIZE, entry_hash, genesis_hash, key_id
from ledger.errors import LedgerError, ManifestError, NoteError
from ledger.export import entry_from_json, read_export
from ledger.keys import KeyRing
from ledger.merkle import MerkleFrontier, chain_leaf_hash, verify_inclusion
from ledger.note import NoteVerifier, encode_vkey, open_checkpoint
from ledger.rotation import AnnouncementError, KeyAnnouncement, KeySchedule, read_announcement

FORMAT = "ejournal-archive/1"
MANIFEST, SIGNATURE = "SHA256SUMS", "SHA256SUMS.sig"
PACKAGE, LINK, ENTRIES = "package.json", "link.json", "entries.jsonl"
CHECKPOINT, TIMESTAMP, GUIDE = "checkpoint.txt", "checkpoint.tsr", "VERIFY.md"
KEYS = "keys/"
ROTATIONS, VALIDITY = KEYS + "rotations.jsonl", KEYS + "validity.json"
MAX_SMALL_MEMBER = 16 << 20  # package.json, link.json, the manifest, a checkpoint, a key
MAX_MEMBER = 64 << 30  # no member of a year's package comes near: entries are ~1.3 KB each
MAX_RATIO = 200  # entries deflate about 5:1; a member inflating 200-fold is a bomb
CHUNK = 1 << 20
_SUM = re.compile(r"([0-9a-f]{64})  ([^\x00-\x1f\x7f\\]+)")
_KEY_ID = re.compile(r"[0-9a-f]{32}")

__all__ = ["FORMAT", "ArchiveReport", "Problem", "keyring_of", "manifest_text",
           "parse_manifest", "safe_member_path", "verify_archive"]


def safe_member_path(path: str) -> str:
    """`path` if it is a plain relative POSIX path (no absolute path, no `..`, no
    backslash or control character, no empty part); ManifestError otherwise."""
    parts = path.split("/")
    if (not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts)
            or re.search(r"[\x00-\x1f\x7f\\]", path)):
        raise ManifestError(f"not a safe relative path: {path!r}")
    return path


def _safe(path: str) -> bool:
    try:
        safe_member_path(path)
    except ManifestError:
        return False
    return True


def manifest_text(sums: dict[str, str]) -> bytes:
    """SHA256SUMS bytes: `<hex>  <path>\\n` per member, sorted by path (what
    `sha256sum -c` reads). Precondition: safe paths and 64-hex digests (ManifestError)."""
    lines = []
    for path in sorted(sums):
        if not re.fullmatch(r"[0-9a-f]{64}", sums[path]):
            raise ManifestError(f"not a SHA-256 hex digest: {sums[path]!r}")
        lines.append(f"{sums[path]}  {safe_member_path(path)}\n")
    return "".join(lines).encode("utf-8")


def parse_manifest(data: bytes) -> dict[str, str]:
    """Path -> hex digest of a SHA256SUMS file as `manifest_text` writes it: UTF-8,
    at least one line, each `<64 lowercase hex>  <safe path>` ending in a newline, no
    path twice. ManifestError otherwise."""
    try:
        text = bytes(data).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise ManifestError("the manifest is not UTF-8") from None
    if not text.endswith("\n"):
        raise ManifestError("the manifest does not end with a newline")
    sums: dict[str, str] = {}
    for number, line in enumerate(text[:-1].split("\n"), 1):
        match = _SUM.fullmatch(line)
        if match is None:
            raise ManifestError(f"line {number} is not '<sha256 hex>  <path>'")
        path = safe_member_path(match.group(2))
        if path in sums:
            raise ManifestError(f"line {number} lists {path} again")
        sums[path] = match.group(1)
    return sums


@dataclass(frozen=True)
class Problem:
    member: str  # the file in the package
    position: int | None  # the chain position concerned, if any
    what: str

    def __str__(self) -> str:
        at = f", entry {self.position}" if self.position is not None else ""
        return f"{self.member}{at}: {self.what}"


@dataclass
class ArchiveReport:
    """`ok`: every check held with the keys used; `pinned`: those keys were the caller's
    (an auditor's key directory or the institution's published verifier keys), not the
    package's own — only then does `ok` mean the package is the institution's."""

    ok: bool = False
    problem: Problem | None = None
    facts: list[str] = field(default_factory=list)
    pinned: bool = False
    # What was verified, from the signed package.json (set once the manifest verifies):
    origin: str | None = None  # the log's name (checkpoint origin)
    institution: str | None = None  # its code (slug)
    year: str | None = None  # the academic year's title, "2026/2027"
    period: str | None = None  # a period package: "<number> «<title>»"; None: the year
    first: int | None = None
    last: int | None = None

    def scope(self) -> str:
        """`log <origin> (institution <slug>), academic year <title>[, period …], entries
        <first>..<last>`: what an OK verdict is about."""
        period = f", period {self.period}" if self.period else ""
        return (f"log {self.origin} (institution {self.institution}), academic year "
                f"{self.year}{period}, entries {self.first}..{self.last}")


class _Failed(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _fail(member: str, what: str, position: int | None = None) -> _Failed:
    return _Failed(Problem(member, position, what))


def _b64(text: object, member: str, what: str) -> bytes:
    if not isinstance(text, str):
        raise _fail(member, f"{what} is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(member, f"{what} is not base64") from None
    if len(raw) != HASH_SIZE:
        raise _fail(member, f"{what} is not a 32-byte hash")
    return raw


def _hex32(text: object, member: str, what: str) -> bytes:
    if not isinstance(text, str) or not re.fullmatch(r"[0-9a-f]{64}", text):
        raise _fail(member, f"{what} is not 64 lowercase hex digits")
    return bytes.fromhex(text)


def _int(obj: dict[str, Any], name: str, member: str, low: int = 0) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise _fail(member, f"{name!r} is not an integer ≥ {low}")
    return value


class _Package:
    """The members of an opened package, read through the manifest's digests."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.zip = archive
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise _fail("(zip)", "a member name occurs twice")
        files = [n for n in names if not n.endswith("/")]
        roots = {n.split("/", 1)[0] for n in names}
        if len(roots) != 1 or not files or any("/" not in n for n in files):
            raise _fail("(zip)", "the members are not all under one directory")
        self.root = roots.pop() + "/"
        self.files: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            if info.file_size > MAX_MEMBER or (
                    info.compress_size and info.file_size > MAX_RATIO * info.compress_size
                    and info.file_size > CHUNK):
                raise _fail(info.filename, f"inflates to {info.file_size} bytes from "
                                           f"{info.compress_size}: not a package's member")
            if info.filename.endswith("/"):
                inner = info.filename[len(self.root):].rstrip("/")
                if info.file_size or (inner and not _safe(inner)):
                    raise _fail(info.filename, "a directory entry with content or an "
                                               "unsafe name")
                continue
            name = info.filename[len(self.root):]
            try:
                self.files[safe_member_path(name)] = info
            except ManifestError as error:
                raise _fail(name, str(error)) from None

    def small(self, name: str) -> bytes:
        info = self.files.get(name)
        if info is None:
            raise _fail(name, "missing from the package")
        if info.file_size > MAX_SMALL_MEMBER:
            raise _fail(name, f"larger than {MAX_SMALL_MEMBER} bytes")
        with self.zip.open(info) as stream:
            return stream.read(MAX_SMALL_MEMBER + 1)

    def open(self, name: str) -> IO[bytes]:
        info = self.files.get(name)
        if info is None:
            raise _fail(name, "missing from the package")
        return self.zip.open(info)

    def digest(self, name: str) -> str:
        h = hashlib.sha256()
        with self.open(name) as stream:
            while chunk := stream.read(CHUNK):
                h.update(chunk)
        return h.hexdigest()


def keyring_of(vkeys: Iterable[NoteVerifier]) -> KeyRing:
    """The key ring of published verifier keys (`ejournal ledger verifier-key`): each
    carries the raw Ed25519 public key that signs the entries too."""
    return KeyRing({key_id(v.public_key): v.public_key for v in vkeys})


def verify_archive(path: Path, keys: KeyRing | None = None, *,
                   origins: Iterable[str] | None = None,
                   progress: Callable[[int], None] | None = None) -> ArchiveReport:
    """Verifies the package at `path` (module docstring) against `keys` — an auditor's
    own (`pinned`) — or, without them, against the keys the package carries (said so in
    the facts, with each key as a verifier key to compare with the published one; not
    `pinned`). With `origins` (the names of the published verifier keys given), the
    package's log must be one of them: a key shared by several institutions' logs does not
    vouch for another institution's package. Never raises for a malformed or tampered
    package: the report's `problem` names it. `progress(position)` is called every 10,000
    entries."""
    report = ArchiveReport(pinned=keys is not None)
    names = None if origins is None else set(origins)
    try:
        with zipfile.ZipFile(path) as archive:
            _verify(_Package(archive), keys, report, progress, names)
        report.ok = True
    except _Failed as failed:
        report.problem = failed.problem
    except RecursionError:
        report.problem = Problem(Path(path).name, None, "nested too deeply to be a package")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        report.problem = Problem(Path(path).name, None, f"not a readable ZIP file: {error}")
    except OSError as error:
        report.problem = Problem(Path(path).name, None, f"cannot be read: {error}")
    return report


def _verify(pkg: _Package, keys: KeyRing | None, report: ArchiveReport,
            progress: Callable[[int], None] | None, origins: set[str] | None = None
            ) -> None:
    package = _json(pkg, PACKAGE)
    if package.get("format") != FORMAT:
        raise _fail(PACKAGE, f"not an {FORMAT} package")
    if origins is not None and package.get("origin") not in origins:
        raise _fail(PACKAGE, f"the package is of the log {package.get('origin')!r}, not of "
                             f"{', '.join(sorted(origins))} (the verifier keys given)")
    bundled = _bundled_keys(pkg)
    if keys is None:
        keys = bundled
        origin = package.get("origin") if isinstance(package.get("origin"), str) else ""
        try:
            named = [encode_vkey(origin, bundled.public_key(k)) for k in bundled]
        except LedgerError:
            named = list(bundled)
        report.facts.append("keys: NOT PINNED — only those the package carries: "
                            + ", ".join(named) + "; compare each with the institution's "
                            "published verifier key, or pass it with --vkey (or --keys DIR)")
    else:
        report.facts.append("keys: given by the verifier (" + ", ".join(keys) + ")")
    chain_id = package.get("chain_id")
    if not isinstance(chain_id, str):
        raise _fail(PACKAGE, "'chain_id' is a string")
    # 0. Key rotations: a key announced by a trusted key is trusted (ADR 0016).
    rotations = _rotations(pkg, chain_id)
    keys = _trusted_through(rotations, keys, chain_id, report)
    # 1. The manifest: signed, and it lists every member by its digest.
    manifest = pkg.small(MANIFEST)
    try:
        sums = parse_manifest(manifest)
    except ManifestError as error:
        raise _fail(MANIFEST, str(error)) from None
    key_id = package.get("manifest_key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        raise _fail(SIGNATURE, f"signed with a key that is not trusted: {key_id!r}")
    if not keys.verify_manifest(key_id, manifest, pkg.small(SIGNATURE)):
        raise _fail(SIGNATURE, f"the signature of {MANIFEST} does not verify with key "
                               f"{key_id}")
    for name in sorted(pkg.files):
        if name not in (MANIFEST, SIGNATURE) and name not in sums:
            raise _fail(name, f"not listed in {MANIFEST}")
    for name, want in sorted(sums.items()):
        if name in (MANIFEST, SIGNATURE):
            raise _fail(MANIFEST, f"lists {name}")
        if pkg.digest(name) != want:
            raise _fail(name, f"its SHA-256 is not the one {MANIFEST} lists")
    report.facts.append(f"manifest: {len(sums)} files, signed by {key_id}")
    # 1b. The directory the members sit in is the one package.json (signed) names.
    origin = package.get("origin")
    if not isinstance(origin, str):
        raise _fail(PACKAGE, "'origin' is a string")
    _check_root(pkg, package, report)
    report.origin = origin
    # 2. The checkpoint.
    try:
        checkpoint = open_checkpoint(pkg.small(CHECKPOINT), keys.note_verifiers(origin),
                                     origin=origin)
    except NoteError as error:
        raise _fail(CHECKPOINT, str(error)) from None
    first = _int(package, "first_position", PACKAGE, 1)
    last = _int(package, "last_position", PACKAGE, 1)
    if checkpoint.size != last or first > last:
        raise _fail(PACKAGE, f"entries {first}..{last} do not end at the checkpoint's "
                             f"size {checkpoint.size}")
    report.facts.append(f"checkpoint: {origin}, size {checkpoint.size}, root "
                        f"{checkpoint.root.hex()}")
    if TIMESTAMP in pkg.files:
        report.facts.append(f"timestamp: {TIMESTAMP} present (check it with the TSA's root: "
                            "ejournal ledger verify-timestamp)")
    # 2b. Every announcement is in the checkpoint's tree; the key in force at `first`.
    schedule = _schedule(pkg, rotations, chain_id, checkpoint.root, first, last, report)
    # 3. The chain before the package.
    link = _json(pkg, LINK)
    start, frontier, previous_leaf, previous_proof = _link(link, chain_id, first)
    # 4. The entries: digests, links, signatures; the Merkle root; the statements' states.
    statements = package.get("statements")
    if not isinstance(statements, list):
        raise _fail(PACKAGE, "'statements' is a list")
    wanted = {_int(s, "position", PACKAGE) for s in statements if isinstance(s, dict)}
    states: dict[int, tuple[bytes, bytes]] = {}
    if start.position in wanted:
        states[start.position] = (start.entry_hash, frontier.root())
    with pkg.open(ENTRIES) as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8")
        try:
            export_chain, entries = read_export(stream)
        except (LedgerError, UnicodeDecodeError, ValueError) as error:
            raise _fail(ENTRIES, f"header: {error}") from None
        if export_chain != chain_id:
            raise _fail(ENTRIES, f"the chain {export_chain!r} is not the package's")
        tree = _Tree(chain_id, start, frontier, wanted, states)
        try:
            result = verify(chain_id, tree.follow(entries), keys, start=start,
                            keys=schedule, progress=progress)
        except (LedgerError, UnicodeDecodeError, ValueError) as error:
            raise _fail(ENTRIES, f"entry {tree.head.position + 1}: {error}",
                        tree.head.position + 1) from None
    if not result.ok:
        assert result.failure is not None
        raise _fail(ENTRIES, f"{result.failure.kind.value}: {result.failure.detail}",
                    result.failure.position)
    if result.head.position != last:
        raise _fail(ENTRIES, f"the entries end at {result.head.position}, not at {last}",
                    result.head.position + 1)
    if result.keys is not None:
        seen = sorted(p for p in result.keys.retired.values() if p >= first)
        listed = sorted(r.entry.position for r in rotations if r.entry.position >= first)
        if seen != listed:
            raise _fail(ROTATIONS, f"lists the announcements at {listed or 'no position'}, "
                                   f"the entries hold them at {seen or 'no position'}")
    if not rotations and VALIDITY in pkg.files and result.keys is not None and _json(
            pkg, VALIDITY) != {result.keys.in_force: {"in_force_from": 1,
                                                       "in_force_to": None}}:
        raise _fail(VALIDITY, "without announcements one key signs the whole chain: "
                              f"{result.keys.in_force}")
    if tree.frontier.root() != checkpoint.root:
        raise _fail(ENTRIES, "the Merkle root of the chain before the package and its "
                             "entries is not the checkpoint's root")
    if previous_leaf is not None and not verify_inclusion(
            previous_leaf, first - 2, last, previous_proof, checkpoint.root):
        raise _fail(LINK, "the inclusion proof of the entry before the package does not "
                          "verify", first - 1)
    report.first, report.last = first, last
    report.facts.append(f"entries: {first}..{last} ({result.count}), every digest, link "
                        "and signature verified; Merkle root equals the checkpoint's")
    # 5. Statements: the journal state each names is in this chain.
    for item in statements:
        _check_statement(pkg, item, states, first, last)
    report.facts.append(f"statements: {len(statements)}, each built from a journal state "
                        "of this chain")


def _safe_name(text: str) -> str:
    """A file-name part as the exporter writes it (application.archive.safe_name):
    letters (Cyrillic too), digits, '-', '_' and '.'; others '_'."""
    return re.sub(r"[^\w.\-]", "_", text, flags=re.UNICODE).strip("._") or "_"


def _check_root(pkg: _Package, package: dict[str, Any], report: ArchiveReport) -> None:
    """The members' directory is `<slug>-<year>/` (`<slug>-<year>-<period>/` for a period
    package) of the institution, year and period the signed package.json names: the
    directory is not covered by the manifest, so a renamed one would pass unnoticed."""
    institution, year, period = (package.get("institution"), package.get("year"),
                                 package.get("period"))
    slug = institution.get("slug") if isinstance(institution, dict) else None
    title = year.get("title") if isinstance(year, dict) else None
    if not isinstance(slug, str) or not isinstance(title, str):
        raise _fail(PACKAGE, "'institution.slug' and 'year.title' are strings")
    suffix = ""
    if period is not None:
        number = period.get("number") if isinstance(period, dict) else None
        if not isinstance(number, int) or isinstance(number, bool):
            raise _fail(PACKAGE, "'period.number' is an integer")
        suffix = f"-{number}"
        report.period = f"{number} «{period.get('title')}»"
    expected = f"{_safe_name(slug)}-{_safe_name(title)}{suffix}/"
    if pkg.root != expected:
        name = Path(str(pkg.zip.filename)).name if pkg.zip.filename else "the package"
        raise _fail(pkg.root, f"{name}: the members sit under {pkg.root!r}, but the signed "
                              f"{PACKAGE} is of {slug}, year {title}"
                              + (f", period {suffix[1:]}" if suffix else "")
                              + f" (directory {expected!r})")
    report.institution, report.year = slug, title


@dataclass(frozen=True)
class _Rotation:
    entry: StoredEntry
    announcement: KeyAnnouncement
    proof: list[bytes]


def _rotations(pkg: _Package, chain_id: str) -> list[_Rotation]:
    """The announcements the package lists, in position order (none in a package made
    before ADR 0016)."""
    if ROTATIONS not in pkg.files:
        return []
    found: list[_Rotation] = []
    for number, line in enumerate(pkg.small(ROTATIONS).decode("utf-8", "replace")
                                  .splitlines(), 1):
        if not line.strip():
            continue
        where = f"{ROTATIONS}, line {number}"
        try:
            obj = json.loads(line)
            entry = entry_from_json(obj.get("entry") if isinstance(obj, dict) else None)
        except (ValueError, RecursionError, LedgerError) as error:
            raise _fail(where, f"not an announcement line: {error}") from None
        if entry.event is None:
            raise _fail(where, "the announcement has no event", entry.position)
        try:
            announcement = read_announcement(entry.event.state)
        except AnnouncementError as error:
            raise _fail(where, str(error), entry.position) from None
        if found and entry.position <= found[-1].entry.position:
            raise _fail(where, "announcements are listed in position order", entry.position)
        if found and announcement.predecessor != found[-1].announcement.successor:
            raise _fail(where, f"the announcement hands over from "
                               f"{announcement.predecessor}, but "
                               f"{found[-1].announcement.successor} was in force",
                        entry.position)
        proof = obj.get("inclusion_proof")
        if not isinstance(proof, list):
            raise _fail(where, "'inclusion_proof' is a list", entry.position)
        found.append(_Rotation(entry, announcement,
                               [_b64(h, ROTATIONS, "a proof hash") for h in proof]))
    return found


def _trusted_through(rotations: list[_Rotation], keys: KeyRing, chain_id: str,
                     report: ArchiveReport) -> KeyRing:
    """`keys` and every successor announced, in an entry it validly signed, by a key
    trusted so far."""
    for rotation in rotations:
        entry, announcement = rotation.entry, rotation.announcement
        if announcement.predecessor not in keys or announcement.successor in keys:
            continue
        assert entry.event is not None
        try:
            signed_hash = entry_hash(chain_id, entry.position, entry.prev_hash,
                                     entry.event.digest())
        except LedgerError as error:
            raise _fail(ROTATIONS, str(error), entry.position) from None
        if entry.key_id != announcement.predecessor or not keys.verify(
                entry.key_id, signed_hash, entry.signature):
            raise _fail(ROTATIONS, f"the announcement of {announcement.successor} is not "
                                   f"signed by {announcement.predecessor}", entry.position)
        keys = keys.including({announcement.successor: announcement.public_key})
        report.facts.append(f"key {announcement.successor}: trusted through its "
                            f"announcement at position {entry.position} by "
                            f"{announcement.predecessor}")
    return keys


def _schedule(pkg: _Package, rotations: list[_Rotation], chain_id: str, root: bytes,
              first: int, last: int, report: ArchiveReport) -> KeySchedule | None:
    """Checks each announcement's inclusion in the checkpoint's tree and validity.json;
    returns the key schedule at the entry before `first` (None without announcements:
    the first entry's key is then in force throughout)."""
    for rotation in rotations:
        entry = rotation.entry
        assert entry.event is not None
        if not 1 <= entry.position <= last:
            raise _fail(ROTATIONS, f"an announcement at position {entry.position}, outside "
                                   f"the checkpoint's 1..{last}", entry.position)
        try:
            leaf = chain_leaf_hash(chain_id, entry.position, entry.prev_hash,
                                   entry.event.digest())
        except LedgerError as error:
            raise _fail(ROTATIONS, str(error), entry.position) from None
        if not verify_inclusion(leaf, entry.position - 1, last, rotation.proof, root):
            raise _fail(ROTATIONS, "the inclusion proof of the announcement does not "
                                   "verify against the checkpoint", entry.position)
    if not rotations:
        return None  # validity.json: checked against the entries' key after them
    stretches: dict[str, dict[str, int | None]] = {
        rotations[0].announcement.predecessor: {"in_force_from": 1, "in_force_to": None}}
    for rotation in rotations:
        p, a = rotation.entry.position, rotation.announcement
        stretches[a.predecessor]["in_force_to"] = p
        stretches[a.successor] = {"in_force_from": p + 1, "in_force_to": None}
    if VALIDITY in pkg.files and _json(pkg, VALIDITY) != stretches:
        raise _fail(VALIDITY, "the keys' stretches are not those the announcements give")
    report.facts.append("keys in force: " + "; ".join(
        f"{k} from {v['in_force_from']}" + (f" to {v['in_force_to']}"
                                            if v["in_force_to"] is not None else "")
        for k, v in stretches.items()))
    before = [r for r in rotations if r.entry.position < first]
    schedule = KeySchedule(
        in_force=before[-1].announcement.successor if before
        else rotations[0].announcement.predecessor,
        since=before[-1].entry.position + 1 if before else 1,
        retired={r.announcement.predecessor: r.entry.position for r in before})
    # Trust comes from the ring (pinned keys and what they vouched for), never from a
    # listed announcement alone.
    return schedule


def _json(pkg: _Package, name: str) -> dict[str, Any]:
    try:
        obj = json.loads(pkg.small(name).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _fail(name, "not UTF-8 JSON (or nested too deeply)") from None
    if not isinstance(obj, dict):
        raise _fail(name, "not a JSON object")
    return obj


def _bundled_keys(pkg: _Package) -> KeyRing:
    try:
        ids = pkg.small(KEYS + "KEYS").decode("ascii").split()
    except UnicodeDecodeError:
        raise _fail(KEYS + "KEYS", "not ASCII") from None
    found: dict[str, bytes] = {}
    for kid in ids:
        if not _KEY_ID.fullmatch(kid):
            raise _fail(KEYS + "KEYS", f"not a key id: {kid!r}")
        name = f"{KEYS}{kid}.pub"
        try:
            found[kid] = bytes.fromhex(pkg.small(name).decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            raise _fail(name, "not the hex of a public key") from None
    try:
        return KeyRing(found)
    except LedgerError as error:
        raise _fail(KEYS + "KEYS", str(error)) from None


def _link(link: dict[str, Any], chain_id: str, first: int
          ) -> tuple[ChainHead, MerkleFrontier, bytes | None, list[bytes]]:
    """The head before the package, the frontier of the first-1 leaves, and the entry
    before the package's leaf hash and inclusion proof (None, [] when first is 1)."""
    hashes = link.get("frontier")
    if not isinstance(hashes, list):
        raise _fail(LINK, "'frontier' is a list")
    try:
        frontier = MerkleFrontier(first - 1, tuple(_b64(h, LINK, "a frontier hash")
                                                   for h in hashes))
    except LedgerError as error:
        raise _fail(LINK, str(error)) from None
    previous = link.get("previous")
    if first == 1:
        if previous is not None:
            raise _fail(LINK, "the package starts the chain: no entry comes before it")
        return ChainHead(0, genesis_hash(chain_id)), frontier, None, []
    if not isinstance(previous, dict) or _int(previous, "position", LINK) != first - 1:
        raise _fail(LINK, f"'previous' is the entry {first - 1}", first - 1)
    prev_hash = _hex32(previous.get("prev_hash"), LINK, "prev_hash")
    digest = _hex32(previous.get("event_digest"), LINK, "event_digest")
    stated = _hex32(previous.get("entry_hash"), LINK, "entry_hash")
    if entry_hash(chain_id, first - 1, prev_hash, digest) != stated:
        raise _fail(LINK, "the entry hash does not recompute from its fields", first - 1)
    proof = previous.get("inclusion_proof")
    if not isinstance(proof, list):
        raise _fail(LINK, "'inclusion_proof' is a list", first - 1)
    return (ChainHead(first - 1, stated), frontier,
            chain_leaf_hash(chain_id, first - 1, prev_hash, digest),
            [_b64(h, LINK, "a proof hash") for h in proof])


class _Tree:
    """Follows the entries as `verify` consumes them: appends each entry's leaf, as
    recomputed from the chain so far, to the frontier; keeps the entry hash and root at
    the positions statements name. An entry that fails verification stops `verify`
    before its successor is pulled, so what is appended is what verified, up to one."""

    def __init__(self, chain_id: str, start: ChainHead, frontier: MerkleFrontier,
                 wanted: set[int], states: dict[int, tuple[bytes, bytes]]) -> None:
        self.chain_id, self.head, self.frontier = chain_id, start, frontier
        self.wanted, self.states = wanted, states

    def follow(self, entries: Iterator[StoredEntry]) -> Iterator[StoredEntry]:
        for entry in entries:
            yield entry
            if entry.event is None or entry.position != self.head.position + 1:
                return  # verify has stopped on it
            digest = entry.event.digest()
            p, prev = entry.position, self.head.entry_hash
            self.frontier = self.frontier.append(chain_leaf_hash(self.chain_id, p, prev,
                                                                 digest))
            self.head = ChainHead(p, entry_hash(self.chain_id, p, prev, digest))
            if p in self.wanted:
                self.states[p] = (self.head.entry_hash, self.frontier.root())


def _check_statement(pkg: _Package, item: object, states: dict[int, tuple[bytes, bytes]],
                     first: int, last: int) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("file"), str):
        raise _fail(PACKAGE, "a statement is an object with a 'file'")
    name = item["file"]
    if name not in pkg.files:
        raise _fail(name, "a statement the package lists is missing")
    position = _int(item, "position", PACKAGE)
    head = _hex32(item.get("head"), name, "the statement's head hash")
    root = _b64(item.get("root"), name, "the statement's Merkle root")
    if not first - 1 <= position <= last or position not in states:
        raise _fail(name, f"built from entry {position}, outside the package's chain "
                          f"{first - 1}..{last}", position)
    if states[position] != (head, root):
        raise _fail(name, "the journal state it names (entry hash, Merkle root) is not "
                          "this chain's at that position", position)
    if name.endswith(".csv"):
        text = pkg.small(name).decode("utf-8", errors="replace")
        if f"запись № {position}, хеш {head.hex()}" not in text:
            raise _fail(name, "its footnote does not name the journal state the package "
                              "lists for it", position)
