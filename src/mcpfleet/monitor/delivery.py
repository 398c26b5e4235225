"""Sending notices to channels: each attempt recorded in the history, failures retried
with exponential backoff (``backoff``, then twice that, ...) up to ``attempts`` times.

A channel gets a notice when the notice's event is in its ``events``. PagerDuty is not
sent reminders: it keeps paging on its own while its alert is open. Exceptions of httpx
and botocore are turned into a recorded failure here, where they enter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from mcpfleet.monitor.alerts import Notice
from mcpfleet.monitor.config import Channel
from mcpfleet.monitor.payloads import pagerduty_body, slack_body, sns_message, webhook_request
from mcpfleet.monitor.store import Delivery, HistoryStore

log = logging.getLogger("mcpfleet.monitor")
Sleep = Callable[[float], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        channels: tuple[Channel, ...],
        store: HistoryStore,
        location: str,
        now: Callable[[], float],
        sleep: Sleep = asyncio.sleep,
        page_url: str | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.channels = channels
        self.wall = wall  # signing time: receivers compare it with their own clocks
        self.store = store
        self.location = location
        self.now = now
        self.sleep = sleep
        self.page_url = page_url
        self.client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        self._sns: dict[str, Any] = {}

    async def send(self, notice: Notice, url: str) -> None:
        """Deliver ``notice`` (about the endpoint at ``url``) to every channel that wants it."""
        wanted = [
            channel
            for channel in self.channels
            if notice.event in channel.events
            and not (notice.reminder and channel.kind == "pagerduty")
        ]
        await asyncio.gather(*(self._deliver(channel, notice, url) for channel in wanted))

    async def _deliver(self, channel: Channel, notice: Notice, url: str) -> None:
        for attempt in range(1, channel.attempts + 1):
            ok, detail = await self._attempt(channel, notice, url)
            record = Delivery(
                notice.incident.dedup_key,
                channel.name,
                notice.event,
                attempt,
                self.now(),
                ok,
                detail,
            )
            await self.store.add_delivery(record)
            if ok:
                return
            if attempt < channel.attempts:
                await self.sleep(channel.backoff * 2 ** (attempt - 1))
        log.warning("delivery to %s failed after %d attempts", channel.name, channel.attempts)

    async def _attempt(self, channel: Channel, notice: Notice, url: str) -> tuple[bool, str]:
        try:
            if channel.kind == "sns":
                return await asyncio.to_thread(self._publish, channel, notice, url)
            body, headers = self._request(channel, notice, url)
            reply = await self.client.post(
                channel.url or "", content=body, headers=headers, timeout=channel.timeout
            )
        except httpx.HTTPError as exc:
            return False, f"{type(exc).__name__}: {str(exc)[:200]}"
        return 200 <= reply.status_code < 300, f"HTTP {reply.status_code}"

    def _request(self, channel: Channel, notice: Notice, url: str) -> tuple[bytes, dict[str, str]]:
        json_type = {"content-type": "application/json"}
        if channel.kind == "webhook":
            return webhook_request(notice, url, self.location, channel.secret or "", self.wall())
        if channel.kind == "slack":
            return slack_body(notice, url, self.page_url), json_type
        return pagerduty_body(notice, url, self.location, channel.secret or ""), json_type

    def _publish(self, channel: Channel, notice: Notice, url: str) -> tuple[bool, str]:
        import boto3  # type: ignore[import-untyped]  # no stubs
        from botocore.exceptions import (  # type: ignore[import-untyped]  # no stubs
            BotoCoreError,
            ClientError,
        )

        try:
            client = self._sns.get(channel.name)
            if client is None:
                client = boto3.client("sns", region_name=channel.region, endpoint_url=channel.url)
                self._sns[channel.name] = client
            reply = client.publish(
                TopicArn=channel.topic_arn, **sns_message(notice, url, self.location)
            )
        except (BotoCoreError, ClientError) as exc:
            return False, f"{type(exc).__name__}: {str(exc)[:200]}"
        return True, f"MessageId {reply.get('MessageId')}"

    async def aclose(self) -> None:
        await self.client.aclose()
