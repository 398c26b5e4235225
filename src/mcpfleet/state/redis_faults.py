"""Redis's failures, classified where they enter: one table from redis-py's exceptions
(and the server's error prefixes) to what the project makes of them.

    Fault.UNREACHABLE   no answer in time, or no connection: ``StateUnavailable`` (503),
                        and the circuit opens (see ``redis_circuit``)
    Fault.UNAVAILABLE   Redis answered but cannot serve now (LOADING, READONLY, OOM,
                        MISCONF, NOPERM, MASTERDOWN, cluster redirections...):
                        ``StateUnavailable`` (503), logged once per outage
    Fault.REJECTED      the server's TLS certificate does not verify (a wrong CA, or a
                        host the certificate is not for): ``StateCertificateRejected``
                        (503), logged as an error naming REDIS_CA_FILE, once per outage
    Fault.INTERNAL      our own mistake or bad data (a script error, WRONGTYPE...):
                        ``InternalError`` (500, no detail), logged with its class

A class is looked up along its MRO, the most specific row first; when that says
``INTERNAL`` (a plain ``ResponseError``, say), the server's error code decides: the
first word of the reply, or a code quoted inside a script's or a pipeline's error, or
failing both, a known text (``BY_TEXT``). Redis Cluster's client wraps what stopped it
in a ``RedisClusterException`` (no node reachable, slots not covered during a failover):
the exception it was raised from decides when there is one, else its text.
``tests/state/test_redis_faults.py`` fails when redis-py gains a class with no row.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import ssl
from collections.abc import Callable, Iterator

from redis import exceptions as redis_errors

from mcpfleet.errors import InternalError, StateCertificateRejected, StateUnavailable
from mcpfleet.state.redis_circuit import Circuit

log = logging.getLogger("mcpfleet.state")


class Fault(enum.Enum):
    UNREACHABLE = "unreachable"
    UNAVAILABLE = "unavailable"
    REJECTED = "rejected"
    INTERNAL = "internal"


# Every exception class of ``redis.exceptions`` by name (names, so that rows for classes
# an older redis-py lacks do no harm), each deliberately placed.
BY_CLASS: dict[str, Fault] = {
    # No connection, or no answer in time.
    "ConnectionError": Fault.UNREACHABLE,
    "TimeoutError": Fault.UNREACHABLE,
    "RedisClusterUnreachableError": Fault.UNREACHABLE,  # no node answered (redis-py 8.2)
    # Redis answered, or the client knows it cannot be used now.
    "BusyLoadingError": Fault.UNAVAILABLE,  # LOADING: a restarted server reads its data
    "ReadOnlyError": Fault.UNAVAILABLE,  # READONLY: a replica, e.g. a demoted primary
    "OutOfMemoryError": Fault.UNAVAILABLE,  # OOM: maxmemory reached under noeviction
    "NoPermissionError": Fault.UNAVAILABLE,  # NOPERM: the ACL user may not do this
    "AuthenticationError": Fault.UNAVAILABLE,  # WRONGPASS, NOAUTH
    "AuthenticationWrongNumberOfArgsError": Fault.UNAVAILABLE,
    "AuthorizationError": Fault.UNAVAILABLE,
    "ExternalAuthProviderError": Fault.UNAVAILABLE,
    "MaxConnectionsError": Fault.UNAVAILABLE,  # this process's pool is exhausted
    "MaxClientsReachedError": Fault.UNAVAILABLE,  # the server's maxclients (redis-py 8.2)
    "InvalidResponse": Fault.UNAVAILABLE,  # garbled reply: the connection is dropped
    "ClusterError": Fault.UNAVAILABLE,
    "ClusterDownError": Fault.UNAVAILABLE,  # CLUSTERDOWN
    "MasterDownError": Fault.UNAVAILABLE,  # MASTERDOWN: a replica lost its primary
    "AskError": Fault.UNAVAILABLE,  # ASK: a slot is migrating
    "MovedError": Fault.UNAVAILABLE,  # MOVED: a slot moved
    "TryAgainError": Fault.UNAVAILABLE,  # TRYAGAIN: resharding
    "SlotNotCoveredError": Fault.UNAVAILABLE,
    # Our mistakes (or ones redis-py handles itself before they could reach us).
    "RedisError": Fault.INTERNAL,
    "ResponseError": Fault.INTERNAL,  # ERR, WRONGTYPE, script errors: see BY_PREFIX
    "DataError": Fault.INTERNAL,
    "PubSubError": Fault.INTERNAL,
    "WatchError": Fault.INTERNAL,
    "NoScriptError": Fault.INTERNAL,  # Script objects reload their script themselves
    "ExecAbortError": Fault.INTERNAL,
    "ModuleError": Fault.INTERNAL,
    "NoSuchFieldsetError": Fault.INTERNAL,
    "LockError": Fault.INTERNAL,
    "LockNotOwnedError": Fault.INTERNAL,
    "ClusterCrossSlotError": Fault.INTERNAL,  # CROSSSLOT: a key outside its hash tag
    "CrossSlotTransactionError": Fault.INTERNAL,
    "InvalidPipelineStack": Fault.INTERNAL,
    "RedisClusterException": Fault.INTERNAL,
}

# Server error codes that redis-py leaves as a plain ResponseError (or that an older
# redis-py, or a script error of Redis 6, carries only in the text).
BY_PREFIX: dict[str, Fault] = {
    "LOADING": Fault.UNAVAILABLE,
    "READONLY": Fault.UNAVAILABLE,
    "OOM": Fault.UNAVAILABLE,
    "MISCONF": Fault.UNAVAILABLE,  # the last RDB save failed and writes are stopped
    "NOPERM": Fault.UNAVAILABLE,
    "NOAUTH": Fault.UNAVAILABLE,
    "WRONGPASS": Fault.UNAVAILABLE,
    "MASTERDOWN": Fault.UNAVAILABLE,
    "NOREPLICAS": Fault.UNAVAILABLE,  # min-replicas-to-write not met
    "BUSY": Fault.UNAVAILABLE,  # a script or function runs too long
    "UNBLOCKED": Fault.UNAVAILABLE,  # a blocked read ended by a role change
    "CLUSTERDOWN": Fault.UNAVAILABLE,
    "TRYAGAIN": Fault.UNAVAILABLE,
    "MOVED": Fault.UNAVAILABLE,
    "ASK": Fault.UNAVAILABLE,
}

# Errors Redis 7 sends as plain ERR, recognised by their text (as redis-py does for AUTH),
# and what redis-py's cluster client says when the cluster cannot serve for now.
BY_TEXT: dict[str, Fault] = {
    "can't run this command or subcommand": Fault.UNAVAILABLE,  # a script's NOPERM
    "Redis Cluster cannot be connected": Fault.UNREACHABLE,  # no node answers
    "All slots are not covered": Fault.UNAVAILABLE,  # a primary failed, not yet replaced
    "could not agree on a valid slots cache": Fault.UNAVAILABLE,  # nodes mid-failover
}

# uvloop raises RuntimeError, not OSError, when redis-py writes on a connection the server
# has just closed (a killed primary's, say): a connection lost like any other.
_CLOSED_TRANSPORT = "the handler is closed"


def lost_connection(error: BaseException) -> bool:
    """Whether a non-Redis exception is a lost connection in disguise (uvloop's)."""
    return isinstance(error, RuntimeError) and _CLOSED_TRANSPORT in str(error)


# A TLS handshake that failed on the certificate: ssl's own error, or redis-py's
# ConnectionError that quotes it.
_CERTIFICATE_FAILED = "CERTIFICATE_VERIFY_FAILED"

# A code quoted inside another error's text: a script error of Redis 6 ("...@user_script:
# 1: -READONLY You can't...") or a pipeline's ("Command # 1 (SADD ...) of pipeline caused
# error: ('MISCONF Redis is...").
_QUOTED_CODE = re.compile(r"""(?:-|\(["'])([A-Z]{2,}) """)


# Every failure a Redis call can raise (redis-py's two roots, and socket errors).
CAUGHT = (redis_errors.RedisError, redis_errors.RedisClusterException, OSError)


def classify(error: BaseException) -> Fault:
    """What a failure of a Redis call means: by class first, then by the server's code."""
    if isinstance(error, ssl.SSLCertVerificationError) or _CERTIFICATE_FAILED in str(error):
        return Fault.REJECTED
    if isinstance(error, OSError) or lost_connection(error):  # also TimeoutError of a wait
        return Fault.UNREACHABLE
    if isinstance(error, redis_errors.RedisClusterException) and isinstance(
        error.__cause__, CAUGHT
    ):
        return classify(error.__cause__)
    fault = Fault.INTERNAL
    for kind in type(error).__mro__:
        if kind.__module__ == redis_errors.__name__ and kind.__name__ in BY_CLASS:
            fault = BY_CLASS[kind.__name__]
            break
    if fault is Fault.INTERNAL:
        for code in error_codes(error):
            if code in BY_PREFIX:
                return BY_PREFIX[code]
        text = str(error)
        for words, by_text in BY_TEXT.items():
            if words in text:
                return by_text
    return fault


def error_codes(error: BaseException) -> list[str]:
    """The server's error codes an exception carries, the most telling first."""
    text = str(error)
    codes = [getattr(error, "status_code", None) or "", text.split(" ", 1)[0]]
    found = [code for code in codes if code.isalpha() and code.isupper()]
    return found + _QUOTED_CODE.findall(text)


def describe(error: BaseException) -> str:
    """A failure's kind, for the log and to log each kind once: class and error code."""
    code = next(iter(error_codes(error)), "")
    return f"{type(error).__name__} {code}".strip()


def cause(error: BaseException) -> str:
    """A failure for the log: its kind and the start of its text. redis-py's texts name
    the host and port at most, never the URL, so no password reaches the log."""
    text = " ".join(str(error).split())[:160]
    return f"{describe(error)}: {text}" if text else describe(error)


# How soon a client may retry when the certificate did not verify: not soon (a setting must
# change), but a 503 with Retry-After all the same, so that clients come back once it has.
REJECTED_RETRY_AFTER = 5


class RedisFaults:
    """The one door through which Redis's exceptions enter: checked against the circuit
    before a call, classified and translated after a failure, logged once."""

    def __init__(self, circuit: Circuit, on_outage: Callable[[], None] | None = None) -> None:
        self.circuit = circuit
        # Called when Redis is unreachable or cannot serve: what was published meanwhile
        # (session evictions) may not have reached this process.
        self.on_outage = on_outage
        self._refusals: set[str] = set()  # what Redis refused since it last served
        self._internal: set[str] = set()  # internal failures logged with a traceback

    @contextlib.contextmanager
    def translated(self) -> Iterator[None]:
        """``StateUnavailable`` at once while the circuit is open; around the call, any
        Redis failure becomes ``StateUnavailable`` or ``InternalError``, nothing else."""
        self.circuit.check()
        try:
            yield
        except CAUGHT as error:
            raise self.translate(error) from None
        except RuntimeError as error:
            if not lost_connection(error):
                raise
            raise self.translate(error) from None
        if self._refusals:
            log.info("redis at %s serves again", self.circuit.where)
            self._refusals.clear()

    def translate(self, error: BaseException) -> StateUnavailable | InternalError:
        fault = classify(error)
        what = describe(error)
        if fault is Fault.REJECTED:
            if what not in self._refusals:
                self._refusals.add(what)
                log.error(
                    "redis at %s: its TLS certificate does not verify (%s); check "
                    "REDIS_CA_FILE and that REDIS_URL names a host the certificate is for",
                    self.circuit.where,
                    cause(error),
                )
            return StateCertificateRejected(
                f"redis TLS certificate rejected: {what}", REJECTED_RETRY_AFTER
            )
        if fault in (Fault.UNREACHABLE, Fault.UNAVAILABLE) and self.on_outage is not None:
            self.on_outage()
        if fault is Fault.UNREACHABLE:
            self.circuit.trip(cause(error))
            return StateUnavailable(f"redis unreachable: {what}", self.circuit.retry_after())
        if fault is Fault.UNAVAILABLE:
            if what not in self._refusals:
                self._refusals.add(what)
                log.warning("redis at %s cannot serve: %s", self.circuit.where, what)
            return StateUnavailable(f"redis cannot serve: {what}")
        first = what not in self._internal
        self._internal.add(what)
        log.error("a redis call failed: %s", what, exc_info=error if first else None)
        return InternalError()
