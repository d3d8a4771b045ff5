# Evaluation: the evaluation file -> validated items -> predictions (one job per model x part) -> scores.


rule eval_download:
    output:
        wf.EVAL_DOWNLOAD,
    log:
        "logs/eval_download.log",
    localrule: True
    conda:
        "../envs/data.yaml"
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
        "../envs/data.yaml"
    params:
        datasets=DATASETS,
        on_invalid=config["eval"]["on_invalid"],
        max_items=config["eval"]["max_items_per_dataset"],
        allow_empty=config["eval"]["allow_empty_datasets"],
    script:
        "../scripts/eval_prepare.py"


rule models_tiny:
    output:
        directory(f"{wf.TINY_MODEL_DIR}/{{name}}"),
    log:
        "logs/models_tiny/{name}.log",
    conda:
        "../envs/train.yaml"
    resources:
        **get_cpu_resources(),
    params:
        spec=get_tiny_model_spec,
    script:
        "../scripts/models_tiny.py"


# One job per model x part: a part is one dataset, or `all` datasets in the evaluation file's order (grouped datasets,
# or faithful "Wait" forcing, whose batches span the file). One model load serves every variant of the model; the
# variants are records of the one output file.
rule eval_predict:
    input:
        eval_items=wf.ITEMS,
        model=get_model_inputs,
        hub=get_model_hub_inputs,
    output:
        ensure(wf.PREDICTIONS, non_empty=True),
    log:
        job="logs/eval_predict/{budget_mode}/{model}/{part}.log",
        server="logs/eval_predict/{budget_mode}/{model}/{part}.sglang.log",
    benchmark:
        "logs/benchmarks/eval_predict/{budget_mode}/{model}/{part}.tsv"
    wildcard_constraints:
        budget_mode=name_regex(BUDGET_MODES),
        model=name_regex(MODELS),
        part=name_regex(PARTS),
    conda:
        "../envs/inference.yaml"
    resources:
        **rsc.gpu_rule_resources(SITE, get_predict_gpu_job),
    params:
        job=get_predict_job,
    script:
        "../scripts/eval_predict.py"


rule eval_score:
    input:
        predictions=get_prediction_files,
        eval_items=wf.ITEMS,
        code=SCORING_CODE,
    output:
        scores=wf.SCORES,
        scored=ensure(wf.SCORED, non_empty=True),
    log:
        "logs/eval_score/{budget_mode}/{model}.log",
    wildcard_constraints:
        budget_mode=name_regex(BUDGET_MODES),
        model=name_regex(MODELS),
    localrule: True
    conda:
        "../envs/data.yaml"
    params:
        scorer=config["eval"]["scorer"],
        datasets=DATASETS,
        variants=get_variant_names,
    script:
        "../scripts/eval_score.py"
