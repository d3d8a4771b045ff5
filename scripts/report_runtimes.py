"""Per-job runtimes of the prediction jobs (benchmark files) and the prediction part of the plan (results/plan.csv)."""

from m1repro.log import setup_logging
from m1repro.report.runtimes import job_gpus, plan_per_model, runtimes_frame, write_csv

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
write_csv(runtimes_frame(list(smk.input.bench), job_gpus(smk.input.plan)), smk.output.runtimes)
write_csv(plan_per_model(smk.input.plan, list(smk.params.models)), smk.output.plan)
