"""Run a probe from DNS to the last phase, or many at once with bounded concurrency."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from mcpfleet.probe.auth import auth_phase
from mcpfleet.probe.flows import NeedsAuth, detect_and_run
from mcpfleet.probe.grant import grant_phase
from mcpfleet.probe.model import Options, Phase, PhaseFailed, Report, Status
from mcpfleet.probe.net import preflight, tls_context
from mcpfleet.probe.session import Session

MAX_TARGETS = 10_000
MAX_REDIRECTS = 5
GRACE_SECONDS = 0.5  # past the deadline, the probe is cut off whatever it is doing


def make_client(context: ssl.SSLContext, options: Options) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(options.timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        trust_env=False,
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
    )


async def probe(url: str, options: Options, context: ssl.SSLContext | None = None) -> Report:
    """Every phase against ``url``, all within ``options.timeout`` seconds."""
    report = Report(url)
    context = context or tls_context(options.cafile)
    deadline = asyncio.get_running_loop().time() + options.timeout
    secrets = options.secrets
    try:
        async with asyncio.timeout_at(deadline + GRACE_SECONDS):
            await _phases(report, url, context, options, deadline, secrets)
    except PhaseFailed:
        pass
    except TimeoutError:
        report.add(Phase("timeout", Status.FAIL, f"probe did not finish in {options.timeout:g} s"))
    except Exception as exc:  # a hostile server must not crash the prober
        report.add(Phase("probe", Status.FAIL, f"{type(exc).__name__}: {str(exc)[:200]}"))
    flag_slow(report, options.slow_ms)
    report.redact(secrets)
    return report


async def _phases(
    report: Report,
    url: str,
    context: ssl.SSLContext,
    options: Options,
    deadline: float,
    secrets: list[str],
) -> None:
    await preflight(report, url, context, options, deadline)
    async with make_client(context, options) as client:
        session = Session(client, url, options, report, deadline)
        if options.client_credentials is not None:
            # This probe's own copy of the options: a --targets run shares the caller's.
            headers = {k: v for k, v in options.headers.items() if k.lower() != "authorization"}
            session.options = replace(options, headers=headers)
            token = await grant_phase(session, options.client_credentials)
            secrets.append(token)
            session.options = replace(
                options, headers={**headers, "authorization": f"Bearer {token}"}
            )
        try:
            await detect_and_run(session)
        except NeedsAuth as need:
            await auth_phase(session, need.reply)


def flag_slow(report: Report, slow_ms: float) -> None:
    """A phase that worked but took longer than the threshold makes the probe degraded."""
    for phase in report.phases:
        if phase.status is Status.OK and (phase.elapsed_ms or 0.0) > slow_ms:
            phase.status = Status.WARN
            phase.detail += f" (slow: {phase.elapsed_ms:.0f} ms over {slow_ms:g} ms)"


async def probe_many(urls: Sequence[str], options: Options, concurrency: int = 32) -> list[Report]:
    """Probe every URL, at most ``concurrency`` at a time; reports in the order given."""
    context = tls_context(options.cafile)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(url: str) -> Report:
        async with gate:
            return await probe(url, options, context)

    return list(await asyncio.gather(*(one(url) for url in urls)))


def read_targets(path: Path) -> list[str]:
    """One URL a line; blank lines and ``#`` comments ignored; at most ``MAX_TARGETS``."""
    urls = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            text = line.split("#", 1)[0].strip()
            if text:
                urls.append(text)
            if len(urls) > MAX_TARGETS:
                raise ValueError(f"{path}: more than {MAX_TARGETS} targets")
    return urls
