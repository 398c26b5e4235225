"""The phases below HTTP: DNS resolution, a TCP connect, and a TLS handshake."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcpfleet.probe.model import Clock, Options, Phase, PhaseFailed, Report, Status

MAX_ADDRESSES = 4  # connect attempts, at most, across the resolved addresses

# OpenSSL verify codes worth naming (X509_V_ERR_*).
_VERIFY_REASONS = {
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in the chain",
    20: "unable to get the issuer certificate (untrusted chain)",
    21: "unable to verify the first certificate",
    62: "hostname mismatch",
    64: "IP address mismatch",
}


@dataclass(slots=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_target(url: str) -> Target:
    """Scheme, host and port of an http(s) URL; ``ValueError`` for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, parts.hostname, port)


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying client context: the system's roots, or ``cafile``'s."""
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


async def resolve(report: Report, target: Target, deadline: float) -> list[str]:
    clock = Clock()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout_at(deadline):
            infos = await loop.getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
    except (OSError, TimeoutError) as exc:
        report.add(Phase("dns", Status.FAIL, _reason(exc, "no answer"), clock.ms))
        raise PhaseFailed from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    report.add(
        Phase("dns", Status.OK, ", ".join(addresses[:4]), clock.ms, {"addresses": addresses[:16]})
    )
    return addresses


async def connect(
    report: Report, target: Target, addresses: list[str], deadline: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    clock = Clock()
    last: BaseException | None = None
    for address in addresses[:MAX_ADDRESSES]:
        try:
            async with asyncio.timeout_at(deadline):
                reader, writer = await asyncio.open_connection(address, target.port)
        except (OSError, TimeoutError) as exc:
            last = exc
            continue
        report.add(Phase("tcp", Status.OK, f"{address}:{target.port}", clock.ms))
        return reader, writer
    report.add(Phase("tcp", Status.FAIL, _reason(last, "no address to connect to"), clock.ms))
    raise PhaseFailed


async def handshake(
    report: Report,
    target: Target,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    options: Options,
    deadline: float,
) -> None:
    clock = Clock()
    try:
        async with asyncio.timeout_at(deadline):
            await writer.start_tls(context, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        reason = _VERIFY_REASONS.get(exc.verify_code, exc.verify_message or str(exc))
        report.add(Phase("tls", Status.FAIL, reason, clock.ms, {"verifyCode": exc.verify_code}))
        raise PhaseFailed from None
    except (OSError, TimeoutError) as exc:
        report.add(Phase("tls", Status.FAIL, _reason(exc, "handshake timed out"), clock.ms))
        raise PhaseFailed from None
    ssl_object = writer.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    elapsed = clock.ms
    if not cert or "notAfter" not in cert:
        report.add(Phase("tls", Status.FAIL, "no peer certificate", elapsed))
        raise PhaseFailed
    days = (ssl.cert_time_to_seconds(str(cert["notAfter"])) - time.time()) / 86400.0
    data = {
        "daysLeft": round(days, 2),
        "notAfter": cert["notAfter"],
        "version": ssl_object.version() if ssl_object is not None else None,
    }
    if days < options.cert_warn_days:
        detail = f"certificate expires in {days:.1f} days (under {options.cert_warn_days:g})"
        report.add(Phase("tls", Status.WARN, detail, elapsed, data))
        return
    report.add(Phase("tls", Status.OK, f"valid, {days:.0f} days left", elapsed, data))


async def preflight(
    report: Report, url: str, context: ssl.SSLContext, options: Options, deadline: float
) -> None:
    """DNS, TCP and (for https) TLS, each a phase; ``PhaseFailed`` when one fails."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        report.add(Phase("dns", Status.FAIL, str(exc)))
        raise PhaseFailed from None
    addresses = await resolve(report, target, deadline)
    _reader, writer = await connect(report, target, addresses, deadline)
    try:
        if target.scheme == "https":
            await handshake(report, target, writer, context, options, deadline)
    finally:
        writer.close()
        try:
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        except (OSError, TimeoutError, ssl.SSLError):
            pass


def _reason(exc: BaseException | None, default: str) -> str:
    if exc is None or isinstance(exc, TimeoutError):
        return default
    return f"{type(exc).__name__}: {exc}"
