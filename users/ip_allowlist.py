"""An API key's IP allow-list: parsed strictly, and narrow for keys that can withdraw.

A ``withdraw`` key must name where its bot runs. A network of a whole provider or
more is no such place, so each entry of such a key is at most:

- IPv4 /24: the smallest block routed between networks on the internet, and what a
  hosting provider or an office hands one customer;
- IPv6 /48: what one site (an organisation, a data-centre customer) is assigned, a
  single subnet being a /64;
- IPv4 carried inside IPv6 (NAT64, 64:ff9b::/96) /120, the same /24 again.

The database holds the same rule (``api_key_allowlist_is_narrow``, migration 0020).
IPv4-mapped IPv6 (::ffff:a.b.c.d) is refused in a list: a client's address is compared
as the IPv4 it carries (``client_address``), so such an entry could never match (and
an IPv6 network around that space, ::/0 say, matches none of those clients).
"""

from __future__ import annotations

import ipaddress

from users.errors import AllowlistTooBroad, InvalidInput

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
ENTRIES_MAX = 20
IPV4_PREFIX_WITHDRAW_MIN = 24
IPV6_PREFIX_WITHDRAW_MIN = 48
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_PREFIX_WITHDRAW_MIN = NAT64.prefixlen + IPV4_PREFIX_WITHDRAW_MIN
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
FIELD = "ip_allowlist"


def parsed(allowlist: object, *, withdraw: bool) -> list[Network]:
    """The networks of a list as sent; refused if malformed, or too broad for withdraw."""
    if not isinstance(allowlist, list) or len(allowlist) > ENTRIES_MAX:
        raise InvalidInput(f"ip_allowlist must be a list of at most {ENTRIES_MAX} addresses "
                           "or networks", field=FIELD)
    networks: list[Network] = []
    for entry in allowlist:
        network = _network(entry)
        if network in networks:
            raise InvalidInput(f"{entry!r} is listed twice (as {network}); list each network "
                               "once", field=FIELD)
        networks.append(network)
    if withdraw:
        if not networks:
            raise InvalidInput("a key with the withdraw scope needs an ip_allowlist: the "
                               "addresses its bot calls from", field=FIELD)
        for network in networks:
            _check_narrow(network)
    return networks


def _network(entry: object) -> Network:
    if not isinstance(entry, str):
        raise InvalidInput(f"{entry!r} is not an IP address or network such as 203.0.113.7 "
                           "or 203.0.113.0/24", field=FIELD)
    try:
        network = ipaddress.ip_network(entry.strip(), strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            loose = ipaddress.ip_network(entry.strip(), strict=False)
            address = entry.strip().split("/")[0]
            raise InvalidInput(f"{entry!r} has bits set past its prefix: write {address} for "
                               f"one address, or {loose} for the network", field=FIELD) from None
        raise InvalidInput(f"{entry!r} is not an IP address or network such as 203.0.113.7 "
                           "or 203.0.113.0/24", field=FIELD) from None
    if isinstance(network, ipaddress.IPv6Network):
        if network.network_address.scope_id is not None:
            raise InvalidInput(f"{entry!r} names an interface (after %): write the address "
                               "alone", field=FIELD)
        if network.subnet_of(IPV4_MAPPED):
            raise InvalidInput(f"{entry!r} is IPv4-mapped (::ffff:a.b.c.d): write IPv4 "
                               "addresses as IPv4, such as 203.0.113.7", field=FIELD)
    return network


def _check_narrow(network: Network) -> None:
    if network.prefixlen == 0:
        raise AllowlistTooBroad(f"{network} allows every address; a key with the withdraw "
                                "scope must list the addresses its bot calls from",
                                field=FIELD)
    if isinstance(network, ipaddress.IPv4Network):
        prefix_min = IPV4_PREFIX_WITHDRAW_MIN
    elif network.overlaps(NAT64):
        prefix_min = NAT64_PREFIX_WITHDRAW_MIN
    else:
        prefix_min = IPV6_PREFIX_WITHDRAW_MIN
    if network.prefixlen < prefix_min:
        raise AllowlistTooBroad(f"{network} is too broad for a key with the withdraw scope: "
                                f"list networks of /{prefix_min} or narrower (single "
                                "addresses are best)", field=FIELD)


def client_address(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client's address as lists name it: IPv4 arriving on an IPv6 socket as IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def allows(networks: tuple[Network, ...], address: str) -> bool:
    """Whether a client at ``address`` may use a key with these networks (none: anyone)."""
    if not networks:
        return True
    ip = client_address(address)
    return ip is not None and any(ip in network for network in networks)
