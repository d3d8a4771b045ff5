# m1repro: the m1 paper (test-time scaling for medical reasoning) as one Snakemake workflow.
#   snakemake --profile profiles/tiny results/table1.csv     # tiny CPU run (fixture data, tiny models)
#   snakemake --profile profiles/slurm results/table1.csv    # the paper's setup on a SLURM cluster
from snakemake.utils import min_version, validate

min_version("9.0")


# The paper's setup unless a config file is given (--configfile, or a profile such as profiles/tiny): a given file
# replaces it rather than being merged into it, so the tiny run never inherits the paper's models.
if not config:

    configfile: "config/config.yaml"


validate(config, "config/schemas/config.schema.yaml", set_default=True)


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/curate.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        "results/table1.csv",
    default_target: True
    localrule: True
