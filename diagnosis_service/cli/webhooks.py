"""Webhooks: `deliver` (the delivery worker) and `webhooks` (list, verify-signature, an example receiver)."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import click

from . import main
from .common import handle_errors, settings


def _engine():
    from ..store import make_engine

    return make_engine(settings().db_url())


@main.command()
@click.option("--until-idle", is_flag=True, help="Stop when nothing is pending (retries waiting count as pending).")
@click.option("--max-seconds", type=click.FloatRange(0.1, 10 ** 7), default=None,
              help="Stop after this long, a batch under way too, once the send in flight ends (at most "
                   "WEBHOOK_TIMEOUT_SECONDS more); default: run until SIGTERM or Ctrl-C.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
@handle_errors
def deliver(until_idle: bool, max_seconds: float | None, quiet: bool) -> None:
    """Deliver the outbox's webhook events to their subscribers (a worker; run several on PostgreSQL).

    Sends each subscription's events in order, signed (X-Signature), retried with backoff up to
    WEBHOOK_MAX_ATTEMPTS, then dead-lettered; SIGTERM or Ctrl-C stops it after the current attempt.
    Setting WEBHOOK_DELIVER_IN_SERVE=true runs one inside `serve` instead. See docs/webhooks.md."""
    from sqlalchemy.exc import DBAPIError

    from ..errors import StoreError
    from ..pipeline.deliver import DeliveryConfig, Worker

    config = settings()
    worker = Worker(_engine(), DeliveryConfig.from_settings(config))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop.set())
    if not config.webhook_allowed_hosts:
        click.echo("warning: WEBHOOK_ALLOWED_HOSTS is empty: every delivery will be dead-lettered", err=True)
    worker.backlog()  # a database that does not answer now (a wrong DATABASE_URL): exit 2 here; later, it waits
    click.echo(f"delivering from {config.safe_db_url()} as {worker.owner}", err=True)
    last = [0.0]

    def report(stats) -> None:
        if not quiet and time.monotonic() - last[0] >= 2:
            last[0] = time.monotonic()
            click.echo(f"delivered {stats.delivered}, retrying {stats.failed}, dead {stats.dead}", err=True)

    stats = worker.run(max_seconds=max_seconds, until_idle=until_idle, report=report)
    try:
        left = worker.backlog()
        backlog = f"pending {left['pending']}, dead in all {left['dead']}"
    except (DBAPIError, StoreError):  # stopped during an outage: what is left is not known now
        backlog = "pending not known (the database does not answer)"
    click.echo(f"delivered {stats.delivered}, failed attempts {stats.failed}, dead-lettered {stats.dead}; {backlog}",
               err=True)


@main.group()
def webhooks() -> None:
    """Webhook subscriptions (created through POST /v1/webhooks), signatures, an example receiver."""


@webhooks.command("list")
@handle_errors
def webhooks_list() -> None:
    """Subscriptions and their deliveries by status (never the secrets)."""
    from ..pipeline.webhooks import listing

    with _engine().connect() as conn:
        out = listing(conn)
    for w in out["webhooks"]:
        scope = w["street"] or (",".join(w["branches"][:3]) + ("..." if len(w["branches"]) > 3 else "")
                                if w["branches"] else "district")
        d = w["deliveries"]
        click.echo(f"{w['id']:4d} {w['url']}  [{','.join(w['events'])}] {scope}  delivered {d['delivered']} "
                   f"pending {d['pending']} dead {d['dead']}")
    if not out["webhooks"]:
        click.echo("no subscriptions (an administrator creates them with POST /v1/webhooks)", err=True)


@webhooks.command("verify-signature")
@click.option("--secret", envvar="WEBHOOK_SECRET", required=True, help="The subscription's secret (or WEBHOOK_SECRET).")
@click.option("--timestamp", required=True, help="The X-Timestamp header.")
@click.option("--signature", required=True, help="The X-Signature header (sha256=...).")
@click.option("--tolerance", type=click.FloatRange(0), default=300, show_default=True,
              help="Seconds the timestamp may be from now (0: do not check its age).")
@click.argument("body", type=click.File("rb"), default="-")
def verify_signature(secret: str, timestamp: str, signature: str, tolerance: float, body) -> None:
    """Check a delivery's signature: BODY is a file with the exact bytes received (default: stdin).
    Exit 0 when it verifies, 1 when not (and why)."""
    from ..pipeline.signing import verify

    data = body.read(64 * 1024 * 1024)
    why = verify(secret, timestamp, data, signature, tolerance=tolerance if tolerance else float("inf"))
    if why:
        click.echo(f"invalid: {why}", err=True)
        sys.exit(1)
    click.echo("valid")


@webhooks.command("receive")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8099, show_default=True)
@click.option("--secret", envvar="WEBHOOK_SECRET", required=True, help="The subscription's secret (or WEBHOOK_SECRET).")
@click.option("--log", "log_file", type=click.Path(path_type=Path), default=None,
              help="Also append each verified event to this file (JSON lines).")
def receive(host: str, port: int, secret: str, log_file: Path | None) -> None:
    """An example receiver for trying webhooks: verifies each delivery, prints it, answers 204
    (401 to a bad signature). Its code is the receiver of docs/webhooks.md."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from ..pipeline.signing import verify

    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 -- http.server's name
            body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 16 * 1024 * 1024))
            why = verify(secret, self.headers.get("X-Timestamp", ""), body, self.headers.get("X-Signature", ""))
            event_id = self.headers.get("X-Event-Id", "")
            self.send_response(401 if why else 204)
            self.end_headers()
            if why:
                click.echo(f"refused: {why}", err=True)
            elif event_id in seen:
                click.echo(f"duplicate {event_id} (already handled)", err=True)
            else:
                seen.add(event_id)
                click.echo(f"{self.headers.get('X-Event-Type')} {event_id} {body.decode('utf-8', 'replace')[:300]}")
                if log_file:
                    with log_file.open("ab") as fh:
                        fh.write(body + b"\n")

        def log_message(self, *args) -> None:  # one line per event above is enough
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    click.echo(f"receiving on http://{host}:{port}/ (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
