"""Talking to a running `crosslmm serve`: HTTP with the standard library, errors back into typed errors.

- `connection`: `ServerConnection` (GET, POST, Server-Sent Events), `is_loopback`.

Knows the server's routes and wire format, not the CLI's flags; imports no torch, numpy or HTTP
library, so a command in client mode starts in a fraction of a second.
"""

from crosslmm_cli.client.connection import ServerConnection, is_loopback

__all__ = ["ServerConnection", "is_loopback"]
