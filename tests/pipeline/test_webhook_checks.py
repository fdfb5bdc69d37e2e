"""The pure parts of webhooks: the allow-list match, the settings that feed it, signatures, backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diagnosis_service.config import Settings
from diagnosis_service.errors import SetupError
from diagnosis_service.pipeline.deliver import DeliveryConfig
from diagnosis_service.pipeline.signing import sign, verify
from diagnosis_service.pipeline.webhooks import host_allowed, url_problems

ALLOWED = ("receiver.example.org", "10.0.0.5:8443", "*.platform.gov.cn", "[::1]:9000")


@pytest.mark.parametrize(("url", "ok"), [
    ("https://receiver.example.org/hook", True),
    ("http://RECEIVER.example.org:8080/hook", True),  # a bare host allows any port
    ("https://receiver.example.org.evil.com/hook", False),
    ("https://evilreceiver.example.org/hook", False),
    ("https://10.0.0.5:8443/x", True),
    ("https://10.0.0.5/x", False),  # 443 is not 8443
    ("http://10.0.0.5:8443@127.0.0.1/x", False),  # the host is 127.0.0.1
    ("https://a.platform.gov.cn/x", True),
    ("https://a.b.platform.gov.cn/x", True),
    ("https://platform.gov.cn/x", False),  # *.domain is its subdomains
    ("https://xplatform.gov.cn/x", False),
    ("http://[::1]:9000/x", True),
    ("http://[::1]:9001/x", False),
    ("http://127.0.0.1/x", False),
])
def test_the_allow_list(url, ok):
    assert host_allowed(url, ALLOWED) is ok


@pytest.mark.parametrize(("url", "ok"), [
    ("http://receiver.example.org:1/x", True), ("http://receiver.example.org:65535/x", True),
    ("http://receiver.example.org:0/x", False), ("http://receiver.example.org:65536/x", False),
    ("http://receiver.example.org:99999/x", False), ("http://receiver.example.org:port/x", False),
])
def test_a_receivers_port_is_one_it_could_listen_on(url, ok):
    problems = url_problems(url, ALLOWED)
    assert (not problems) is ok, problems
    if not ok:
        assert problems[0].message.startswith("url has a bad port") and problems[0].field == ("url",)


def test_the_allow_list_setting_is_parsed_and_checked():
    s = Settings.from_env({"WEBHOOK_ALLOWED_HOSTS": " Receiver.example.org, *.gov.cn ,10.0.0.5:8443,,"})
    assert s.webhook_allowed_hosts == ("receiver.example.org", "*.gov.cn", "10.0.0.5:8443")
    assert Settings.from_env({}).webhook_allowed_hosts == ()
    for bad in ("http://x.org", "x.org/path", "a b", "*.", "x.org:port"):
        with pytest.raises(SetupError, match="WEBHOOK_ALLOWED_HOSTS"):
            Settings.from_env({"WEBHOOK_ALLOWED_HOSTS": bad})
    with pytest.raises(SetupError, match="WEBHOOK_MAX_ATTEMPTS"):
        Settings.from_env({"WEBHOOK_MAX_ATTEMPTS": "0"})


@given(secret=st.text(min_size=1, max_size=40), body=st.binary(max_size=300), ts=st.integers(0, 2**40),
       flip=st.integers(0, 10**6))
def test_a_signature_verifies_its_body_and_no_other(secret, body, ts, flip):
    sig = sign(secret, ts, body)
    assert verify(secret, ts, body, sig, now=ts) is None
    if body:
        i = flip % len(body)
        changed = body[:i] + bytes([body[i] ^ 1]) + body[i + 1:]
        assert verify(secret, ts, changed, sig, now=ts) is not None
    assert verify(secret, ts + 1, body, sig, now=ts) is not None


def test_backoff_doubles_with_jitter_up_to_the_cap_and_is_reproducible():
    config = DeliveryConfig(service_key="k", allowed_hosts=(), retry_base=10, retry_max=3600)
    waits = [config.backoff(7, n) for n in range(1, 14)]
    for n, w in enumerate(waits, start=1):
        ceiling = min(3600, 10 * 2 ** (n - 1))
        assert ceiling / 2 <= w <= ceiling
    assert waits == [config.backoff(7, n) for n in range(1, 14)]
    assert waits != [config.backoff(8, n) for n in range(1, 14)]  # two deliveries do not retry in lockstep
