"""The one seam between rules and the package: every rule script is ``run(snakemake, <entry>)``.

The entry gets a :class:`RuleJob` with the rule's named ``input``, ``output``, ``params``, ``log``, ``wildcards`` and
``resources`` (attribute access, as Snakemake's own objects; a test passes ``SimpleNamespace`` instead), after the
rule's first log file has been opened for the package's JSON-lines logs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from m1repro.hub import OFFLINE_ENV
from m1repro.log import setup_logging

logger = logging.getLogger("m1repro")


@dataclass(frozen=True)
class RuleJob:
    rule: str
    input: Any
    output: Any
    params: Any
    log: Any
    wildcards: Any
    resources: Any
    threads: int = 1
    config: Any = None  # the whole config, for what a job reads but no rerun trigger tracks (API prices)


def run(smk: Any, entry: Callable[[RuleJob], object]) -> None:
    """Open the rule's log and call ``entry``; an exception is logged (with its traceback) and re-raised."""
    setup_logging(smk.log[0] if len(smk.log) else None)
    if "hub" in smk.input.keys():  # every GPU rule names its pre-fetched repos (none for a trained model)
        os.environ.update(OFFLINE_ENV)  # the job's repos were pre-fetched: never reach the hub from a compute node
    job = RuleJob(
        rule=smk.rule,
        input=smk.input,
        output=smk.output,
        params=smk.params,
        log=smk.log,
        wildcards=smk.wildcards,
        resources=smk.resources,
        threads=smk.threads,
        config=getattr(smk, "config", None),
    )
    try:
        entry(job)
    except Exception:
        logger.exception("rule %s failed", smk.rule)
        raise
