"""Whether a request was addressed to this machine's loopback, the one check both servers make.

The playground's page and its fake Bot API listen on 127.0.0.1 only, yet a page of any site
can still reach them through DNS rebinding: its name first resolves to the attacker, then to
127.0.0.1, and the browser sends the request with ``Host: attacker.example``. The fake's token
is fixed in the source, so that would let any site drive the bot. Only the names a browser on
this machine uses for loopback, with the port the request arrived on, are served.
"""

from __future__ import annotations

from aiohttp import hdrs, web

#: The names (in ``Host`` form) of the loopback interface; no outside DNS name maps here.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def addressed_to_loopback(request: web.BaseRequest) -> bool:
    """True when ``Host`` is a loopback name with the port this connection arrived on.

    The port must match too: another local server's page (say on ``localhost:3000``) is a
    different origin and must not borrow this one's name.
    """
    host = request.headers.get(hdrs.HOST, "").lower()
    port = _arrival_port(request)
    return port is not None and host in _hosts_for(port)


def _hosts_for(port: int) -> frozenset[str]:
    """Every ``Host`` value a browser sends for a loopback name on ``port``."""
    with_port = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    return frozenset(with_port | LOOPBACK_NAMES if port == 80 else with_port)


def _arrival_port(request: web.BaseRequest) -> int | None:
    """The local port of the connection (``None`` once it is gone): the port actually served,
    also when the server was started on port 0."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return None
    return int(sockname[1])
