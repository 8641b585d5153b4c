"""Where the control plane is reached: the address a client dials for a bind address, and every
name of this machine that the API server's certificate carries.

A wildcard bind (`0.0.0.0`, `::`) listens on every interface but is no address to dial, so the
kubeconfig points at the loopback address of its family. The certificate names localhost, both
loopback addresses, the hostname and every interface address, so a client that dials this machine
by any of them (kubectl from another host, with the kubeconfig's server changed) verifies it.
"""

from __future__ import annotations

import ipaddress
import socket

import psutil

from modelplane.controlplane import tls


def dial_host(bind_host: str) -> str:
    """The address a client on this machine dials to reach a server bound to `bind_host`."""
    try:
        address = ipaddress.ip_address(bind_host)
    except ValueError:  # a host name; "" binds every IPv4 interface, as 0.0.0.0
        return bind_host or "127.0.0.1"
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


def host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 address in brackets (`[::1]:6443`), as URLs and gRPC targets take it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{host_port(host, port)}"


def machine_names(bind_host: str) -> list[str]:
    """localhost, the loopback addresses, the hostname, every interface's address, and the
    bind address itself unless it is a wildcard: the names the API server answers to."""
    names = [*tls.LOOPBACK, socket.gethostname()]
    for entries in psutil.net_if_addrs().values():
        names += [
            entry.address.split("%", 1)[0]  # an IPv6 link-local address's zone is no SAN
            for entry in entries
            if entry.family in (socket.AF_INET, socket.AF_INET6)
        ]
    if bind_host and dial_host(bind_host) == bind_host:
        names.append(bind_host)
    return list(dict.fromkeys(names))
