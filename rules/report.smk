# Reviewer outputs: the paper's tables and figures, the comparison with its numbers, runtimes and the configuration.
# Everything here is cheap (local rules, polars and matplotlib on a CPU); the logic is in m1repro/report.
#   snakemake --profile profiles/tiny report_all                                  # every table and figure
#   snakemake --profile profiles/tiny report_all --report results/report.html     # then the HTML report
#   snakemake --profile profiles/slurm results/released/paper_comparison.md       # released checkpoints only
# The params of reported jobs pass through html_safe: the HTML report embeds them unescaped (m1repro/report/escape.py).
from m1repro.report.escape import html_safe


rule report_table1:
    input:
        scores=report_score_files(TABLE1_MODELS),
    output:
        csv=report("results/table1.csv", category="Tables", caption="../report/table1.rst"),
        md="results/table1.md",
        tex="results/table1.tex",
    log:
        "logs/report_table1.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        models=html_safe(TABLE1_ROWS),
    script:
        "../scripts/report_table1.py"


rule report_table2:
    input:
        scores=report_score_files([m["name"] for m in ABLATION_MODELS]),
    output:
        csv=report("results/table2.csv", category="Tables", caption="../report/table2.rst"),
        md="results/table2.md",
        tex="results/table2.tex",
    log:
        "logs/report_table2.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        models=html_safe(TABLE2_ROWS),
        budget=config["eval"]["table2_budget"],
    script:
        "../scripts/report_table2.py"


rule report_table3:
    input:
        unpack(report_table3_inputs),
    output:
        csv=report("results/table3.csv", category="Tables", caption="../report/table3.rst"),
        md="results/table3.md",
        tex="results/table3.tex",
    log:
        "logs/report_table3.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        sets=html_safe(CURATE_SETS),
    script:
        "../scripts/report_table3.py"


rule report_table4:
    input:
        unpack(report_table4_inputs),
    output:
        csv=report("results/table4.csv", category="Tables", caption="../report/table4.rst"),
        md="results/table4.md",
        tex="results/table4.tex",
    log:
        "logs/report_table4.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    script:
        "../scripts/report_table4.py"


rule report_figure1:
    input:
        scores=report_score_files(FIGURE_MODELS),
    output:
        png=report("results/figure1.png", category="Figures", caption="../report/figure1.rst"),
        pdf="results/figure1.pdf",
        points=report(
            "results/figure1_points.csv", category="Figures", subcategory="Data", caption="../report/figure1.rst"
        ),
        fits=report("results/figure1_fits.csv", category="Figures", subcategory="Data", caption="../report/figure1.rst"),
    log:
        "logs/report_figure1.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        models=html_safe([{"name": m, "label": wf.cfg_model(config, m).label} for m in FIGURE_MODELS]),
        datasets=DATASETS,
        budgets=sorted(set(config["eval"]["budgets"]) | {config["eval"]["table1_budget"]}),
        dpi=REPORT["figure_dpi"],
    script:
        "../scripts/report_figure1.py"


rule report_figure3:
    input:
        scores=report_score_files(FIGURE_MODELS),
    output:
        png=report("results/figure3.png", category="Figures", caption="../report/figure3.rst"),
        pdf="results/figure3.pdf",
        points=report(
            "results/figure3_points.csv", category="Figures", subcategory="Data", caption="../report/figure3.rst"
        ),
    log:
        "logs/report_figure3.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        models=html_safe([{"name": m, "label": wf.cfg_model(config, m).label} for m in FIGURE_MODELS]),
        datasets=DATASETS,
        forcing_budgets=config["eval"]["forcing"]["budgets"],
        rounds=config["eval"]["forcing"]["rounds"],
        dpi=REPORT["figure_dpi"],
    script:
        "../scripts/report_figure3.py"


rule report_compare:
    input:
        unpack(report_exact_inputs),
        unpack(report_count_tables),
        paper=REPORT["paper_numbers"],
        scores=report_score_files(REPORTED_MODELS),
    output:
        csv=report(
            "results/paper_comparison.csv",
            category="Comparison with the paper",
            caption="../report/paper_comparison.rst",
        ),
        md="results/paper_comparison.md",
        scorer_csv=report(
            "results/scorer_comparison.csv",
            category="Comparison with the paper",
            caption="../report/scorer_comparison.rst",
        ),
        budget_csv=report(
            "results/budget_mode_comparison.csv",
            category="Comparison with the paper",
            caption="../report/budget_mode_comparison.rst",
        ),
    log:
        "logs/report_compare.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        table1_models=html_safe([report_model_row(m) for m in TABLE1_MODELS]),
        table2_models=html_safe(ABLATION_MODELS),
        tolerance=REPORT["tolerance"],
        count_tolerance=REPORT["count_tolerance"],
        budget_note=REPORT_BUDGET_NOTE,
    script:
        "../scripts/report_compare.py"


rule report_runtimes:
    input:
        bench=report_bench_files(),
        plan="results/plan.csv",
    output:
        runtimes=report("results/report/runtimes.csv", category="Runtimes", caption="../report/runtimes.rst"),
        plan=report("results/report/gpu_plan.csv", category="Runtimes", caption="../report/runtimes.rst"),
    log:
        "logs/report_runtimes.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        models=html_safe(REPORTED_MODELS),
    script:
        "../scripts/report_runtimes.py"


# The bill before submitting: every GPU job and paid API stage of the configuration on the site, with GPU-hours
# estimated and reserved and API dollars (m1repro.plan); the same functions size the SLURM requests.
rule report_plan:
    input:
        site=str(SITE_PATH),
    output:
        csv="results/plan.csv",
        md="results/plan.md",
    log:
        "logs/report_plan.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        config=CONFIG_AS_GIVEN,
    script:
        "../scripts/report_plan.py"


rule report_config:
    output:
        report("results/report/config.yaml", category="Configuration", caption="../report/config.rst"),
    log:
        "logs/report_config.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        config=html_safe(config),
    script:
        "../scripts/report_config.py"


# The cheapest check of Table 1: published checkpoints and baselines only (no curation, training or API spend).
rule report_released:
    input:
        paper=REPORT["paper_numbers"],
        scores=report_score_files(RELEASED_MODELS),
        plan="results/plan.csv",
    output:
        table1_csv="results/released/table1.csv",
        table1_md="results/released/table1.md",
        table1_tex="results/released/table1.tex",
        csv="results/released/paper_comparison.csv",
        md="results/released/paper_comparison.md",
        scorer_csv="results/released/scorer_comparison.csv",
        budget_csv="results/released/budget_mode_comparison.csv",
        plan="results/released/gpu_plan.csv",
    log:
        "logs/report_released.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        table1_models=html_safe([report_model_row(m) for m in RELEASED_MODELS]),
        tolerance=REPORT["tolerance"],
    script:
        "../scripts/report_released.py"


rule report_all:
    input:
        "results/table1.csv",
        "results/table2.csv",
        "results/table3.csv",
        "results/table4.csv",
        "results/figure1.png",
        "results/figure3.png",
        "results/paper_comparison.md",
        "results/report/runtimes.csv",
        "results/report/config.yaml",
        "results/released/paper_comparison.md",
    localrule: True


# The appendix's token-length figure (paper Figure 8(a); m1repro/report/token_lengths.py), an optional target:
#   snakemake --profile slurm results/figures/token_lengths.png
rule report_token_lengths_count:
    input:
        unpack(get_token_length_inputs),
    output:
        lengths="results/figures/token_lengths.csv",
        stats=report(
            "results/figures/token_lengths_stats.csv",
            category="Figures",
            subcategory="Data",
            caption="../report/token_lengths.rst",
        ),
    log:
        "logs/report_token_lengths_count.log",
    localrule: True
    conda:
        conda_env("train")
    container:
        container_image("train")
    params:
        tokenizer=REPORT["token_lengths"]["tokenizer"],
        s1k=REPORT["token_lengths"]["s1k"],
    script:
        "../scripts/report_token_lengths_count.py"


rule report_token_lengths:
    input:
        "results/figures/token_lengths.csv",
    output:
        png=report("results/figures/token_lengths.png", category="Figures", caption="../report/token_lengths.rst"),
        pdf="results/figures/token_lengths.pdf",
    log:
        "logs/report_token_lengths.log",
    localrule: True
    conda:
        conda_env("report")
    container:
        container_image("report")
    params:
        dpi=REPORT["figure_dpi"],
    script:
        "../scripts/report_token_lengths.py"
