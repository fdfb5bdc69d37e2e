"""The command line: one module per command group, thin wrappers over the pipeline (no logic of its own).

``diagnosis-service --help`` lists the commands; every command has ``--help``.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

import click

from .. import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="diagnosis-service")
def main() -> None:
    """Diagnosis and prescriptions for grassroots party branches (党建诊疗).

    Typical use: `simulate` a district, `diagnose` a month, read a branch `report`;
    administrators `rules check` and `rules test` their rule files; `db upgrade`, `import`,
    `tokens create` and `serve` run the HTTP service; `deliver` sends its webhooks.
    """


from . import (  # noqa: E402, F401 -- they register on ``main``
    catalog,
    data,
    diagnose,
    loop,
    model,
    model_history,
    overview,
    promote,
    rules,
    simulate,
    store,
    webhooks,
)


def run() -> None:
    """The console script: ``main``, then, when nothing else is left running, a quick exit. A normal exit
    tears the interpreter down object by object (the month ``diagnose`` just wrote is a million of them,
    then pandas' modules): a tenth of a second of a district month's 1.4 s spent on nothing. The atexit
    handlers still run (logging's flush among them) and the output is flushed; the exit status is the one
    ``sys.exit`` would give. With another thread alive (it would be joined) the exit is the normal one."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if threading.active_count() > 1:
        sys.exit(code)
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:
                stream.flush()
    except BaseException:  # noqa: BLE001 -- a closed pipe, say: the normal exit reports it as it always did
        sys.exit(code)
    os._exit(code & 0xFF)


__all__ = ["catalog", "data", "diagnose", "loop", "main", "model", "overview", "rules", "run", "simulate", "store", "webhooks"]
