"""The command line's Ctrl-C and SIGTERM handling (``cli.common.stops_noted``)."""

from __future__ import annotations

import pytest


def test_a_stop_python_dropped_is_still_noted():
    """``stops_noted``: a Ctrl-C or SIGTERM raised where Python drops the exception ("Exception ignored in"
    a garbage-collection callback) is raised again by the check; the handlers before it come back after."""
    import contextlib
    import signal

    from diagnosis_service.cli.common import stops_noted

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)):
        with stops_noted() as check:
            check()  # nothing noted: nothing raised
            with contextlib.suppress(raised):  # dropped, as in a callback
                signal.raise_signal(signum)
            with pytest.raises(raised) as again:
                check()
        assert signum == signal.SIGINT or again.value.code == 128 + signal.SIGTERM
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    # A signal ignored when the command started (`trap "" INT`, a script's background job) stays ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stops_noted() as check:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            check()  # nothing noted
    finally:
        signal.signal(signal.SIGINT, before[0])
