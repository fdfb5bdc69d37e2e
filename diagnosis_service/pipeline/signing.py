"""Webhook signatures (Stripe's scheme): ``X-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<X-Timestamp>." + body`` under the subscription's secret; a receiver checks it and that the timestamp
is recent (a replayed delivery is refused). A subscription's secret is derived from a salt kept in its
row and the service's key, so it is never stored and can be shown once.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TOLERANCE = 300  # seconds a receiver should accept between X-Timestamp and its clock
PREFIX = "whsec_"


def subscription_secret(service_key: str, salt: str) -> str:
    """The signing secret of a subscription: what its receiver is given once, at creation."""
    return PREFIX + hmac.new(service_key.encode("utf-8"), f"webhook:{salt}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` value of a delivery."""
    mac = hmac.new(secret.encode("utf-8"), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str | int, body: bytes, signature: str, tolerance: float = TOLERANCE,
           now: float | None = None) -> str | None:
    """None when ``signature`` signs ``body`` at ``timestamp`` and the timestamp is within ``tolerance``
    seconds of ``now``; otherwise why not (one sentence)."""
    try:
        ts = int(str(timestamp))
    except ValueError:
        return f"X-Timestamp is not a Unix time in seconds: {str(timestamp)[:40]!r}"
    expected = sign(secret, ts, body)
    if not hmac.compare_digest(expected.encode(), str(signature).strip().encode()):
        return "the signature does not match the body and timestamp (wrong secret, or a changed body)"
    age = (time.time() if now is None else now) - ts
    if abs(age) > tolerance:
        return f"the timestamp is {age:+.0f} s from now, outside the {tolerance:g} s window (a replay?)"
    return None


__all__ = ["PREFIX", "TOLERANCE", "sign", "subscription_secret", "verify"]
