"""Where partner webhooks may go: the egress rules against server-side request forgery.

An administrator registers a partner's URL, and the dispatcher then posts to it from inside the
city's network. Production therefore posts only over https, to URLs without credentials, and
only to public addresses: loopback, private, link-local, shared (carrier-grade NAT), multicast,
reserved and cloud metadata addresses are refused, unless an operator allow-lists a private
network for a partner on premises (`LINLI_NOTIFY_WEBHOOK_ALLOWED_NETWORKS`; metadata addresses
never). The name is checked when the URL is registered and again, resolved, at every delivery;
the request then goes to the very address that was checked (the Host header and TLS SNI keep the
name), so a DNS answer that changes between check and connect (rebinding) cannot redirect it.
Development and tests (not production) may post over http to loopback and private receivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from dataclasses import dataclass

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services: AWS/GCP/Azure/OpenStack, Alibaba Cloud, AWS over IPv6.
METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "100.100.100.200", "fd00:ec2::254")
)


class EgressRefused(Exception):
    """A webhook URL or the address it resolves to is outside the egress rules."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unresolved(EgressRefused):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class Target:
    """A checked destination: the URLs to connect to (one per checked address, in the resolver's
    order: the next is tried when one does not connect) and the name they had."""

    urls: tuple[httpx.URL, ...]
    host_header: str
    server_name: str | None  # TLS SNI and certificate name; None over http


def classify(address: Address) -> str | None:
    """Why `address` is no place for a webhook (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            address = embedded
    if address in METADATA:
        return "a cloud metadata address"
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return f"a {kind} address"
    return None if address.is_global else "a non-public address"


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4, Teredo), which decides."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


@dataclass(frozen=True)
class EgressPolicy:
    public_only: bool = True  # production; False lets development post to http and local hosts
    allowed: tuple[Network, ...] = ()

    @classmethod
    def of(cls, production: bool, allowed_networks: list[str]) -> EgressPolicy:
        return cls(
            public_only=production,
            allowed=tuple(ipaddress.ip_network(n, strict=False) for n in allowed_networks),
        )

    def check_url(self, url: str) -> httpx.URL:
        """The rules a URL must meet before any lookup: scheme, no credentials, a host."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as error:
            raise EgressRefused(f"not a URL: {error}") from error
        schemes = ("https",) if self.public_only else ("https", "http")
        if parsed.scheme not in schemes:
            raise EgressRefused(f"the scheme must be {' or '.join(schemes)}")
        if parsed.userinfo:
            raise EgressRefused("credentials in the URL are refused (the request is signed)")
        if not parsed.host:
            raise EgressRefused("the URL has no host")
        return parsed

    def check_address(self, address: Address) -> None:
        if not self.public_only:
            return
        reason = classify(address)
        if reason is None:
            return
        if address not in METADATA and any(address in network for network in self.allowed):
            return
        raise EgressRefused(f"{address} is {reason}")

    async def resolve(self, url: str) -> Target:
        """Check `url`, resolve its host and check every address; the request goes to these."""
        parsed = self.check_url(url)
        host = parsed.host
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as error:
            raise Unresolved(f"{host} does not resolve") from error
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
        if not addresses:
            raise Unresolved(f"{host} does not resolve")
        for address in addresses:
            self.check_address(address)
        return Target(
            urls=tuple(parsed.copy_with(host=str(a)) for a in dict.fromkeys(addresses)),
            host_header=parsed.netloc.decode("ascii"),
            server_name=host if parsed.scheme == "https" else None,
        )

    async def check_registration(self, url: str) -> None:
        """At registration: refuse what is already known to break the rules. A name that does
        not resolve yet is accepted; every delivery resolves and checks it again."""
        with contextlib.suppress(Unresolved):
            await self.resolve(url)
