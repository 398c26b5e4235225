"""Certificates: one about to expire opens its own incident, and renewing it resolves it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import free_port
from tests.monitor.support import ManualClock, mcp_target, served_on, start_monitor, write_config
from tests.probe.certs import CertAuthority


def test_expiring_certificate_opens_and_renewal_resolves(tmp_path: Path) -> None:
    """A certificate with 5 days left under a 14-day condition opens one cert_expiring
    incident (the endpoint stays usable, so no down incident); a renewed certificate
    resolves it."""
    ca = CertAuthority(tmp_path)
    expiring = ca.issue("expiring", days_left=5)
    renewed = ca.issue("renewed", days_left=90)
    port = free_port()
    path = write_config(
        tmp_path,
        f"""
        storage: {{url: "sqlite:///{tmp_path}/h.db"}}
        alerts: {{failures: 2, window: 3, successes: 1}}
        endpoints:
          - name: tls
            url: https://localhost:{port}/mcp
            cafile: {ca.path}
            conditions: {{cert_days_left: 14}}
        """,
    )

    async def scenario() -> list[tuple[str, str, bool]]:
        clock = ManualClock()
        monitor = await start_monitor(path, clock)
        try:
            for certfile, keyfile in (expiring, renewed):
                with served_on(mcp_target(), port, ssl_certfile=certfile, ssl_keyfile=keyfile):
                    for _ in range(3 if certfile == expiring[0] else 1):
                        result = await monitor.round()
                        assert result[0].state == ("degraded" if certfile == expiring[0] else "up")
                        clock.advance(60)
            return [(i.lane, i.kind, i.is_open) for i in await monitor.store.incidents(None, 0)]
        finally:
            await monitor.aclose()

    assert asyncio.run(scenario()) == [("cert", "cert_expiring", False)]
