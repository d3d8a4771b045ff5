# Training: SFT of the m1 models (trl + DeepSpeed ZeRO-3), one job per run under train.runs.
# Trainer checkpoints live outside the declared output (train.checkpoint_root, default cache/train/{run}/{spec hash}),
# so a job killed or timed out resumes from its last checkpoint on the next attempt; the declared output, the final
# model directory, appears only once training and saving finished (written aside, then renamed), and is then
# write-protected.


rule train_sft:
    input:
        unpack(get_train_inputs),
        hub=get_train_hub_inputs,
    output:
        # read-only once trained (protected): a rerun never overwrites GPU-hours by accident; delete it to retrain
        model=protected(directory(wf.TRAINED_MODEL)),
    log:
        launcher="logs/train_sft/{run}.launcher.log",  # the job script's JSON lines + all processes' output
        train="logs/train_sft/{run}.log",  # rank 0's JSON lines
    benchmark:
        "logs/benchmarks/train_sft/{run}.tsv"
    wildcard_constraints:
        run=name_regex(TRAIN_RUNS),
    conda:
        conda_env("train")
    container:
        container_image("train")
    # Two threads keep a CPU (tiny) run alone on a 2-core machine: torch's intra-op threads slow down many times
    # when another job shares the cores. On SLURM the CPUs come from the cpus_per_task resource.
    threads: 2
    resources:
        **get_train_resources(),
        tasks_per_gpu=0,
    params:
        spec=get_train_spec,
        checkpoints=get_train_checkpoints,
    script:
        "../scripts/train_sft.py"


rule train_all:
    input:
        expand(wf.TRAINED_MODEL, run=TRAIN_RUNS),
    localrule: True
