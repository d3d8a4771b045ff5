# Evaluation: the evaluation file -> validated items -> predictions (one job per model x part) -> scores.


rule eval_download:
    output:
        wf.EVAL_DOWNLOAD,
    log:
        "logs/eval_download.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        data=config["eval"]["data"],
        revision=(config.get("hub") or {}).get("revisions", {}).get(config["eval"]["data"].get("repo"), "main"),
    script:
        "../scripts/eval_download.py"


rule eval_prepare:
    input:
        get_eval_file(),
    output:
        eval_items=ensure(wf.ITEMS, non_empty=True),
        validation=wf.VALIDATION,
    log:
        "logs/eval_prepare.log",
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        datasets=DATASETS,
        on_invalid=config["eval"]["on_invalid"],
        max_items=config["eval"]["max_items_per_dataset"],
        allow_empty=config["eval"]["allow_empty_datasets"],
        answer_check=config["eval"]["answer_check"],
    script:
        "../scripts/eval_prepare.py"


rule models_tiny:
    output:
        directory(f"{wf.TINY_MODEL_DIR}/{{name}}"),
    log:
        "logs/models_tiny/{name}.log",
    conda:
        conda_env("train")
    container:
        container_image("train")
    resources:
        **get_cpu_resources(),
    params:
        spec=get_tiny_model_spec,
    script:
        "../scripts/models_tiny.py"


# One job per model x part x shard: a part is one dataset, or `all` datasets in the evaluation file's order (grouped
# datasets, or faithful "Wait" forcing, whose batches span the file); a shard is a run of the part's items that fits
# the site's time limit (m1repro.shards; most parts are one shard, `0-end`). One model load serves every variant of
# the model; the variants are records of the one output file. A killed job resumes from its finished batches
# (m1repro.progress).
rule eval_predict:
    input:
        eval_items=wf.ITEMS,
        model=get_model_inputs,
        hub=get_model_hub_inputs,
    output:
        predictions=wf.SHARD_PREDICTIONS,
        params=wf.SHARD_PARAMS,
    log:
        job="logs/eval_predict/{budget_mode}/{model}/{part}/{shard}.log",
        server="logs/eval_predict/{budget_mode}/{model}/{part}/{shard}.sglang.log",
    benchmark:
        "logs/benchmarks/eval_predict/{budget_mode}/{model}/{part}/{shard}.tsv"
    wildcard_constraints:
        budget_mode=name_regex(BUDGET_MODES),
        model=name_regex(MODELS),
        part=name_regex(PARTS),
        shard=SHARD_REGEX,
    conda:
        conda_env("inference")
    container:
        container_image("inference")
    resources:
        **rsc.gpu_rule_resources(SITE, get_predict_gpu_job),
    params:
        job=get_predict_job,
    script:
        "../scripts/eval_predict.py"


# A part's shards, merged into the bytes one unsplit job writes (variant by variant, items in order), with the
# model's configured variants (a shard may hold more: m1repro.workflow.covering_params).
rule eval_merge:
    input:
        get_shard_files,
    output:
        ensure(wf.PREDICTIONS, non_empty=True),
    log:
        "logs/eval_merge/{budget_mode}/{model}/{part}.log",
    wildcard_constraints:
        budget_mode=name_regex(BUDGET_MODES),
        model=name_regex(MODELS),
        part=name_regex(PARTS),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        variants=get_variant_names,
    script:
        "../scripts/eval_merge.py"


rule eval_score:
    input:
        predictions=get_prediction_files,
        eval_items=wf.ITEMS,
        code=SCORING_CODE,
    output:
        scores=wf.SCORES,
        scored=ensure(wf.SCORED, non_empty=True),
        meta=wf.SCORES_META,
    log:
        "logs/eval_score/{budget_mode}/{model}.log",
    wildcard_constraints:
        budget_mode=name_regex(BUDGET_MODES),
        model=name_regex(MODELS),
    localrule: True
    conda:
        conda_env("data")
    container:
        container_image("data")
    params:
        scorer=config["eval"]["scorer"],
        datasets=DATASETS,
        variants=get_variant_names,
        prompt_mode=lambda wc: config["models"][wc.model]["mode"],
    script:
        "../scripts/eval_score.py"
