"""A timestamp authority of our own for the tests (RFC 3161), never a network one:
a P-256 root, a P-256 TSA certificate with a critical extendedKeyUsage timeStamping
issued by it, and `openssl ts -reply` behind a tiny HTTP server on 127.0.0.1 (an
ephemeral port, a thread). The response carries only the signer's certificate:
rfc3161-client refuses a response that also carries the CA."""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

POLICY = "1.3.6.1.4.1.99999.3161.1"  # a test policy OID

TSA_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = {policy}
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
# No `certs =` line: the response carries the signer's certificate only.


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ejournal tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_root(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(_name(common_name)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                         False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_tsa_cert(root_key: ec.EllipticCurvePrivateKey, root: x509.Certificate
                  ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name("ejournal test TSA"))
            .issuer_name(root.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=10))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False,
                                         False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return key, cert


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class LocalTsa:
    """`url` answers application/timestamp-query; `roots` is the PEM of its root;
    `other_roots` a PEM of an unrelated root. `up = False` answers 503."""

    directory: Path
    url: str
    roots: Path
    other_roots: Path
    server: ThreadingHTTPServer
    thread: threading.Thread
    requests: int = 0
    up: bool = True

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_local_tsa(directory: Path) -> LocalTsa:
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is not installed (apt-get install -y openssl)")
    directory.mkdir(parents=True, exist_ok=True)
    root_key, root = make_root("ejournal test TSA root")
    tsa_key, tsa_cert = make_tsa_cert(root_key, root)
    (directory / "root.pem").write_bytes(pem(root))
    (directory / "other-root.pem").write_bytes(pem(make_root("some other root")[1]))
    (directory / "tsa.pem").write_bytes(pem(tsa_cert))
    (directory / "tsa.key").write_bytes(tsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / "serial").write_text("01\n")
    (directory / "tsa.cnf").write_text(TSA_CONFIG.format(dir=directory, policy=POLICY))
    lock = threading.Lock()
    holder: list[LocalTsa] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            tsa = holder[0]
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if not tsa.up:
                self.send_error(503, "down for the test")
                return
            if self.headers.get("Content-Type") != "application/timestamp-query":
                self.send_error(415)
                return
            with lock:
                tsa.requests += 1
                query = directory / "query.tsq"
                query.write_bytes(body)
                done = subprocess.run(
                    ["openssl", "ts", "-reply", "-config", str(directory / "tsa.cnf"),
                     "-section", "tsa_config", "-queryfile", str(query),
                     "-signer", str(directory / "tsa.pem"),
                     "-inkey", str(directory / "tsa.key"),
                     "-out", str(directory / "reply.tsr")],
                    capture_output=True, check=False)
                if done.returncode != 0:
                    self.send_error(500, done.stderr.decode(errors="replace")[:200])
                    return
                reply = (directory / "reply.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="local-tsa", daemon=True)
    thread.start()
    tsa = LocalTsa(directory, f"http://127.0.0.1:{server.server_address[1]}/tsa",
                   directory / "root.pem", directory / "other-root.pem", server, thread)
    holder.append(tsa)
    return tsa
