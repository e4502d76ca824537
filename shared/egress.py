"""Where outgoing HTTP may go (issue 15: SSRF through URLs that callers give us), and the transport that holds to it.

Used by every service that calls a URL someone else chose: notifications' webhooks (a subscriber's receiver, the
12345 callback URL) and intake's attachment fetches (a 12345 order's attachment URLs, an Open311 `media_url`).

A URL is checked before it is called: https only where the policy says so; the host resolved with the system
resolver, so that numeric forms such as `2130706433`, `0x7f000001` or `127.1` read as a connection would read them;
and refused when any address it resolves to is not public: loopback, private, link-local, multicast, unspecified,
reserved, or a cloud metadata service (`169.254.169.254`, `fd00:ec2::254`, Alibaba Cloud's `100.100.100.200`, ...).
An IPv6 address carrying an IPv4 one (`::ffff:127.0.0.1`, NAT64, 6to4, Teredo) is judged by the IPv4 it carries.

`EgressPolicy.allow_local` lets loopback and private receivers through (dev and test: the local gateway, tests,
compose's network); `networks` opens chosen private networks in any ENV (a city's government network). Neither opens
link-local or metadata addresses.

The transport (`GuardedTransport`) resolves and checks again when it opens a connection and connects to the address
it checked, so a name that resolved to a public address a moment ago and to an internal one now (DNS rebinding) is
refused; it never goes through a proxy from the environment, and its clients never follow a redirect. TLS still
verifies the certificate against the host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[list[str]]]

# Never reachable, whatever the settings: the cloud metadata services, which hand out instance credentials (AWS,
# GCP, Azure, Huawei 169.254.169.254; Tencent 169.254.0.23; AWS ECS 169.254.170.2; Alibaba Cloud 100.100.100.200;
# AWS over IPv6 fd00:ec2::254). The link-local range most of them sit in is never reachable either.
METADATA_ADDRESSES: frozenset[Address] = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.0.23", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(Exception):
    """Why a URL may not be called. `permanent`: trying again cannot help (the address is forbidden, the URL
    malformed); not permanent: it may (the name does not resolve right now)."""

    def __init__(self, reason: str, *, permanent: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and would reach: IPv4-mapped, NAT64, 6to4, Teredo, IPv4-compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in IPV4_COMPATIBLE and int(ip) > 1:  # ::a.b.c.d (deprecated), not :: or ::1
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: Address, *, allow_local: bool = False, networks: Iterable[Network] = ()) -> str | None:
    """Why a call may not connect to this address (None: it may)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped IPv6 address"
        carried = embedded_ipv4(ip)
        if carried is not None:
            why = address_refusal(carried, allow_local=allow_local, networks=networks)
            return f"{why} (carried in {ip})" if why else None
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_multicast:
        return "multicast address"
    if ip.is_link_local:
        return "link-local address"
    if ip.is_loopback:
        return None if allow_local else "loopback address"
    if ip.is_reserved:
        return "reserved address"
    if any(ip.version == network.version and ip in network for network in networks):
        return None
    if ip.is_private:
        return None if allow_local else "private address"
    if not ip.is_global:
        return "non-public address"
    return None


def parse_address(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for the host (numeric forms read the way a connection reads them)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class EgressPolicy:
    """What outgoing calls may reach (each service's settings: NOTIFICATIONS_WEBHOOK_*, INTAKE_ATTACHMENTS_FETCH_*)."""

    require_https: bool = True
    allow_local: bool = False
    networks: tuple[Network, ...] = ()


class Egress:
    """The policy applied: URLs checked, hosts resolved and every address checked."""

    def __init__(self, policy: EgressPolicy, resolve: Resolve = system_resolve, resolve_timeout: float = 3.0) -> None:
        self.policy = policy
        self._resolve = resolve
        self._resolve_timeout = resolve_timeout

    def url_refusal(self, url: str) -> str | None:
        """What is wrong with the URL itself (scheme, host), before any lookup."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            return "not a valid URL"
        if parsed.scheme not in ("http", "https"):
            return "only http and https URLs are called"
        if self.policy.require_https and parsed.scheme != "https":
            return "only https URLs are called"
        if not parsed.host:
            return "the URL has no host"
        return None

    async def addresses(self, host: str, port: int) -> list[Address]:
        """The host's addresses, all of them allowed; EgressRefused if it does not resolve or any one is not."""
        literal = parse_address(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                async with asyncio.timeout(self._resolve_timeout):
                    answers = await self._resolve(host, port)
            except TimeoutError as exc:
                raise EgressRefused(f"{host} does not resolve (no answer within {self._resolve_timeout:g} s)",
                                    permanent=False) from exc
            except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
                raise EgressRefused(f"{host} does not resolve", permanent=False) from exc
            found = [ip for ip in map(parse_address, answers) if ip is not None]
            if len(found) != len(answers):
                raise EgressRefused(f"{host} resolves to something that is not an IP address")
            if not found:
                raise EgressRefused(f"{host} does not resolve", permanent=False)
        for ip in found:
            why = address_refusal(ip, allow_local=self.policy.allow_local, networks=self.policy.networks)
            if why is not None:
                raise EgressRefused(f"{host} resolves to {ip}, a {why}" if literal is None else f"{ip} is a {why}")
        return found

    async def check(self, url: str) -> None:
        """EgressRefused unless a call may go to this URL now."""
        why = self.url_refusal(url)
        if why is not None:
            raise EgressRefused(why)
        parsed = httpx.URL(url)
        await self.addresses(parsed.raw_host.decode("ascii"), parsed.port or (443 if parsed.scheme == "https" else 80))

    async def refusal(self, url: str) -> str | None:
        """Why a call may not go to this URL (None: it may); notifications' `WebhookUrls`."""
        try:
            await self.check(url)
        except EgressRefused as exc:
            return exc.reason
        return None


class RefusedConnection(httpcore.ConnectError):
    """A connection the egress policy refused (httpx raises it as its ConnectError, `from` this one)."""

    def __init__(self, refused: EgressRefused) -> None:
        super().__init__(refused.reason)
        self.refused = refused


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking the host itself and connecting to a checked address."""

    def __init__(self, egress: Egress) -> None:
        self._egress = egress
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._egress.addresses(host, port)
        except EgressRefused as exc:
            raise RefusedConnection(exc) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise RefusedConnection(EgressRefused("no call goes to a unix socket"))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `GuardedBackend`, with no proxy from the environment."""

    def __init__(self, egress: Egress, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        super().__init__(trust_env=False, limits=limits)
        # httpx offers no way to give its pool a network backend: the same pool as its own, with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(egress))
