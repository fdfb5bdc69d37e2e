"""The command line's Ctrl-C and SIGTERM handling (``cli.common.stops_noted``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("sigint_default")  # a run started in the background ignores Ctrl-C


def test_a_stop_python_dropped_is_still_noted():
    """``stops_noted``: a Ctrl-C or SIGTERM raised where Python drops the exception ("Exception ignored in"
    a garbage-collection callback) is raised again by the check; the handlers before it come back after."""
    import contextlib
    import signal

    from diagnosis_service.cli.common import stops_noted

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    for signum, raised in ((signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)):
        # A block that swallowed the check's stop too does not end as if done: its end raises it.
        with pytest.raises(raised) as at_the_end, stops_noted() as check:
            check()  # nothing noted: nothing raised
            with contextlib.suppress(raised):  # dropped, as in a callback
                signal.raise_signal(signum)
            with pytest.raises(raised) as again:
                check()
        assert signum == signal.SIGINT or again.value.code == at_the_end.value.code == 128 + signal.SIGTERM
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


def test_a_stop_dropped_in_a_finalizer_is_not_printed_and_other_errors_are():
    """A Ctrl-C that lands while a ``__del__`` runs (dask's ``Future.__del__`` at the end of a run) is dropped
    by Python and was printed as "Exception ignored in ... Traceback" before the run said "Aborted!": a
    person read a crash. Inside ``stops_noted`` it is not printed (the check raises it); any other error a
    finalizer drops still reaches the hook there before, and that hook is back after."""
    import gc
    import signal
    import sys

    from diagnosis_service.cli.common import stops_noted

    seen: list[type[BaseException]] = []

    def hook(unraisable) -> None:
        seen.append(type(unraisable.exc_value))

    class Stops:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)  # the handler runs here, inside the finalizer

    class Fails:
        def __del__(self) -> None:
            raise ValueError("a finalizer's own error")

    class Interrupted:
        def __del__(self) -> None:
            raise KeyboardInterrupt  # not the stop's own: a Ctrl-C by other means is still said

    before = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        with pytest.raises(KeyboardInterrupt), stops_noted():  # the last thing in the block: its end raises it
            Stops()
            gc.collect()
            assert seen == []
            Fails()
            Interrupted()
            gc.collect()
            assert seen == [ValueError, KeyboardInterrupt]
        assert sys.unraisablehook is hook
    finally:
        sys.unraisablehook = before
