"""Key rotation announced in the chain (ADR 0016).

An institution's chain names the key that may sign it. At any position exactly one key
is *in force*: the key of the chain's first entry, until an entry announces a successor.
An announcement is an ordinary entry whose event has the topic `ANNOUNCEMENT_TOPIC` and
whose state is a JSON object with (at least) three strings:

    "predecessor"  the key id of the key in force, which must be the key signing the
                   announcement itself
    "successor"    the key id of the new key, lowercase hex, = key_id(public key)
    "public_key"   the new key's raw 32-byte Ed25519 public key, lowercase hex

From the entry after the announcement on, the successor is in force and the predecessor
is retired: an entry signed by any other key — a retired one above all — fails as
WRONG_KEY, even if the key is trusted and the signature is valid. A successor must be a
new key (never one retired before in the same verification). Trust passes with the
announcement: a key announced by a trusted key in force is trusted from then on, so an
auditor who pinned the first key verifies every later one from the chain itself.

`KeySchedule` follows a chain entry by entry; `ledger.chain.verify` drives it.
Standalone, like the rest of `ledger/`: the standard library and `cryptography`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ledger.encoding import PUBLIC_KEY_SIZE, key_id

ANNOUNCEMENT_TOPIC = "domain.signing:SigningKeys.Rotated"
MAX_ANNOUNCEMENT = 64 << 10  # bytes of state: an announcement is a few hundred
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_PUBLIC_HEX = re.compile(r"[0-9a-f]{64}")


class AnnouncementError(ValueError):
    """An entry with the announcement topic whose state is not a well-formed
    announcement."""


@dataclass(frozen=True)
class KeyAnnouncement:
    """A successor key announced by the key in force (`predecessor`)."""

    predecessor: str
    successor: str
    public_key: bytes


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """A JSON object whose names are unique (a repeated name could be read either way
    by another verifier): ValueError otherwise."""
    data = dict(pairs)
    if len(data) != len(pairs):
        raise ValueError("a name is repeated")
    return data


def is_announcement(topic: object) -> bool:
    """Whether an event with this topic announces a key."""
    return topic == ANNOUNCEMENT_TOPIC


def read_announcement(state: bytes) -> KeyAnnouncement:
    """The announcement in an announcement event's state bytes (UTF-8 JSON).

    Raises AnnouncementError if the state is not a JSON object, or its "predecessor" or
    "successor" is not a key id, or its "public_key" is not 64 lowercase hex digits, or
    the successor is not key_id(public key), or names the predecessor itself."""
    if not isinstance(state, bytes | bytearray) or len(state) > MAX_ANNOUNCEMENT:
        raise AnnouncementError("the state is not an announcement of a key")
    try:
        data = json.loads(bytes(state).decode("utf-8"), object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AnnouncementError("the state is not JSON (with each name once)") from None
    if not isinstance(data, dict):
        raise AnnouncementError("the state is not a JSON object")
    predecessor, successor, public = (data.get("predecessor"), data.get("successor"),
                                      data.get("public_key"))
    for name, value in (("predecessor", predecessor), ("successor", successor)):
        if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
            raise AnnouncementError(f"'{name}' is not a key id")
    if not isinstance(public, str) or not _PUBLIC_HEX.fullmatch(public):
        raise AnnouncementError("'public_key' is not the hex of a 32-byte public key")
    raw = bytes.fromhex(public)
    assert len(raw) == PUBLIC_KEY_SIZE
    if key_id(raw) != successor:
        raise AnnouncementError(f"'successor' {successor} is not the id of 'public_key' "
                                f"({key_id(raw)})")
    if successor == predecessor:
        raise AnnouncementError("a key cannot succeed itself")
    return KeyAnnouncement(str(predecessor), str(successor), raw)


@dataclass
class KeySchedule:
    """Which key is in force as a chain is followed.

    `in_force`: the key that must sign the next entry (None: not known yet — the next
    entry's key, if trusted, becomes the key in force); `since`: the position from which
    it is in force (0 if not known); `retired`: keys retired so far, with the position
    of the announcement that retired each; `announced`: successors' raw public keys."""

    in_force: str | None = None
    since: int = 0
    retired: dict[str, int] = field(default_factory=dict)
    announced: dict[str, bytes] = field(default_factory=dict)

    def copy(self) -> KeySchedule:
        return KeySchedule(self.in_force, self.since, dict(self.retired),
                           dict(self.announced))

    def wrong_key(self, position: int, key: str) -> str | None:
        """Why `key` may not sign the entry at `position`, or None if it may."""
        if key in self.retired:
            return (f"signed with key {key}, retired by the announcement at position "
                    f"{self.retired[key]}; key {self.in_force} is in force")
        if self.in_force is not None and key != self.in_force:
            return (f"signed with key {key}, but key {self.in_force} is in force "
                    f"(since position {self.since})")
        return None

    def signed(self, position: int, key: str, topic: str, state: bytes) -> str | None:
        """Records that `key` validly signed the entry at `position` with this event;
        applies an announcement. Returns why the entry is wrong (a malformed announcement,
        one that names another predecessor, or a retired successor), else None."""
        if self.in_force is None:
            self.in_force, self.since = key, position
        if not is_announcement(topic):
            return None
        try:
            announcement = read_announcement(state)
        except AnnouncementError as error:
            return f"a malformed key announcement: {error}"
        if announcement.predecessor != key:
            return (f"the announcement names predecessor {announcement.predecessor}, but "
                    f"key {key} signs it")
        if announcement.successor in self.retired:
            return (f"the announcement names key {announcement.successor}, retired at "
                    f"position {self.retired[announcement.successor]}: a retired key never "
                    f"signs again")
        self.retired[key] = position
        self.announced[announcement.successor] = announcement.public_key
        self.in_force, self.since = announcement.successor, position + 1
        return None


def key_after(key: str, topic: str, state: bytes) -> str:
    """The key in force after an entry signed by `key` with this event: the successor
    it announces, else `key`. AnnouncementError for a malformed announcement."""
    if not is_announcement(topic):
        return key
    return read_announcement(state).successor
