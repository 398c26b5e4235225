"""Who may call: principals, bearer-token verification, scopes and per-caller limits."""

from mcpfleet.auth.principal import Principal

__all__ = ["Principal"]
