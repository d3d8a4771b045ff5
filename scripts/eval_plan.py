"""The bill before submitting: every GPU job and paid API stage of this configuration on the site (m1repro.plan)."""

from m1repro.log import log_event, setup_logging
from m1repro.plan import write_plan
from m1repro.site import load_site

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
log = setup_logging(smk.log[0])
df = write_plan(dict(smk.params.config), load_site(smk.params.site), smk.output.csv, smk.output.md)
total = df.row(df.height - 1, named=True)
log_event(log, "plan written", jobs=df.height, gpu_hours_estimated=round(total["gpu_hours_estimated"], 1),
          gpu_hours_reserved=round(total["gpu_hours_reserved"], 1), usd=round(total["usd"], 2))
