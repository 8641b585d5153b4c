"""Where the control plane is reached: the address dialled for a bind address, the names its
certificate carries."""

from __future__ import annotations

import socket

import psutil
import pytest

from modelplane.controlplane import addresses


@pytest.mark.parametrize(
    ("bind", "dialled"),
    [
        ("0.0.0.0", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("::", "::1"),
        ("0:0::0", "::1"),
        ("127.0.0.1", "127.0.0.1"),
        ("192.0.2.7", "192.0.2.7"),
        ("::1", "::1"),
        ("myhost.example", "myhost.example"),
    ],
)
def test_a_wildcard_is_dialled_at_the_loopback_address_of_its_family(
    bind: str, dialled: str
) -> None:
    assert addresses.dial_host(bind) == dialled


def test_urls_put_ipv6_addresses_in_brackets() -> None:
    assert addresses.url("https", "127.0.0.1", 6443) == "https://127.0.0.1:6443"
    assert addresses.url("https", "::1", 6443) == "https://[::1]:6443"
    assert addresses.host_port("::", 8081) == "[::]:8081"
    assert addresses.host_port("localhost", 8081) == "localhost:8081"


def test_the_machine_is_named_by_loopback_hostname_and_every_interface() -> None:
    names = addresses.machine_names("0.0.0.0")
    assert names[:3] == ["localhost", "127.0.0.1", "::1"]
    assert socket.gethostname() in names
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                assert entry.address.split("%")[0] in names
    assert "0.0.0.0" not in names
    assert len(names) == len(set(names))


def test_a_named_bind_address_is_among_the_names() -> None:
    assert "myhost.example" in addresses.machine_names("myhost.example")
    assert "::" not in addresses.machine_names("::")
