# m1repro: the m1 paper (test-time scaling for medical reasoning) as one Snakemake workflow.
#   snakemake --profile profiles/tiny results/table1.csv     # tiny CPU run (fixture data, tiny models)
#   snakemake --profile profiles/slurm results/table1.csv    # the paper's setup on a SLURM cluster
from snakemake.utils import min_version

min_version("9.0")


# The configuration: the config files given (--configfile, a profile's configfile) and --config values are an overlay
# merged onto config/config.yaml (the paper's setup), unless they name another base (`base: FILE`) or none
# (`base: null`: a complete configuration, as config/tiny.yaml is, so the tiny run never inherits the paper's
# models). Then validated against config/schemas/config.schema.yaml (defaults filled, unknown keys are errors).
from m1repro.config import resolve_config

_resolved = resolve_config(config, workflow.overwrite_configfiles, workflow.config_settings.config)
config.clear()
config.update(_resolved)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/hub.smk"
include: "rules/curate.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


# Before the first job of a run (not a dry run): conda envs, hub access and API keys, each problem reported at once.
onstart:
    before_run()


rule all:
    default_target: True
    input:
        "results/table1.csv",
    localrule: True
