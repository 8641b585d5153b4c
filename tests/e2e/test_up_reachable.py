"""Reaching `modelplane up` as a user does: kubectl and `modelplane get` through the kubeconfig
it writes, whatever address it binds, and one clear line when there is nothing to reach."""

from __future__ import annotations

import socket
from pathlib import Path

import psutil
import pytest
import yaml
from cryptography import x509

from modelplane.controlplane import tls
from tests.support.controlplane import ControlPlane
from tests.support.process import run_cli

RUNTIME = """\
apiVersion: serving.kserve.io/v1alpha1
kind: ServingRuntime
metadata:
  name: my-runtime
spec:
  supportedModelFormats: [{name: sklearn, version: "1", autoSelect: true}]
  containers: [{name: kserve-container, image: modelplane}]
"""


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def certificate_names(cert: Path) -> set[str]:
    sans = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    dns = sans.value.get_values_for_type(x509.DNSName)
    return set(dns) | {str(ip) for ip in sans.value.get_values_for_type(x509.IPAddress)}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("0.0.0.0", "127.0.0.1"),
        pytest.param(
            "::",
            "[::1]",
            marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback"),
        ),
    ],
)
def test_up_on_a_wildcard_address_is_reached_through_its_kubeconfig(
    tmp_path: Path, host: str, loopback: str
) -> None:
    home = tmp_path / "home"
    # An earlier run's certificate, for localhost and 127.0.0.1 only.
    earlier = tls.ensure(home / "tls", ["localhost", "127.0.0.1"])
    ca_pem = earlier.ca_pem
    with ControlPlane(home, "--host", host) as plane:
        plane.wait_up()
        config = yaml.safe_load((home / "kubeconfig").read_text())
        server = f"https://{loopback}:{plane.api_port}"
        assert config["clusters"][0]["cluster"]["server"] == server

        applied = plane.kubectl("apply", "-f", "-", input=RUNTIME)
        assert applied.returncode == 0, applied.stderr
        assert applied.stdout.strip() == "servingruntime.serving.kserve.io/my-runtime created"
        listed = plane.cli("get", "servingruntimes", "-o", "name")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.strip() == "servingruntime.serving.kserve.io/my-runtime"
        empty = plane.cli("get", "isvc")
        assert (empty.returncode, empty.stderr) == (0, "No resources found in default namespace.\n")
        got = plane.kubectl("get", "clusterservingruntimes", "-o", "name")
        assert got.returncode == 0, got.stderr
        assert "clusterservingruntime.serving.kserve.io/kserve-sklearnserver" in got.stdout

        # The certificate was issued again under the same CA, for every name of this machine.
        assert (home / "tls" / "ca.crt").read_bytes() == ca_pem
        names = certificate_names(home / "tls" / "server.crt")
        assert {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()} <= names
        for entries in psutil.net_if_addrs().values():
            for entry in entries:
                if entry.family in (socket.AF_INET, socket.AF_INET6):
                    assert entry.address.split("%")[0] in names
        assert plane.terminate() == 0, plane.output

    # Stopped, the same kubeconfig says where it looked and what to run.
    stopped = plane.cli("get", "isvc")
    assert stopped.returncode == 1
    assert stopped.stderr.splitlines() == [
        f"error: cannot reach the control plane at {server} (connection refused): "
        "is it running? Start it with `modelplane up`"
    ]


def test_get_without_a_control_plane_says_to_run_up(tmp_path: Path) -> None:
    env = {"MODELPLANE_HOME": str(tmp_path)}
    never = run_cli("get", "isvc", env=env)
    assert never.returncode == 1 and never.stdout == ""
    assert never.stderr.splitlines() == [
        f"error: no kubeconfig at {tmp_path / 'kubeconfig'}: start the control plane with "
        "`modelplane up` (it writes one there), or pass --kubeconfig"
    ]


@pytest.mark.parametrize(
    "garbage", [b"clusters: [\n", b"\x89PNG\r\n\x1a\n\x00\x00", b"just: a map\n"]
)
def test_get_with_a_garbage_kubeconfig_names_the_file(tmp_path: Path, garbage: bytes) -> None:
    (tmp_path / "kubeconfig").write_bytes(garbage)
    result = run_cli("get", "isvc", env={"MODELPLANE_HOME": str(tmp_path)})
    assert result.returncode == 1 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert f"kubeconfig {tmp_path / 'kubeconfig'}" in line
    assert line.endswith("restart `modelplane up` to write it again, or pass --kubeconfig")
    assert "Traceback" not in result.stderr
