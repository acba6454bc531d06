"""The keys that sign the record (ADR 0016): which private key signs, and the rotation
of the signing key — announced in every institution's chain by the key it retires, then
made active, then the retired private key destroyed.

`KeyDirectory` loads signing keys from the deployment's key directory by id and follows
its ACTIVE file, so a rotation made by another process (`ejournal ledger rotate-key`)
reaches a running server without a restart. `Signing` is the use case that writes an
announcement into one institution's chain."""

from __future__ import annotations

import logging
import os
import re
import threading
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

import ledger
from application.store import Area
from application.unit_of_work import units_of_work
from domain.errors import DomainError
from domain.signing import SigningKeys
from domain.values import Capacity

log = logging.getLogger("ejournal.integrity")
_KEY_ID = re.compile(r"[0-9a-f]{32}")


class SigningKeyUnavailable(DomainError):
    """The key in force in a chain has no private key here: nothing can be written."""

    code = "signing_key_unavailable"
    title = "Ключ подписи недоступен"


class SodiumSigner(ledger.Signer):
    """A `ledger.Signer` whose entry signatures — one per event, the write side's hot
    path — are made by libsodium (PyNaCl), about 1.5× faster here than OpenSSL through
    `cryptography` (ADR 0017). Ed25519 is deterministic (RFC 8032): the signature bytes
    are the same as `ledger.Signer.sign` makes, so what verifies them (`ledger/`, the
    auditor's tool, `cryptography` alone) does not change. Everything else it signs
    (checkpoints, marks, manifests) goes through `ledger.Signer` unchanged."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        super().__init__(private_key)
        seed = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        public, self._sodium_key = nacl.bindings.crypto_sign_seed_keypair(seed)
        if public != self.public_key_raw:  # the two libraries derive the same key
            raise ledger.InvalidKeyFile("libsodium derives another public key")

    def sign(self, entry_hash: bytes) -> bytes:
        """As `ledger.Signer.sign`: the Ed25519 signature of SIGNATURE_TAG || entry_hash
        (EncodingError unless entry_hash is 32 bytes)."""
        signed = nacl.bindings.crypto_sign(ledger.signing_message(entry_hash),
                                           self._sodium_key)
        return signed[:nacl.bindings.crypto_sign_BYTES]


class KeyDirectory:
    """Signers from one key directory: the ACTIVE key (re-read when the file changes)
    and any key by id (loaded once, kept while the process runs)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._signers: dict[str, ledger.Signer] = {}
        self._active: tuple[tuple[int, int], ledger.Signer] | None = None
        ledger.Signer.from_directory(self.directory)  # fails early without a usable key

    def active(self) -> ledger.Signer:
        """The signer of the key that ACTIVE names now (SigningKeyUnavailable if ACTIVE
        is gone or does not name a key here)."""
        try:
            stat = os.stat(self.directory / ledger.keys.ACTIVE)
        except OSError as error:
            log.critical("the key directory has no ACTIVE key: %s", error)
            raise SigningKeyUnavailable("Действующий ключ подписи не найден: запись "
                                        "невозможна до вмешательства администратора.") from None
        stamp = (stat.st_mtime_ns, stat.st_ino)
        with self._lock:
            if self._active is not None and self._active[0] == stamp:
                return self._active[1]
        try:
            active = ledger.active_key(self.directory)
        except ledger.LedgerError as error:
            log.critical("the key directory's ACTIVE is unusable: %s", error)
            raise SigningKeyUnavailable("Действующий ключ подписи не найден: запись "
                                        "невозможна до вмешательства администратора.") from None
        signer = self.signer(active)
        with self._lock:
            self._active = (stamp, signer)
        return signer

    def signer(self, key_id: str) -> ledger.Signer:
        """The signer of `key_id`. SigningKeyUnavailable if the directory has no usable
        private key of that id (destroyed on retirement, or another deployment's)."""
        with self._lock:
            signer = self._signers.get(key_id)
        if signer is not None:
            return signer
        try:
            signer = SodiumSigner.from_directory(self.directory, key_id)
        except ledger.LedgerError as error:
            log.critical("the signing key in force %s cannot be loaded: %s", key_id, error)
            raise SigningKeyUnavailable(
                f"Ключ подписи {key_id}, действующий в журнале, здесь недоступен: запись "
                "невозможна до вмешательства администратора (ADR 0016).") from None
        with self._lock:
            self._signers.setdefault(key_id, signer)
        return signer

    def holds(self, key_id: str) -> bool:
        """Whether the directory holds the private key `key_id` (a retired key's is
        destroyed)."""
        return isinstance(key_id, str) and bool(_KEY_ID.fullmatch(key_id)) and (
            self.directory / f"{key_id}{ledger.keys.PRIVATE_SUFFIX}").is_file()

    def forget(self, key_id: str) -> None:
        """Drops a retired key's signer from memory."""
        with self._lock:
            self._signers.pop(key_id, None)


@units_of_work
class Signing(Area):
    def key_in_force(self) -> str | None:
        """The key that signs this institution's next entry (None for an empty chain)."""
        guard = self.store.chain.guard
        keys = guard.keys if guard is not None else None  # type: ignore[attr-defined]
        return None if keys is None else keys.in_force

    def announce(self, successor: str, public_key: bytes, basis: str) -> bool:
        """Writes the announcement of `successor` (its raw public key) in place of the
        key in force, signed by that key; False if `successor` is in force already (a
        rotation run again after a failure)."""
        predecessor = self.key_in_force()
        if predecessor == successor:
            return False
        if predecessor is None:
            raise SigningKeyUnavailable("В журнале организации ещё нет записей: ключ "
                                        "подписи не действует.")
        keys_id = SigningKeys.create_id(self.store.institution_id)
        keys = self.store.find(SigningKeys, keys_id)
        keys = self._get(SigningKeys, keys_id) if keys is not None else SigningKeys(
            institution_id=self.store.institution_id)
        act = self._act(None, Capacity.SYSTEM)
        keys.rotate(predecessor, successor, public_key.hex(), basis, act)
        self._save(keys)
        return True
