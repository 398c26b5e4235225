"""ElastiCache IAM authentication: the short-lived token redis-py sends as the password.

An IAM-enabled ElastiCache user authenticates with a SigV4-presigned request rather than
a stored password: ``GET http://<cache name>/?Action=connect&User=<user id>``, signed for
the ``elasticache`` service in the cache's region with the task role's credentials,
valid for 15 minutes, and sent without its ``http://``. The token is checked only when a
connection authenticates (an authenticated connection lives up to 12 hours), and
redis-py asks its credential provider on every new connection, so
``ElastiCacheIamAuth`` keeps one token and makes the next well before the last expires.

botocore (the ``deploy`` and ``lambda`` extras, and every AWS image) is imported when
the first token is made, never by a process that does not use IAM authentication.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from redis.credentials import CredentialProvider

from mcpfleet.errors import ConfigError

TOKEN_SECONDS = 900  # what ElastiCache accepts at most, and what each token is signed for
REFRESH_SECONDS = 600  # a token is replaced once this old: 5 minutes before it expires


def region_from_env(env: dict[str, str] | None = None) -> str | None:
    """The AWS region the task runs in (``AWS_REGION``, else ``AWS_DEFAULT_REGION``)."""
    source = os.environ if env is None else env
    return source.get("AWS_REGION") or source.get("AWS_DEFAULT_REGION") or None


class ElastiCacheIamAuth(CredentialProvider):
    """A redis-py credential provider: ``(user id, token)`` for an IAM-enabled user.

    ``credentials`` are botocore credentials (default: botocore's chain, which on ECS
    reads the task role and refreshes it); ``clock`` counts seconds and decides when a
    token is old enough to replace.
    """

    def __init__(
        self,
        cache_name: str,
        user_id: str,
        *,
        region: str | None = None,
        credentials: Any = None,
        clock: Callable[[], float] = time.monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        region = region or region_from_env()
        if region is None:
            raise ConfigError(
                "REDIS_IAM_CACHE: ElastiCache IAM authentication needs the region "
                "(AWS_REGION or AWS_DEFAULT_REGION)"
            )
        if not 0 < refresh_seconds < TOKEN_SECONDS:
            raise ValueError(f"refresh_seconds must lie in (0, {TOKEN_SECONDS})")
        self.cache_name = cache_name.lower()  # ElastiCache names are lower case
        self.user_id = user_id
        self.region = region
        self.refresh_seconds = refresh_seconds
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._made_at = 0.0
        self.tokens_made = 0

    def token(self) -> str:
        """A new token: the presigned URL without its scheme."""
        from botocore.auth import SigV4QueryAuth  # type: ignore[import-untyped]  # no stubs
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]  # no stubs

        query = urlencode({"Action": "connect", "User": self.user_id})
        request = AWSRequest(method="GET", url=f"http://{self.cache_name}/?{query}")
        signer = SigV4QueryAuth(self._aws_credentials(), "elasticache", self.region, TOKEN_SECONDS)
        signer.add_auth(request)
        url: str = request.url
        return url.removeprefix("http://")

    def _aws_credentials(self) -> Any:
        if self._credentials is None:
            import botocore.session  # type: ignore[import-untyped]  # no stubs

            self._credentials = botocore.session.get_session().get_credentials()
            if self._credentials is None:
                raise ConfigError(
                    "REDIS_IAM_CACHE: no AWS credentials found for ElastiCache IAM "
                    "authentication (a task role, or the AWS_* variables)"
                )
        # Refreshable credentials (a task role) hand out a current, frozen set.
        frozen = getattr(self._credentials, "get_frozen_credentials", None)
        return frozen() if frozen is not None else self._credentials

    def fresh(self) -> bool:
        """Whether the kept token is young enough to send."""
        return self._token is not None and self._clock() - self._made_at < self.refresh_seconds

    def get_credentials(self) -> tuple[str, str]:
        with self._lock:
            if not self.fresh():
                made_at = self._clock()
                self._token = self.token()
                self._made_at = made_at
                self.tokens_made += 1
            assert self._token is not None
            return self.user_id, self._token

    async def get_credentials_async(self) -> tuple[str, str]:
        """The kept token at once; a new one is made on a thread (fetching the role's
        credentials may block on the network)."""
        token = self._token
        if token is not None and self.fresh():
            return self.user_id, token
        return await asyncio.to_thread(self.get_credentials)
