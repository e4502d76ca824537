"""Where webhooks may go (issue 15, SSRF): every forbidden form of address, resolved the way a connection resolves
it, refused with a reason; local receivers only when allowed; https only outside dev and test."""

from __future__ import annotations

import ipaddress

import httpcore
import pytest

from shared.egress import (
    Egress,
    EgressPolicy,
    EgressRefused,
    GuardedBackend,
    RefusedConnection,
    address_refusal,
    system_resolve,
)

STRICT = EgressPolicy(require_https=True, allow_local=False)
DEV = EgressPolicy(require_https=False, allow_local=True)


def resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]
    return resolve


@pytest.mark.parametrize("address, why", [
    ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"), ("100.100.100.200", "cloud metadata"),
    ("169.254.0.23", "cloud metadata"), ("169.254.170.2", "cloud metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
    ("100.64.0.1", "non-public"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:169.254.169.254", "cloud metadata"), ("::ffff:10.1.2.3", "private"),
    ("64:ff9b::7f00:1", "loopback"), ("2002:7f00:1::1", "loopback"), ("2002:a9fe:a9fe::1", "cloud metadata"),
    ("::127.0.0.1", "loopback"), ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
])
def test_every_forbidden_address_is_refused_with_its_reason(address, why):
    assert why in (address_refusal(ipaddress.ip_address(address)) or "")


@pytest.mark.parametrize("address", ["8.8.8.8", "114.114.114.114", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_local_allowance_opens_loopback_and_private_never_metadata_or_link_local():
    for address in ("127.0.0.1", "::1", "10.0.0.1", "172.18.0.3", "::ffff:127.0.0.1"):
        assert address_refusal(ipaddress.ip_address(address), allow_local=True) is None
    for address in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.1.1", "0.0.0.0", "224.0.0.1"):
        assert address_refusal(ipaddress.ip_address(address), allow_local=True) is not None


def test_allowed_networks_open_chosen_private_ranges_only():
    networks = (ipaddress.ip_network("10.20.0.0/16"),)
    assert address_refusal(ipaddress.ip_address("10.20.3.4"), networks=networks) is None
    assert address_refusal(ipaddress.ip_address("10.21.3.4"), networks=networks) == "private address"
    wide = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))  # even a careless "everything"
    for address in ("127.0.0.1", "169.254.169.254", "fd00:ec2::254", "100.100.100.200"):
        assert address_refusal(ipaddress.ip_address(address), networks=wide) is not None


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "017700000001", "127.1", "0x7f.1", "localhost"])
async def test_numeric_and_named_forms_of_loopback_are_resolved_then_refused(host):
    """The standard library reads these as the connection would (inet_aton): all are 127.0.0.1."""
    assert "127.0.0.1" in await system_resolve(host, 80)
    with pytest.raises(EgressRefused, match="loopback") as refused:
        await Egress(STRICT).check(f"https://{host}/hook")
    assert refused.value.permanent


@pytest.mark.parametrize("url, why", [
    ("https://[::1]/hook", "loopback"), ("https://[::ffff:7f00:1]/hook", "loopback"),
    ("https://169.254.169.254/latest/meta-data/", "cloud metadata"), ("https://[fd00:ec2::254]/", "cloud metadata"),
    ("https://10.0.0.8:5432/", "private"),
])
async def test_literal_addresses_in_urls_are_refused(url, why):
    with pytest.raises(EgressRefused, match=why):
        await Egress(STRICT).check(url)


async def test_every_address_a_name_resolves_to_is_checked():
    egress = Egress(STRICT, resolver({"mixed.example": ["93.184.216.34", "10.0.0.7"],
                                      "public.example": ["93.184.216.34", "2606:2800:220:1::1"]}))
    with pytest.raises(EgressRefused, match=r"mixed.example resolves to 10.0.0.7, a private address"):
        await egress.check("https://mixed.example/hook")
    await egress.check("https://public.example/hook")
    assert await egress.refusal("https://public.example/hook") is None


async def test_a_name_that_does_not_resolve_is_refused_for_now_not_for_good():
    with pytest.raises(EgressRefused, match="does not resolve") as refused:
        await Egress(STRICT, resolver({})).check("https://nowhere.example/hook")
    assert not refused.value.permanent


@pytest.mark.parametrize("url, why", [
    ("http://public.example/hook", "https"), ("ftp://public.example/x", "http and https"),
    ("not a url", "https"), ("https:///nohost", "no host"), ("https://[::1/", "valid URL"),
    ("https://0177.0.0.1/", "valid URL"),  # httpx refuses to read it (the subscription API reads it as 127.0.0.1)
])
async def test_urls_themselves_are_checked_first(url, why):
    assert why in (await Egress(STRICT, resolver({"public.example": ["93.184.216.34"]})).refusal(url) or "")


async def test_dev_and_test_take_plain_http_to_local_receivers():
    egress = Egress(DEV, resolver({"gateway": ["127.0.0.1"]}))
    assert await egress.refusal("http://127.0.0.1:8025/webhook") is None
    assert await egress.refusal("http://gateway/hooks/ops") is None
    assert "cloud metadata" in (await egress.refusal("http://169.254.169.254/") or "")


async def test_the_transport_resolves_again_at_connect_time_and_refuses_a_rebound_name():
    """DNS rebinding: the name was public when the subscription was put; now it points inside."""
    answers = {"rebind.example": ["93.184.216.34"]}
    egress = Egress(STRICT, resolver(answers))
    await egress.check("https://rebind.example/hook")
    answers["rebind.example"] = ["169.254.169.254"]
    with pytest.raises(RefusedConnection, match="cloud metadata"):
        await GuardedBackend(egress).connect_tcp("rebind.example", 443)
    with pytest.raises(httpcore.ConnectError):
        await GuardedBackend(egress).connect_unix_socket("/var/run/docker.sock")
