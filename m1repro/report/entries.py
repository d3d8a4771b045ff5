"""The report rules' entry points (``scripts/report_*.py`` call these through :func:`m1repro.smk.run`)."""

from __future__ import annotations

import logging

import polars as pl
import yaml

from m1repro.io import read_json, write_text_atomic
from m1repro.log import log_event, redact_obj
from m1repro.report.compare import write_comparison
from m1repro.report.figures import write_figure1, write_figure3
from m1repro.report.runtimes import job_gpus, plan_per_model, runtimes_frame, write_csv
from m1repro.report.tables import (
    domain_counts_from_sets,
    short_set_notes,
    table3_frame,
    table3_from_sets,
    table4_frame,
    write_table1,
    write_table2,
    write_table3,
    write_table4,
)
from m1repro.smk import RuleJob

log = logging.getLogger(__name__)


def report_table1(job: RuleJob) -> None:
    """Table 1: accuracy (%) per model and dataset at the Table 1 budget, with the mean of the ten columns."""
    o = job.output
    write_table1(list(job.input.scores), list(job.params.models), o.csv, o.md, o.tex)


def report_table2(job: RuleJob) -> None:
    """Table 2: the data-filtering ablation (models fine-tuned on each set, at the Table 2 budget)."""
    o = job.output
    write_table2(list(job.input.scores), list(job.params.models), o.csv, o.md, o.tex, budget=job.params.budget)


def report_table3(job: RuleJob) -> None:
    """Table 3: samples per source at each curation stage (counts.json) or, for released sets, in each set."""
    i, o = job.input, job.output
    flags: list[str] = []
    if i.get("counts"):
        counts = read_json(i.counts)
        df, origin, flags = table3_frame(counts), i.counts, short_set_notes(counts)
    else:
        df = table3_from_sets(dict(zip(job.params.sets, i.sets, strict=True)))
        origin = "the released sets (" + ", ".join(i.sets) + "); no stage counts"
    write_table3(df, o.csv, o.md, o.tex, origin, flags)


def report_table4(job: RuleJob) -> None:
    """Table 4: MeSH domains of m23K and m1K per source."""
    i, o = job.input, job.output
    if i.get("domain_counts"):
        counts, origin = pl.read_parquet(i.domain_counts), i.domain_counts
    else:
        counts = domain_counts_from_sets(i.m23k, i.m1k)
        origin = f"the released sets ({i.m23k}, {i.m1k})"
    write_table4(
        table4_frame(counts) if counts.height else counts.rename({"domain": "Domain"}), o.csv, o.md, o.tex, origin
    )


def report_figure1(job: RuleJob) -> None:
    """Figure 1: accuracy vs thinking budget per dataset for the figure models, with linear fits and 95% bands."""
    p, o = job.params, job.output
    write_figure1(
        list(job.input.scores),
        list(p.models),
        list(p.datasets),
        list(p.budgets),
        {"png": o.png, "pdf": o.pdf, "points": o.points, "fits": o.fits},
        dpi=p.dpi,
    )


def report_figure3(job: RuleJob) -> None:
    """Figure 3: accuracy vs the number of "Wait" rounds (budget forcing) per dataset for the figure models."""
    p, o = job.params, job.output
    write_figure3(
        list(job.input.scores),
        list(p.models),
        list(p.datasets),
        list(p.forcing_budgets),
        list(p.rounds),
        {"png": o.png, "pdf": o.pdf, "points": o.points},
        dpi=p.dpi,
    )


def report_compare(job: RuleJob) -> None:
    """Every cell of Tables 1-4 next to the paper's number, flagged beyond the tolerance; scorer and budget modes."""
    i, p, o = job.input, job.params, job.output
    write_comparison(
        i.paper,
        list(i.scores),
        list(p.table1_models),
        list(p.table2_models),
        p.tolerance,
        p.count_tolerance,
        {"csv": o.csv, "md": o.md, "scorer_csv": o.scorer_csv, "budget_csv": o.budget_csv},
        table3_csv=i.get("table3"),
        table4_csv=i.get("table4"),
        exact_paths=list(i.get("exact", [])) or None,
        faithful_paths=list(i.get("faithful", [])),
        budget_note=p.budget_note,
    )


def report_released(job: RuleJob) -> None:
    """Released evaluation: Table 1 of the published checkpoints and baselines next to the paper, and their part of
    the plan."""
    i, p, o = job.input, job.params, job.output
    write_table1(list(i.scores), list(p.table1_models), o.table1_csv, o.table1_md, o.table1_tex)
    write_comparison(
        i.paper,
        list(i.scores),
        list(p.table1_models),
        [],
        p.tolerance,
        0.0,
        {"csv": o.csv, "md": o.md, "scorer_csv": o.scorer_csv, "budget_csv": o.budget_csv},
        budget_note="Not part of the released evaluation.",
    )
    write_csv(plan_per_model(i.plan, [m["name"] for m in p.table1_models]), o.plan)


def report_runtimes(job: RuleJob) -> None:
    """Per-job runtimes of the prediction jobs (benchmark files) and the prediction part of the plan."""
    write_csv(runtimes_frame(list(job.input.bench), job_gpus(job.input.plan)), job.output.runtimes)
    write_csv(plan_per_model(job.input.plan, list(job.params.models)), job.output.plan)


def report_plan(job: RuleJob) -> None:
    """The bill before submitting: every GPU job and paid API stage of this configuration on the site."""
    # the plan's modules (sizing, curation estimates) load only here: the report env of the other rules lacks them
    from m1repro.plan import write_plan
    from m1repro.site import load_site

    df = write_plan(dict(job.params.config), load_site(job.input.site), job.output.csv, job.output.md)
    total = df.row(df.height - 1, named=True)
    log_event(
        log,
        "plan written",
        jobs=df.height,
        gpu_hours_estimated=round(total["gpu_hours_estimated"], 1),
        gpu_hours_reserved=round(total["gpu_hours_reserved"], 1),
        usd=round(total["usd"], 2),
    )


def report_config(job: RuleJob) -> None:
    """The validated configuration of this run (defaults filled in), for the HTML report."""
    # redacted: a key pasted into any string of the config (a URL's query, a note) never reaches the report
    config = redact_obj(dict(job.params.config))
    write_text_atomic(job.output[0], yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
