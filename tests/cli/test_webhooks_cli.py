"""The webhook commands: verify-signature (as a receiver's operator uses it), list, and deliver's help."""

from __future__ import annotations

import time

from diagnosis_service.cli import main
from diagnosis_service.pipeline.signing import sign, subscription_secret, verify

SECRET = subscription_secret("service-key", "salt")


def test_verify_signature_accepts_the_signed_body_and_refuses_a_changed_one(runner, tmp_path):
    body = b'{"id":"evt_1","type":"lamp.changed","data":{"to":"red"}}'
    ts = int(time.time())
    sig = sign(SECRET, ts, body)
    (tmp_path / "body.json").write_bytes(body)
    ok = runner.invoke(main, ["webhooks", "verify-signature", "--secret", SECRET, "--timestamp", str(ts),
                              "--signature", sig, str(tmp_path / "body.json")])
    assert ok.exit_code == 0 and ok.stdout.strip() == "valid"
    tampered = runner.invoke(main, ["webhooks", "verify-signature", "--timestamp", str(ts), "--signature", sig],
                             input=body.replace(b"red", b"green"), env={"WEBHOOK_SECRET": SECRET})
    assert tampered.exit_code == 1 and "does not match" in tampered.stderr
    old = runner.invoke(main, ["webhooks", "verify-signature", "--secret", SECRET, "--timestamp", str(ts - 900),
                               "--signature", sign(SECRET, ts - 900, body)], input=body)
    assert old.exit_code == 1 and "window" in old.stderr
    anytime = runner.invoke(main, ["webhooks", "verify-signature", "--secret", SECRET, "--timestamp", str(ts - 900),
                                   "--signature", sign(SECRET, ts - 900, body), "--tolerance", "0"], input=body)
    assert anytime.exit_code == 0


def test_signatures_depend_on_the_secret_the_timestamp_and_every_byte():
    body = b'{"a":1}'
    assert sign(SECRET, 100, body) != sign(SECRET, 101, body) != sign(SECRET, 100, b'{"a":2}')
    assert sign(SECRET, 100, body) != sign(subscription_secret("other-key", "salt"), 100, body)
    assert subscription_secret("k", "s1") != subscription_secret("k", "s2")
    assert "Unix time" in verify(SECRET, "yesterday", body, sign(SECRET, 100, body))


def test_webhooks_list_and_deliver_on_an_empty_database(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("DIAGNOSIS_VAR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    listed = runner.invoke(main, ["webhooks", "list"])
    assert listed.exit_code == 0 and "no subscriptions" in listed.stderr
    done = runner.invoke(main, ["deliver", "--until-idle", "--max-seconds", "5"])
    assert done.exit_code == 0, done.output
    assert "WEBHOOK_ALLOWED_HOSTS is empty" in done.stderr and "pending 0" in done.stderr
    bad = runner.invoke(main, ["deliver", "--until-idle"], env={"WEBHOOK_ALLOWED_HOSTS": "http://x/"})
    assert bad.exit_code != 0 and "WEBHOOK_ALLOWED_HOSTS" in bad.stderr and "host pattern" in bad.stderr
    assert "SIGTERM" in runner.invoke(main, ["deliver", "--help"]).stdout
