"""How the fleet state connects to Redis besides its URL: the REDIS_* settings of the
config, in a module light enough for any caller to import (no redis-py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.credentials import CredentialProvider

    from mcpfleet.config import Config


@dataclass(frozen=True)
class RedisSettings:
    """How to connect to the fleet state's Redis, besides its URL."""

    ca_file: str | None = None  # rediss://: the CA bundle; default: the system's
    username: str | None = None  # an ACL user (ElastiCache: the user id)
    auth_token: str | None = None  # its password, or the AUTH token
    iam_cache: str | None = None  # ElastiCache IAM authentication: the cache's name
    cluster: bool = False  # Redis Cluster (ElastiCache cluster mode enabled)
    region: str | None = None  # for IAM; default: AWS_REGION, AWS_DEFAULT_REGION
    # A redis-py credential provider of the app's own (say, an ElastiCacheIamAuth with a
    # clock or credentials of its own): it names the user and password of every connection.
    credential_provider: CredentialProvider | None = None

    @classmethod
    def from_config(cls, config: Config) -> RedisSettings:
        return cls(
            ca_file=config.redis_ca_file,
            username=config.redis_username,
            auth_token=config.redis_auth_token,
            iam_cache=config.redis_iam_cache,
            cluster=config.redis_cluster,
        )
