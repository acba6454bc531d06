"""C2SP signed notes, checkpoints and tlog proofs (ADR 0011).

Vectors from the specs themselves, C2SP/C2SP at commit
99fd482db06deca04d3fc80446a030ff9a947e97 (tags signed-note/v1.0.0 and
tlog-checkpoint/v1.0.0): the example verifier key and the note it verifies
(signed-note.md), the quasimodo note (its key is not published: parsed only), the
behind-the-sofa checkpoint (parsed only); tlog-proof.md at commit
ab17a74116563005f908b9167e6421cc929a5c2b (its example's signatures are elided, so only
its header lines are used). Notes of our own are checked against an independent
construction here (hashlib + cryptography)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import ledger
from ledger import note

EXAMPLE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_NOTE = ("This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv"
                "1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")
QUASIMODO = ("Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
             "ed è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/"
             "5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n")
SOFA = ("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        "\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN"
        "7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n")
ORIGIN = "ejournal.example/school-7"
SEED = bytes(range(32))


def signer(name: str = ORIGIN, seed: bytes = SEED) -> note.NoteSigner:
    return note.NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed))


def ref_signature_line(name: str, seed: bytes, text: str) -> str:
    """Independent construction from signed-note v1.0.0."""
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = key.public_key().public_bytes_raw()
    kid = hashlib.sha256(name.encode() + b"\x0a\x01" + pub).digest()[:4]
    return "\u2014 " + name + " " + base64.b64encode(kid + key.sign(text.encode())).decode() + "\n"


# Verifier keys ----------------------------------------------------------------------------

def test_the_spec_example_vkey_parses_and_reencodes() -> None:
    v = note.parse_vkey(EXAMPLE_VKEY)
    assert (v.name, v.key_id.hex()) == ("example.com/foo", "530d903a")
    assert v.vkey() == EXAMPLE_VKEY
    assert note.encode_vkey(v.name, v.public_key) == EXAMPLE_VKEY


def test_a_vkey_whose_base64_holds_a_plus_parses() -> None:
    for i in range(64):  # find a key whose vkey's base64 contains "+"
        s = signer("ejournal.example/x", bytes([i]) * 32)
        if "+" in s.verifier().vkey().split("+", 2)[2]:
            assert note.parse_vkey(s.verifier().vkey()) == s.verifier()
            return
    pytest.fail("no key with '+' in its base64 found")


@pytest.mark.parametrize("vkey", [
    "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # wrong ID
    "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # other name
    "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # upper hex
    "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # bad base64
    "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  # type 0x02..
    "example.com/foo+530d903a", "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    "exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
])
def test_malformed_vkeys_are_refused(vkey: str) -> None:
    with pytest.raises(ledger.NoteFormatError):
        note.parse_vkey(vkey)


# Notes ------------------------------------------------------------------------------------

def test_the_spec_example_note_verifies_with_the_spec_example_key() -> None:
    text, verified = note.open_note(EXAMPLE_NOTE, [note.parse_vkey(EXAMPLE_VKEY)])
    assert text == "This is an example message.\n"
    assert [v.name for v in verified] == ["example.com/foo"]
    assert note.open_note(EXAMPLE_NOTE.encode(), [note.parse_vkey(EXAMPLE_VKEY)])[0] == text


def test_a_changed_example_note_is_rejected() -> None:
    with pytest.raises(ledger.NoteVerificationError):
        note.open_note(EXAMPLE_NOTE.replace("example message", "example massage"),
                       [note.parse_vkey(EXAMPLE_VKEY)])


def test_the_text_ends_at_the_last_blank_line() -> None:
    parsed = note.parse_note(QUASIMODO)
    assert parsed.text.endswith("\n\ned è subito sera.\n")
    assert [s.name for s in parsed.signatures] == ["quasimodo.example/salvatore"]
    with pytest.raises(ledger.NoteVerificationError, match="no known key"):
        note.open_note(QUASIMODO, [note.parse_vkey(EXAMPLE_VKEY)])


def test_our_signature_lines_equal_an_independent_construction() -> None:
    text = "hello\nмир\n"
    assert note.sign_note(text, [signer()]) == text + "\n" + ref_signature_line(ORIGIN, SEED,
                                                                                 text)


def test_unknown_signatures_are_ignored_and_a_note_no_known_key_signs_is_rejected() -> None:
    text = "a text\n"
    log, witness = signer(), signer("witness.example", bytes([9]) * 32)
    signed = note.sign_note(text, [witness, log])
    assert note.open_note(signed, [log.verifier()])[1] == [log.verifier()]
    with pytest.raises(ledger.NoteVerificationError):
        note.open_note(signed, [signer("other.example", bytes([7]) * 32).verifier()])
    # Same name, other key (hence other ID): ignored, so nothing known signs.
    same_name = signer(ORIGIN, bytes([8]) * 32).verifier()
    with pytest.raises(ledger.NoteVerificationError, match="no known key"):
        note.open_note(note.sign_note(text, [log]), [same_name])


def test_a_bad_signature_by_a_known_key_rejects_the_note() -> None:
    log = signer()
    good = note.sign_note("a\n", [log])
    forged = note.sign_note("b\n", [log]).replace("b\n", "a\n", 1)
    assert note.open_note(good, [log.verifier()])
    with pytest.raises(ledger.NoteVerificationError):
        note.open_note(forged, [log.verifier()])


def test_at_most_16_signatures() -> None:
    text = "t\n"
    signers = [signer(f"w{i}.example", bytes([i]) * 32) for i in range(16)]
    signed = note.sign_note(text, signers)
    assert note.open_note(signed, [signers[15].verifier()])
    extra = ref_signature_line("w16.example", bytes([16]) * 32, text)
    with pytest.raises(ledger.NoteFormatError, match="more than 16"):
        note.open_note(signed + extra, [signers[0].verifier()])


@pytest.mark.parametrize("bad", [
    "no blank line\n— a AAAAAAA=\n", "text\n\n", "text\n\n— a AAAAAAA=",
    "text\n\n- a AAAAAAA=\n", "text\n\n— a\n", "text\n\n— a AAAA\n", "text\n\n— a !!!!\n",
    "te\x01xt\n\n— a AAAAAAA=\n", "text\r\n\n— a AAAAAAA=\n", "text\n\n— a+b AAAAAAA=\n",
    b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n",
])
def test_malformed_notes_are_refused(bad: str | bytes) -> None:
    with pytest.raises(ledger.NoteFormatError):
        note.parse_note(bad)


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", "nul\x00\n"])
def test_invalid_texts_are_not_signed(text: str) -> None:
    with pytest.raises(ledger.NoteFormatError):
        note.sign_note(text, [signer()])


# Checkpoints ------------------------------------------------------------------------------

def test_the_spec_checkpoint_body_parses() -> None:
    cp = note.Checkpoint.parse(note.parse_note(SOFA).text)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.body() == note.parse_note(SOFA).text


@pytest.mark.parametrize("body", [
    "o\n012\n" + "A" * 43 + "=\n", "o\n+12\n" + "A" * 43 + "=\n", "o\n 12\n" + "A" * 43 + "=\n",
    "o\n12\n" + "A" * 43 + "=", "o\n12\n", "\n12\n" + "A" * 43 + "=\n",
    "o\n12\n" + "A" * 43 + "=\n\n", "o\n12\n" + "A" * 43 + "=\next\n\n",
    "o\n12\n" + "A" * 42 + "==\n", "o\n12\n" + "A" * 43 + "B\n", "o\n12\n" + "A" * 42 + "B=\n",
    "o\n١٢\n" + "A" * 43 + "=\n", "o\n18446744073709551616\n" + "A" * 43 + "=\n",
    "o\x7f\x01\n12\n" + "A" * 43 + "=\n",
])
def test_malformed_checkpoint_bodies_are_refused(body: str) -> None:
    with pytest.raises(ledger.NoteFormatError):
        note.Checkpoint.parse(body)


def test_a_checkpoint_with_extensions_round_trips() -> None:
    cp = note.Checkpoint(ORIGIN, 0, bytes(32), ("ext one", "ext two"))
    assert note.Checkpoint.parse(cp.body()) == cp
    assert cp.body() == f"{ORIGIN}\n0\n{'A' * 43}=\next one\next two\n"


def test_a_checkpoint_must_be_signed_by_a_key_named_as_its_origin() -> None:
    cp = note.Checkpoint(ORIGIN, 5, ledger.merkle.EMPTY_ROOT)
    log, witness = signer(), signer("witness.example", bytes([3]) * 32)
    signed = note.sign_checkpoint(cp, [log, witness])
    assert note.open_checkpoint(signed, [log.verifier(), witness.verifier()]) == cp
    assert note.open_checkpoint(signed, [log.verifier()], origin=ORIGIN) == cp
    with pytest.raises(ledger.NoteVerificationError, match="named"):
        note.open_checkpoint(signed, [witness.verifier()])
    with pytest.raises(ledger.NoteVerificationError, match="origin"):
        note.open_checkpoint(signed, [log.verifier()], origin="ejournal.example/other")
    with pytest.raises(ledger.NoteFormatError):
        note.sign_checkpoint(cp, [witness])


# tlog proofs ------------------------------------------------------------------------------

SPEC_PROOF_HEAD = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

"""


def test_the_spec_proof_header_parses_and_round_trips() -> None:
    text = SPEC_PROOF_HEAD + EXAMPLE_NOTE  # the spec's checkpoint has elided signatures
    proof = note.TlogProof.parse(text)
    assert proof.index == 73894 and len(proof.proof) == 5
    assert proof.extra == base64.b64decode("YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ")
    assert proof.checkpoint == EXAMPLE_NOTE
    assert proof.text() == text


def chain_proof(n: int = 11, index: int = 6) -> tuple[list[bytes], str, note.NoteSigner]:
    chain = "ejournal:школа-7"
    head = ledger.ChainHead.empty(chain)
    events = [ledger.EventContent(bytes([i]) * 16, 1, "t", b"s%d" % i) for i in range(n)]
    entries, _ = ledger.append(chain, head, events,
                               ledger.Signer(Ed25519PrivateKey.from_private_bytes(SEED)))
    leaves = [ledger.chain_leaf(chain, e.position, e.prev_hash, e.event_digest) for e in entries]
    hashes = [ledger.leaf_hash(x) for x in leaves]
    log = signer()
    cp = note.sign_checkpoint(note.Checkpoint(ORIGIN, n, ledger.root_hash(hashes)), [log])
    proof = note.TlogProof(index, tuple(ledger.inclusion_proof(index, n, hashes)), cp,
                           leaves[index])
    return hashes, proof.text(), log


def test_a_tlog_proof_of_a_chain_entry_verifies() -> None:
    hashes, text, log = chain_proof()
    proof, cp = note.open_tlog_proof(text, hashes[6], [log.verifier()], origin=ORIGIN)
    assert (proof.index, cp.size) == (6, 11)
    assert ledger.parse_chain_leaf(proof.extra or b"")[1] == 7  # position = index + 1
    assert note.TlogProof.parse(text).text() == text


def test_a_tlog_proof_for_another_leaf_or_index_or_key_fails() -> None:
    hashes, text, log = chain_proof()
    with pytest.raises(ledger.NoteVerificationError):
        note.open_tlog_proof(text, hashes[5], [log.verifier()])
    with pytest.raises(ledger.NoteVerificationError):
        note.open_tlog_proof(text.replace("index 6", "index 7"), hashes[6], [log.verifier()])
    with pytest.raises(ledger.NoteVerificationError):
        note.open_tlog_proof(text, hashes[6], [signer(ORIGIN, bytes(32)).verifier()])
    lines = text.split("\n")
    lines[3] = base64.b64encode(bytes(32)).decode()
    with pytest.raises(ledger.NoteVerificationError):
        note.open_tlog_proof("\n".join(lines), hashes[6], [log.verifier()])


@pytest.mark.parametrize("head", [
    "c2sp.org/tlog-proof@v2\nindex 0\n\n", "c2sp.org/tlog-proof@v1\nindex 01\n\n",
    "c2sp.org/tlog-proof@v1\n\n", "c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n",
    "c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n",
    "c2sp.org/tlog-proof@v1\nindex 0\nextra AAAA\n\n",
])
def test_malformed_tlog_proofs_are_refused(head: str) -> None:
    with pytest.raises(ledger.NoteFormatError):
        note.TlogProof.parse(head + EXAMPLE_NOTE)
