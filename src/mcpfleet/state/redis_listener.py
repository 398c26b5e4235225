"""The pub/sub listener of a process: one connection subscribed to the whole channel
pattern, delivering to this process's subscribers, and never dying for good.

It restarts after any failure (connection lost, no answer, an unexpected exception),
waiting ``first_delay`` and doubling up to ``max_delay``, and subscribes again. A
connection that goes quiet is asked for a PING after ``idle_seconds``; no answer within
``answer_seconds`` counts as lost, so a half-open connection after a failover is noticed.
The loss is logged once per outage, with the host and port and the cause, and the
return once; a server whose TLS certificate does not verify is named as such. Each
subscriber is called on its own (``isolated``): one that raises is logged once and the
others still receive.

Where it listens comes from ``connect``, asked again at each restart: one server, or on
Redis Cluster the next node in turn (a PUBLISH reaches every node of a cluster, so any
one that answers will do, and a failed primary is left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from mcpfleet.state.base import Subscriber
from mcpfleet.state.redis_circuit import cancel_until_done
from mcpfleet.state.redis_faults import CAUGHT, Fault, cause, classify

log = logging.getLogger("mcpfleet.state")

Dispatch = Callable[[dict[str, Any]], None]
# A client to listen with, and its host:port for the log.
Connect = Callable[[], Awaitable[tuple[aioredis.Redis, str]]]


def one_server(client: aioredis.Redis, where: str) -> Connect:
    """``connect`` for a single server: always ``client``."""

    async def connect() -> tuple[aioredis.Redis, str]:
        return client, where

    return connect


def isolated(channel: str, subscriber: Subscriber) -> Subscriber:
    """``subscriber``, made unable to stop delivery to others: its failure is logged (with
    the traceback the first time) and goes no further."""
    failures = 0

    def deliver(message: dict[str, Any]) -> None:
        nonlocal failures
        try:
            subscriber(message)
        except Exception:
            failures += 1
            log.error(
                "a subscriber of channel %s failed (%d times); the others still receive",
                channel,
                failures,
                exc_info=failures == 1,
            )

    return deliver


class FleetListener:
    """``PSUBSCRIBE pattern`` on a connection ``connect`` gives, restarted whenever it fails."""

    def __init__(
        self,
        connect: Connect,
        pattern: str,
        dispatch: Dispatch,
        *,
        where: str,
        answer_seconds: float = 2.0,
        idle_seconds: float = 5.0,
        first_delay: float = 0.1,
        max_delay: float = 2.0,
        on_resubscribed: Callable[[], None] | None = None,
    ) -> None:
        self.connect = connect
        self.pattern = pattern
        self.dispatch = dispatch
        self.where = where
        self.answer_seconds = answer_seconds
        self.idle_seconds = idle_seconds
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.on_resubscribed = on_resubscribed
        self.subscribed = False
        self.restarts = 0
        self._lost_at: float | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = self.first_delay
        while True:
            pubsub: aioredis.client.PubSub | None = None
            try:
                client, self.where = await self.connect()
                pubsub = client.pubsub()
                await self._listen(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure: restart, never die
                self._lost(error)
            finally:
                worked, self.subscribed = self.subscribed, False
                if pubsub is not None:
                    # Typed from redis 8.2 on, untyped before: called through a typed name.
                    close: Callable[[], Awaitable[object]] = pubsub.aclose
                    with contextlib.suppress(*CAUGHT, RuntimeError):
                        await close()
            if worked:  # a new outage: start the backoff over
                delay = self.first_delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
            self.restarts += 1

    async def _listen(self, pubsub: aioredis.client.PubSub) -> None:
        """Subscribe, then deliver until the connection fails or stops answering."""
        # The blocking client has no socket timeout: bound what might wait for an answer
        # (connecting includes a handshake that does).
        await asyncio.wait_for(pubsub.psubscribe(self.pattern), self.answer_seconds)
        asked_at: float | None = time.monotonic()  # the subscription's confirmation is due
        heard_at = time.monotonic()
        while True:
            message = await pubsub.get_message(timeout=min(1.0, self.answer_seconds))
            now = time.monotonic()
            if message is not None:
                heard_at, asked_at = now, None
                if message["type"] == "pmessage":
                    self.dispatch(message)
                elif message["type"] == "psubscribe":
                    self._subscribed()
            elif asked_at is not None and now - asked_at > self.answer_seconds:
                raise TimeoutError(f"no answer from pub/sub in {self.answer_seconds} s")
            elif asked_at is None and now - heard_at > self.idle_seconds:
                await asyncio.wait_for(pubsub.ping(), self.answer_seconds)
                asked_at = now

    def _subscribed(self) -> None:
        self.subscribed = True
        if self._lost_at is not None:
            log.info(
                "redis pub/sub at %s: listening again after %.1f s",
                self.where,
                time.monotonic() - self._lost_at,
            )
            self._lost_at = None
            if self.on_resubscribed is not None:
                self.on_resubscribed()

    def _lost(self, error: Exception) -> None:
        if self._lost_at is not None:
            return  # logged already in this outage
        self._lost_at = time.monotonic()
        if classify(error) is Fault.REJECTED:
            log.error(
                "redis at %s: its TLS certificate does not verify (%s); check REDIS_CA_FILE "
                "and that REDIS_URL names a host the certificate is for",
                self.where,
                cause(error),
            )
            return
        unexpected = not isinstance(error, CAUGHT)
        log.warning(
            "redis pub/sub at %s: connection lost; reconnecting (%s)",
            self.where,
            cause(error),
            exc_info=error if unexpected else None,
        )

    async def aclose(self) -> None:
        """Stop listening. The cancellation is repeated until the task ends: a read that
        times out just as it is cancelled can swallow one (seen on TLS connections)."""
        task, self._task = self._task, None
        if task is not None and not await cancel_until_done(task):
            log.error("redis pub/sub at %s: the listener did not stop", self.where)
