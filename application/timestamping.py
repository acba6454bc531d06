"""RFC 3161 timestamps of signed checkpoints (ADR 0013).

A checkpoint note says what the log was; a timestamp authority's token says that the
note existed no later than the TSA's genTime, signed by a third party the institution
does not control. The request covers SHA-256 of the note's bytes exactly as stored (the
UTF-8 text that `ejournal ledger checkpoint` prints). What is kept is the TSA's whole
reply (TimeStampResp DER, a `.tsr` file: status and the TimeStampToken), since that is
what rfc3161-client and `openssl ts -verify -in` read.

This module, not `ledger/`, holds the rfc3161-client code: `ledger/` stays standard
library + `cryptography`, so an auditor's copy of it has nothing more to install. An
auditor without the service checks a token with `openssl ts -verify -data NOTE -in
TOKEN.tsr -CAfile ROOTS.pem`, or with `ejournal ledger verify-timestamp`."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

QUERY_TYPE = "application/timestamp-query"
# RFC 3161 §3.4; some older TSAs still answer with the draft's name.
REPLY_TYPES = ("application/timestamp-reply", "application/timestamp-response")
MAX_REPLY = 256 * 1024  # a reply is a few KB: certificates and a signature


class TimestampUnavailable(Exception):
    """No usable token from the TSA: unreachable, an HTTP error, a refusal, a reply that
    does not answer our request. The checkpoint is kept; the token is asked for again."""


@dataclass(frozen=True)
class Token:
    """A TSA's reply for one message: DER as received, and what it says."""

    response: bytes
    gen_time: datetime
    digest: bytes  # SHA-256 of the message, as the token's imprint says
    tsa: str  # the signer certificate's subject


@dataclass(frozen=True)
class TimestampCheck:
    """The verdict on a token: `ok` with the TSA's genTime, or the reason it fails."""

    ok: bool
    gen_time: datetime | None = None
    reason: str = ""
    tsa: str = ""  # the signer's subject, when known

    def __str__(self) -> str:
        if self.ok:
            assert self.gen_time is not None
            return f"OK genTime {self.gen_time.isoformat()} ({self.tsa})"
        return f"FAILED: {self.reason}"


@dataclass
class TimestampOutcome:
    """What a round of timestamping did for an institution's checkpoints."""

    stamped: list[tuple[int, str, datetime]] = field(default_factory=list)
    missing: list[tuple[int, str]] = field(default_factory=list)  # (size, origin)
    error: str | None = None


def load_roots(path: Path) -> list[x509.Certificate]:
    """The trusted TSA roots: every certificate of a PEM file (ValueError if none)."""
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    if not certificates:
        raise ValueError(f"{path}: no certificate")
    return certificates


def verify_token(message: bytes, response: bytes, roots: Sequence[x509.Certificate], *,
                 nonce: int | None = None) -> TimestampCheck:
    """Checks a TSA reply (TimeStampResp DER) against `message` — the note's bytes — and
    the trusted roots, with rfc3161-client's verifier: status granted, the CMS signature
    by a certificate that chains to one of the roots and was valid at genTime, a critical
    timeStamping EKU, and the imprint equal to the message's hash (the token's own
    algorithm: SHA-256, -384 or -512). Never raises for a bad token."""
    if not roots:
        return TimestampCheck(False, reason="no trusted TSA root given")
    try:
        reply = decode_timestamp_response(response)
    except Exception as error:  # the parser's errors are not one class
        return TimestampCheck(False, reason=f"not a timestamp reply: {error}")
    if reply.status != PKIStatus.GRANTED:
        return TimestampCheck(False, reason=f"the TSA did not grant it (status "
                                            f"{reply.status}: {reply.status_string})")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    if nonce is not None:
        builder = builder.nonce(nonce)
    try:
        builder.build().verify_message(reply, message)
    except VerificationError as error:
        reason = str(error)
        if "Mismatch between messages" in reason:
            reason = "the token is for other bytes than this checkpoint note"
        elif "certificate verify error" in reason:
            reason = f"the TSA's certificate does not chain to a trusted root ({reason})"
        return TimestampCheck(False, reason=reason)
    except Exception as error:  # malformed content inside a well-formed envelope
        return TimestampCheck(False, reason=f"unreadable token: {error}")
    return TimestampCheck(True, reply.tst_info.gen_time, tsa=_signer(reply))


def _signer(reply: object) -> str:
    try:
        certificates = reply.signed_data.certificates  # type: ignore[attr-defined]
        return x509.load_der_x509_certificate(next(iter(certificates))).subject.rfc4514_string()
    except Exception:
        return "signer certificate not in the reply"


def request_token(url: str, message: bytes, *, timeout: float,
                  roots: Sequence[x509.Certificate] = ()) -> Token:
    """Asks the TSA at `url` (HTTP POST, RFC 3161 §3.4) to timestamp SHA-256(message),
    with a fresh nonce and the signer's certificate requested. The reply must be granted,
    answer this request (nonce, imprint) and — if `roots` are given — verify against
    them; TimestampUnavailable otherwise, with the reason."""
    try:
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise TimestampUnavailable(f"{url}: not an http(s) URL")
        query = (TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256)
                 .nonce(nonce=True).cert_request(cert_request=True).build())
        request = urllib.request.Request(url, data=query.as_bytes(), method="POST", headers={
            "Content-Type": QUERY_TYPE, "Accept": REPLY_TYPES[0]})
    except ValueError as error:  # a URL urllib cannot parse ('http://[::1')
        raise TimestampUnavailable(f"{url}: not a usable URL: {error}") from None
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            kind = reply.headers.get_content_type()
            body = reply.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as error:
        raise TimestampUnavailable(f"{url}: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise TimestampUnavailable(f"{url}: {reason}") from None
    if kind not in REPLY_TYPES:
        raise TimestampUnavailable(f"{url}: answered {kind}, not a timestamp reply")
    if len(body) > MAX_REPLY:
        raise TimestampUnavailable(f"{url}: a reply over {MAX_REPLY} bytes")
    digest = hashlib.sha256(message).digest()
    try:
        parsed = decode_timestamp_response(body)
    except Exception as error:
        raise TimestampUnavailable(f"{url}: not a timestamp reply: {error}") from None
    if parsed.status != PKIStatus.GRANTED:
        raise TimestampUnavailable(f"{url}: refused (status {parsed.status}: "
                                   f"{parsed.status_string})")
    info = parsed.tst_info
    if info.nonce != query.nonce:
        raise TimestampUnavailable(f"{url}: the reply does not answer our request (nonce)")
    if info.message_imprint.message != digest:
        raise TimestampUnavailable(f"{url}: the reply timestamps other bytes")
    if roots:
        check = verify_token(message, body, roots, nonce=query.nonce)
        if not check.ok:
            raise TimestampUnavailable(f"{url}: the token does not verify: {check.reason}")
    return Token(body, info.gen_time, digest, _signer(parsed))


def check_stored(note: bytes, response: bytes, gen_time: datetime, tsa: str,
                 roots: Sequence[x509.Certificate]) -> str | None:
    """Why a stored token row (ADR 0013) is not a TSA's reply for this checkpoint note,
    or None: the reply must parse as a granted TimeStampResp whose imprint is SHA-256 of
    the note's bytes, whose genTime is the row's and whose signer is the row's `tsa`;
    and, with `roots` (EJOURNAL_TSA_ROOTS), verify against them. Never raises."""
    try:
        reply = decode_timestamp_response(response)
        if reply.status != PKIStatus.GRANTED:
            return f"the TSA did not grant it (status {reply.status})"
        info = reply.tst_info
        imprint, stamped = info.message_imprint.message, info.gen_time
    except Exception as error:  # the parser's errors are not one class
        return f"not a timestamp reply: {type(error).__name__}: {error}"
    if imprint != hashlib.sha256(note).digest():
        return "its imprint is not SHA-256 of the checkpoint note"
    if _utc(stamped) != _utc(gen_time):
        return f"the token's genTime is {stamped.isoformat()}, not the row's {gen_time}"
    if _signer(reply) != tsa:
        return f"the token is signed by {_signer(reply)!r}, not the row's {tsa!r}"
    if roots:
        check = verify_token(note, response, roots)
        if not check.ok:
            return f"it does not verify against EJOURNAL_TSA_ROOTS: {check.reason}"
    return None


def _utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
