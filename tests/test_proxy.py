"""The transport the way users deploy it: through a real HTTP proxy (proxy.py, from PyPI, on
127.0.0.1), with ``HTTP_PROXY``/``HTTPS_PROXY``/``NO_PROXY``, and over TLS with the
``OTEL_EXPORTER_OTLP_*`` certificate settings (a private CA, a client certificate, the host-name
check). The user's program runs in a child process (fault_server.run_user)."""

from __future__ import annotations

import importlib.util
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_server import FaultServer, run_user

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("proxy") is None,
    reason="needs proxy.py (pip install proxy.py; in the test extra)",
)
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


class Proxy:
    """``proxy`` (proxy.py) on a free port of 127.0.0.1; its access log says what went through it."""

    def __init__(self, tmp: Path) -> None:
        self.log = tmp / "proxy.log"
        port_file = tmp / "proxy.port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
             "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
             "--log-file", str(self.log), "--log-level", "INFO"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("proxy.py did not start")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port_file.read_text().strip()}"

    def lines(self, needle: str, wait: float = 3.0) -> list[str]:
        """Access-log lines containing ``needle`` (waiting a little: the log is written after each)."""
        deadline = time.monotonic() + wait
        while True:
            text = self.log.read_text() if self.log.exists() else ""
            found = [line for line in text.splitlines() if needle in line and "access_log" in line]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    folder = tmp_path / "proxy"
    folder.mkdir()
    running = Proxy(folder)
    yield running
    running.stop()


@pytest.fixture
def server() -> Iterator[FaultServer]:
    fake = FaultServer()
    yield fake
    fake.close()


def test_http_proxy_carries_the_export(tmp_path: Path, proxy: Proxy, server: FaultServer) -> None:
    run = run_user(tmp_path, server.url, spans=10, env={"HTTP_PROXY": proxy.url})
    assert run.report["flushed"] is True, run.stderr
    assert len(server.stored) == 12
    assert proxy.lines(f"POST 127.0.0.1:{server.port}/v1/traces")
    assert proxy.lines(f"POST 127.0.0.1:{server.port}/v3/auth/token")


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
def test_no_proxy_goes_direct(tmp_path: Path, proxy: Proxy, server: FaultServer, no_proxy: str) -> None:
    run = run_user(tmp_path, server.url, spans=10, env={"http_proxy": proxy.url, "NO_PROXY": no_proxy})
    assert run.report["flushed"] is True, run.stderr
    assert len(server.stored) == 12
    assert proxy.lines(f"127.0.0.1:{server.port}", wait=1.0) == []


# -- TLS ------------------------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private CA, a server certificate for IP 127.0.0.1 (and one for DNS localhost only), and a
    client certificate, all signed by the CA."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    d = tmp_path_factory.mktemp("pki")
    files = {
        name: d / f"{name}.pem"
        for name in ("ca", "ca_key", "srv", "srv_key", "dns", "dns_key", "cli", "cli_key")
    }
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test CA",
             "-keyout", str(files["ca_key"]), "-out", str(files["ca"]))  # fmt: skip
    for name, san in (("srv", "IP:127.0.0.1"), ("dns", "DNS:localhost"), ("cli", "DNS:client")):
        csr = d / f"{name}.csr"
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                 "-keyout", str(files[f"{name}_key"]), "-out", str(csr))  # fmt: skip
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(files["ca"]), "-CAkey", str(files["ca_key"]),
                 "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(files[name]))  # fmt: skip
    return files


def _tls_server(pki: dict[str, Path], cert: str = "srv", client_ca: bool = False) -> FaultServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki[cert], pki[f"{cert}_key"])
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki["ca"])
    return FaultServer(tls=context)


@needs_openssl
def test_https_through_the_proxy_with_a_private_ca(
    tmp_path: Path, proxy: Proxy, pki: dict[str, Path]
) -> None:
    server = _tls_server(pki)
    try:
        env = {"HTTPS_PROXY": proxy.url, "OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki["ca"])}
        run = run_user(tmp_path, server.url, spans=10, env=env)
        assert run.report["flushed"] is True, run.stderr
        assert len(server.stored) == 12
        assert proxy.lines(f"CONNECT 127.0.0.1:{server.port}")  # a tunnel: the proxy sees no content
    finally:
        server.close()


@needs_openssl
@pytest.mark.parametrize("case", ["untrusted", "wrong host name"])
def test_certificate_and_host_name_are_checked(tmp_path: Path, pki: dict[str, Path], case: str) -> None:
    server = _tls_server(pki, cert="dns" if case == "wrong host name" else "srv")
    try:
        env = {"AGENTOPS_SHUTDOWN_TIMEOUT": "1"}
        if case == "wrong host name":
            env["OTEL_EXPORTER_OTLP_CERTIFICATE"] = str(pki["ca"])  # trusted, but issued for localhost
        run = run_user(tmp_path, server.url, spans=5, env=env)
        assert run.report["flushed"] is False
        assert server.seen == []  # no request got through the handshake
        assert "7 spooled" in run.stderr, run.stderr
    finally:
        server.close()


@needs_openssl
def test_client_certificate_from_the_environment(tmp_path: Path, pki: dict[str, Path]) -> None:
    server = _tls_server(pki, client_ca=True)
    try:
        trust = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki["ca"]), "AGENTOPS_SHUTDOWN_TIMEOUT": "1"}
        without = run_user(tmp_path, server.url, spans=5, env=trust)
        assert without.report["flushed"] is False and server.seen == []
        with_cert = run_user(
            tmp_path,
            server.url,
            spans=5,
            env={
                **trust,
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": str(pki["cli"]),
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": str(pki["cli_key"]),
            },
        )
        assert with_cert.report["flushed"] is True, with_cert.stderr
        assert len(server.stored) >= 7  # this run's spans (and the first run's, from the spool)
    finally:
        server.close()
