# Data curation: 196K pool -> dedup -> decontaminate (benchmarks) -> difficulty -> R1 traces -> verify (m23K)
# -> MeSH domains -> m1K and the ablation sets. Logic in m1repro/curate; schemas in m1repro/curate/schema.py;
# how each step follows the original: docs/fidelity.md (Curation).
# Paid API responses are cached under cache/api/ (outside outputs) so a failed or killed job resumes for free.

# API keys are declared (and passed to cluster jobs) only when they are set: Snakemake checks declared envvars when
# it parses the workflow, even for a dry run or an evaluation-only target. Without them planning still works, a
# warning says so before a run whose jobs need them, and the API job stops at its start with an error naming the key.
if CURATE_KEYS and not CURATE_KEYS_MISSING:

    envvars:
        *CURATE_KEYS,


rule curate_collect:
    input:
        get_curate_collect_inputs,
    output:
        pool="results/curate/pool.parquet",
        counts="results/curate/collect_counts.json",
        pubmedqa_test="results/curate/pubmedqa_test.parquet",
    log:
        "logs/curate_collect.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        cfg={k: CURATE.get(k) for k in ("source", "fixtures", "seed", "on_invalid", "check_paper_counts")},
    script:
        "../scripts/curate_collect.py"


rule curate_benchmarks:
    input:
        unpack(get_curate_benchmark_inputs),
    output:
        "results/curate/benchmarks.parquet",
    log:
        "logs/curate_benchmarks.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        cfg={k: CURATE.get(k) for k in ("source", "benchmark_fixtures")},
    script:
        "../scripts/curate_benchmarks.py"


rule curate_dedup:
    input:
        "results/curate/pool.parquet",
    output:
        pool="results/curate/dedup.parquet",
        removed="results/curate/dedup_removed.parquet",
    log:
        "logs/curate_dedup.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    threads: CURATE["dedup"]["workers"]
    resources:
        **get_cpu_resources(runtime=240, mem_mb=16000),
    params:
        cfg=CURATE["dedup"],
    script:
        "../scripts/curate_dedup.py"


rule curate_decontaminate:
    input:
        pool="results/curate/dedup.parquet",
        benchmarks="results/curate/benchmarks.parquet",
        eval=get_curate_eval_file(),
    output:
        pool="results/curate/decontaminated.parquet",
        csv="results/curate/contamination_report.csv",
        md="results/curate/contamination_report.md",
    log:
        "logs/curate_decontaminate.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    threads: CURATE["decontaminate"]["workers"]
    resources:
        **get_cpu_resources(runtime=120, mem_mb=16000),
    params:
        cfg=CURATE["decontaminate"],
    script:
        "../scripts/curate_decontaminate.py"


rule curate_difficulty_model:
    input:
        pool="results/curate/decontaminated.parquet",
        model=get_difficulty_model_input,
        hub=get_difficulty_hub_inputs,
    output:
        wf.DIFFICULTY_SHARD,
    log:
        "logs/curate_difficulty_model/{dmodel}/{dshard}.log",
    benchmark:
        "logs/benchmarks/curate_difficulty_model/{dmodel}/{dshard}.tsv"
    wildcard_constraints:
        dmodel=name_regex(CURATE_DMODELS),
        dshard=shards.DIFFICULTY_SHARD_REGEX,
    conda:
        conda_env("inference")
    container:
        container_image("inference")
    resources:
        **rsc.gpu_rule_resources(SITE, get_difficulty_gpu_job),
    params:
        cfg=get_difficulty_cfg,
    script:
        "../scripts/curate_difficulty_model.py"


# A difficulty model's shards (m1repro.shards: consecutive runs of the pool, as many as the site's time limit needs)
# joined in pool order: the file one unsplit job writes.
rule curate_difficulty_merge:
    input:
        get_difficulty_shard_files,
    output:
        "results/curate/difficulty/{dmodel}.parquet",
    log:
        "logs/curate_difficulty_merge/{dmodel}.log",
    wildcard_constraints:
        dmodel=name_regex(CURATE_DMODELS),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    script:
        "../scripts/curate_difficulty_merge.py"


rule curate_difficulty:
    input:
        pool="results/curate/decontaminated.parquet",
        models=expand("results/curate/difficulty/{dmodel}.parquet", dmodel=CURATE_DMODELS),
    output:
        "results/curate/hard.parquet",
    log:
        "logs/curate_difficulty.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    resources:
        **get_cpu_resources(),
    params:
        models=CURATE_DMODELS,
    script:
        "../scripts/curate_difficulty.py"


rule curate_random_draw:
    input:
        pool="results/curate/pool.parquet",
        eval=get_curate_eval_file(),
    output:
        "results/curate/random_draws.parquet",
    log:
        "logs/curate_random_draw.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    threads: CURATE["decontaminate"]["workers"]
    resources:
        **get_cpu_resources(),
    params:
        cfg={
            "seed": CURATE["seed"],
            "sizes": CURATE["sets"],
            "estimated_accuracy": CURATE["random_estimated_accuracy"],
            "decontaminate": CURATE["decontaminate"],
        },
    script:
        "../scripts/curate_random_draw.py"


rule curate_traces:
    input:
        hard="results/curate/hard.parquet",
        random="results/curate/random_draws.parquet",
        replay=get_curate_replay("traces"),
    output:
        traces=protected("results/curate/traces.parquet"),  # paid API answers: read-only once written
        stats="results/curate/traces_api.json",
    log:
        "logs/curate_traces.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    resources:
        runtime=1440,
        api_slots=1,
    params:
        cfg={"api": wf.tracked_api(CURATE["traces"]["api"]), "request": CURATE["traces"]["request"]},
    script:
        "../scripts/curate_traces.py"


rule curate_verify:
    input:
        traces="results/curate/traces.parquet",
        eval=get_curate_eval_file(),
    output:
        m23k="results/curate/verified.parquet",
        csv="results/curate/contamination_report_m23k.csv",
        md="results/curate/contamination_report_m23k.md",
        counts="results/curate/verify_counts.json",
    log:
        "logs/curate_verify.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    resources:
        **get_cpu_resources(),
    params:
        cfg={"grader": CURATE["traces"]["grader"], "decontaminate": CURATE["decontaminate"]},
    script:
        "../scripts/curate_verify.py"


rule curate_domains:
    input:
        m23k="results/curate/verified.parquet",
        qualifiers=CURATE["domains"]["qualifiers"],
        replay=get_curate_replay("domains"),
    output:
        labelled=protected("results/curate/domains.parquet"),  # paid API answers: read-only once written
        stats="results/curate/domains_api.json",
    log:
        "logs/curate_domains.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    resources:
        runtime=720,
        api_slots=1,
    params:
        cfg={
            "api": wf.tracked_api(CURATE["domains"]["api"]),
            **{k: CURATE["domains"][k] for k in ("request", "on_unparseable")},
        },
    script:
        "../scripts/curate_domains.py"


rule curate_sample:
    input:
        domains="results/curate/domains.parquet",
        traces="results/curate/traces.parquet",
        random="results/curate/random_draws.parquet",
        collect="results/curate/collect_counts.json",
        pool="results/curate/pool.parquet",
        dedup="results/curate/dedup.parquet",
        decontaminated="results/curate/decontaminated.parquet",
        hard="results/curate/hard.parquet",
        verify="results/curate/verify_counts.json",
        traces_api="results/curate/traces_api.json",
        domains_api="results/curate/domains_api.json",
    output:
        sets=expand("results/curate/sampled/{set}.parquet", set=CURATE_SETS),
        m23k=wf.M23K,
        domain_counts="results/curate/domain_counts.parquet",
        counts="results/curate/counts.json",
    log:
        "logs/curate_sample.log",
    conda:
        conda_env("data")
    container:
        container_image("data")
    resources:
        **get_cpu_resources(),
    params:
        cfg={
            "seed": CURATE["seed"],
            "sizes": CURATE["sets"],
            "grader": CURATE["traces"]["grader"],
            "allow_short_sets": CURATE["allow_short_sets"],
        },
        sets=CURATE_SETS,
    script:
        "../scripts/curate_sample.py"


rule curate_released:
    output:
        "results/curate/released/{set}.parquet",
    log:
        "logs/curate_released/{set}.log",
    wildcard_constraints:
        set=name_regex(CURATE_SETS + ["m23k"]),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        hub_id=lookup(dpath="curate/released/{set}", within=config),
    script:
        "../scripts/curate_released.py"


rule curate_set:
    input:
        get_curate_set_input,
    output:
        wf.CURATED_SET,
    log:
        "logs/curate_set/{set}.log",
    wildcard_constraints:
        set=name_regex(CURATE_SETS),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    script:
        "../scripts/curate_set.py"
