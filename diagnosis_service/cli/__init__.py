"""The command line: one module per command group, thin wrappers over the pipeline (no logic of its own).

``diagnosis-service --help`` lists the commands; every command has ``--help``.
"""

from __future__ import annotations

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


from . import catalog, data, diagnose, model, overview, rules, simulate, store, webhooks  # noqa: E402 -- they register on ``main``

__all__ = ["catalog", "data", "diagnose", "main", "model", "overview", "rules", "simulate", "store", "webhooks"]
