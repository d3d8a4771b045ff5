"""Released evaluation: Table 1 of the published checkpoints and baselines next to the paper, and its GPU plan."""

from m1repro.log import setup_logging
from m1repro.report.compare import write_comparison
from m1repro.report.runtimes import plan_per_model, write_csv
from m1repro.report.tables import write_table1

smk = snakemake  # type: ignore[name-defined]  # noqa: F821
setup_logging(smk.log[0])
i, p, o = smk.input, smk.params, smk.output
write_table1(list(i.scores), list(p.table1_models), o.table1_csv, o.table1_md, o.table1_tex)
write_comparison(i.paper, list(i.scores), list(p.table1_models), [], p.tolerance, 0.0,
                 {"csv": o.csv, "md": o.md, "scorer_csv": o.scorer_csv, "budget_csv": o.budget_csv},
                 budget_note="Not part of the released evaluation.")
write_csv(plan_per_model(i.plan, [m["name"] for m in p.table1_models]), o.plan)
