"""Binding the ports servers listen on, with a failure that names the setting to change.

uvicorn exits the process when it cannot bind, and gRPC's C core logs a line of its own before it
raises, so neither says which option chose a taken port. Servers take their ports here first:
uvicorn is handed a listening socket, and a gRPC port is checked free just before gRPC binds it.
A port that cannot be had is a `PortUnavailable` carrying the setting's name (`http_port`).
"""

from __future__ import annotations

import errno
import socket

from modelplane.core import errors

_REASONS = {
    errno.EADDRINUSE: "the port is already in use; stop what listens on it, or choose another "
    "port (0 picks a free one)",
    errno.EACCES: "permission denied: ports below 1024 need privileges; choose a higher one",
    errno.EADDRNOTAVAIL: "no network interface of this machine has that address",
}


def family(host: str) -> socket.AddressFamily:
    """IPv6 for an address with a colon, IPv4 otherwise (a name resolves as IPv4), as uvicorn."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening(host: str, port: int, setting: str, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket listening on host:port (0 picks a free port), for a server to accept on.

    It listens at once, so a second port of the same process given the same number is refused
    here too (SO_REUSEADDR lets two sockets bind one port until one of them listens).
    `reuse_port` lets sibling worker processes listen on the same port.
    """
    sock = reserve(host, port, setting, reuse_port=reuse_port)
    sock.listen()
    return sock


def reserve(host: str, port: int, setting: str, *, reuse_port: bool = True) -> socket.socket:
    """A TCP socket bound to host:port and not listening: the port is held, and with
    `reuse_port` (SO_REUSEPORT) processes started later can listen on it."""
    # IPPROTO_TCP named, not 0: asyncio turns Nagle off (TCP_NODELAY) only on connections
    # whose socket says it is TCP, and accepted sockets inherit this one's proto. Without it an
    # answer written as head then body waits ~40 ms for the peer's delayed ACK.
    sock = socket.socket(family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # SO_REUSEADDR, as every server sets it: a restart is not refused for the minutes the
        # last run's closed connections linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if sock.family == socket.AF_INET6:
            # As asyncio binds: "::" is IPv6 only; the IPv4 wildcard is 0.0.0.0.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)
        raise errors.PortUnavailable(setting, host, port, reason) from None
    return sock


def check_free(host: str, port: int, setting: str) -> None:
    """Raise `PortUnavailable` unless host:port can be bound now, for a server that binds it
    itself (gRPC). Port 0 is always free."""
    if port != 0:
        reserve(host, port, setting, reuse_port=False).close()
