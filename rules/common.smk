# The workflow interface: every path, name list and config -> input/params/resources function the rules use, as plain
# get_* functions over `config` backed by m1repro.workflow (tested without Snakemake). No rules here.
import copy
import os
import re
import shutil

from snakemake.exceptions import WorkflowError
from snakemake.settings.types import DeploymentMethod
from snakemake_interface_executor_plugins.settings import ExecMode

from m1repro import hub
from m1repro import plan
from m1repro import resources as rsc
from m1repro import shards
from m1repro import software
from m1repro import workflow as wf
from m1repro.config import cuda_problem
from m1repro.site import SITE_ENV, load_site, site_file
from m1repro.train import workflow as trainwf

# Jobs (local, or re-executed on a SLURM node) and the processes they launch (torchrun, the SGLang server) import
# the package from this checkout, in whichever conda env the rule uses; a PYTHONPATH of the user's is kept after it.
wf.prepend_pythonpath(workflow.basedir)

# The cluster, described once (docs/site.md): every job's partition, GPUs, CPUs, memory and time limit follow from it.
# The site file: the config's `site`, else the site.yaml next to the --profile given (a copied profile reads its own),
# else profiles/slurm/site.yaml; jobs get the choice through the environment (they have no --profile).
SITE_PATH, _from_profile = site_file(config.get("site"))
if _from_profile:
    os.environ[SITE_ENV] = str(SITE_PATH)
SITE = load_site(SITE_PATH)
# What this site cannot run (weights that fit no node, bf16 training without bf16, a faithful batch longer than any
# limit) is left out of the DAG and listed in the bill and the report (plan.on_unfit); any other planning problem
# stops here, every problem listed at once.
CONFIG_AS_GIVEN = copy.deepcopy(config)
try:
    _fitted, LEFT_OUT = plan.fit_to_site(config, SITE)
except plan.PlanningError as _e:
    raise WorkflowError(str(_e)) from None
config.clear()
config.update(_fitted)
LEFT_OUT_MODELS = {p.name: p.message for p in LEFT_OUT if p.section == "models"}
MODELS = wf.models(config)
DATASETS = wf.datasets(config)
BUDGET_MODES = sorted({m for name in MODELS for m in wf.budget_modes(config, name)})
PARTS = DATASETS + [wf.ALL_PARTS]
SHARD_REGEX = shards.SHARD_REGEX
TRAIN_RUNS = trainwf.runs(config)
CURATE = config["curate"]
CURATE_SETS = list(wf.SET_NAMES)
CURATE_DMODELS = list(CURATE["difficulty"]["models"])
REPORT = config["report"]
# The scoring code is an input of the scoring rule: a scorer fix reruns scoring and tables, never predictions.
SCORING_CODE = [os.path.join(workflow.basedir, "m1repro", f) for f in ("scoring.py", "scores.py")]


def name_regex(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


# ---- hub pre-fetch -------------------------------------------------------------------------------------------------
# Every model repo a GPU job reads is fetched on the login node first (rule hub_fetch); the job gets its manifest as
# input and runs offline from the local snapshot (m1repro.hub, docs/site.md).
HUB_REFS = {ref.repo_id: ref for ref in hub.hub_refs(config, datasets=False)}


def get_hub_ref(wildcards):
    ref = HUB_REFS[wildcards.repo_id]
    return {"repo_id": ref.repo_id, "repo_type": ref.repo_type, "revision": ref.revision, "filename": ref.filename}


def hub_inputs(*paths):
    """The pre-fetch manifests of the hub repos among ``paths`` (none for local paths)."""
    return [hub.manifest_file(HUB_REFS[p]) for p in dict.fromkeys(paths) if p in HUB_REFS]


def check_hub_access():
    """Before a run (not a dry run) that fetches repos: every gated, missing or unknown-revision repo at once."""
    wanted = [HUB_REFS[j.wildcards.repo_id] for j in workflow.dag.needrun_jobs() if j.rule.name == "hub_fetch"]
    try:
        note = hub.check_before_run(wanted)
    except hub.HubAccessError as e:  # every problem, or one for an unreachable hub; no client traceback
        raise WorkflowError(str(e)) from None
    if note:
        logger.warning(note)


# ---- evaluation ----------------------------------------------------------------------------------------------------
def get_eval_file():
    return wf.eval_file(config)


def get_model_inputs(wildcards):
    return wf.model_inputs(config, wildcards.model)


def get_model_hub_inputs(wildcards):
    view = wf.cfg_model(config, wildcards.model)
    return hub_inputs(wf.model_weights(config, wildcards.model), view.tokenizer or "")


def get_predict_job(wildcards):
    """The job's params; those it already ran with when they only add variants (m1repro.workflow.covering_params)."""
    wanted = shards.predict_params(
        config, SITE, wildcards.model, wildcards.budget_mode, wildcards.part, wildcards.shard
    )
    return wf.covering_params(wanted, wf.recorded_params(wf.SHARD_PARAMS.format(**wildcards)))


def get_predict_gpu_job(wildcards):
    """The prediction job's size on the site (GPUs, layout, time limit), from its shard's token upper bound."""
    items = shards.shard_planned_items(config, wildcards.part, wildcards.shard)
    return rsc.predict_job(config, SITE, wildcards.model, wf.part_datasets(config, wildcards.part), items)


def get_shard_files(wildcards):
    return shards.shard_files(config, SITE, wildcards.model, wildcards.budget_mode, wildcards.part)


def get_cpu_resources(**extra):
    """A CPU job's partition and account from the site, plus the rule's own runtime and memory."""
    return {**extra, **rsc.cpu_job_resources(SITE, extra.get("runtime"))}


def get_prediction_files(wildcards):
    return wf.prediction_files(config, wildcards.model, wildcards.budget_mode)


def get_variant_names(wildcards):
    return wf.variant_names(config, wildcards.model)


def get_tiny_model_spec(wildcards):
    return config["tiny_models"][wildcards.name]


# ---- curation ------------------------------------------------------------------------------------------------------
def _curate_api_keys():
    """Env vars naming API keys that the curated path needs (live mode only); replay and released need none."""
    if CURATE["sets_source"] != "curated":
        return []
    apis = [CURATE["traces"]["api"], CURATE["domains"]["api"]]
    if CURATE["difficulty"]["backend"] == "api":
        apis.append(CURATE["difficulty"]["api"])
    return sorted({a["api_key_env"] for a in apis if a.get("mode", "live") == "live" and a.get("api_key_env")})


# Snakemake checks declared envvars when it parses the workflow, even for a dry run or an evaluation-only target.
# So the keys are declared (and passed to cluster jobs) when they are set; when they are not, planning still works,
# a warning says so, and the API job itself stops at its start with an error naming the variable.
CURATE_KEYS = _curate_api_keys()
CURATE_KEYS_MISSING = [k for k in CURATE_KEYS if k not in os.environ]


def warn_missing_api_keys():
    """Before a run (not a dry run) whose jobs call a paid API: say which key variables are missing, all at once."""
    api_rules = {"curate_traces", "curate_domains", "curate_difficulty_model"}
    if CURATE_KEYS_MISSING and any(j.rule.name in api_rules for j in workflow.dag.needrun_jobs()):
        logger.warning(
            f"API key variables {', '.join(CURATE_KEYS_MISSING)} are not set: the curation API stages (R1 traces, "
            "MeSH domains) will stop at their start. Set them, or use curate.sets_source: released (no API spend)."
        )


# ---- software deployment -------------------------------------------------------------------------------------------
# One stack for every job (config `software`, docs/software.md): its conda env per kind of work (envs/<stack>/) and
# its Apptainer image (containers/<kind>.def, built into `container_images`); each rule names both.
SOFTWARE = config["software"]
if workflow.exec_mode == ExecMode.DEFAULT:  # once, in the submitting process (not again in every job's log)
    for _warning in software.site_warnings(SOFTWARE, SITE.gpu_type):
        logger.warning(f"{_warning} (site file {config['site']})")


def conda_env(kind):
    return software.env_file(SOFTWARE, kind)


def container_image(kind):
    return software.image_file(SOFTWARE, kind, config["container_images"])


def require_deployment():
    """Before a run (not a dry run): a deployment method the workflow cannot honour (env-modules, apptainer without
    apptainer or without the images of the jobs to run) stops the run before its first job."""
    methods = {m.name.lower().replace("_", "-") for m in workflow.deployment_settings.deployment_method}
    images = {j.rule.container_img for j in workflow.dag.needrun_jobs() if j.rule.container_img}
    problems = software.deployment_problems(methods, images, shutil.which, host_python=config["jobs_in_host_python"])
    if problems:
        raise WorkflowError("\n".join(problems))


# The SLURM profile deploys each rule's conda env, and Snakemake runs `conda info` for that even in a dry run. Planning
# must not need conda (docs/overlays.md): without `conda` on the PATH the submitting process plans without envs (a dry
# run and results/plan.md work, and a warning says so); a run that would start any other job stops at its start
# (onstart, which --no-hooks skips). This is the one Snakemake setting the workflow changes at parse time: no option or
# profile can take back a profile's deployment method (a second profile's `software-deployment-method: []` is refused
# by Snakemake's argument parser: it expects at least one method), and a dry run with conda deployment runs `conda
# info` for every env.
PLAN_WITHOUT_CONDA = wf.plan_without_conda(
    DeploymentMethod.CONDA in getattr(workflow.deployment_settings, "deployment_method", ()),
    workflow.exec_mode == ExecMode.DEFAULT,
    shutil.which("conda"),
)
if PLAN_WITHOUT_CONDA:
    workflow.deployment_settings.deployment_method = frozenset(
        set(workflow.deployment_settings.deployment_method) - {DeploymentMethod.CONDA}
    )
    logger.warning(
        "conda is not on the PATH: planning without the rules' conda envs. A dry run (-n) and the plan "
        "(results/plan.md) work; a run of any other job needs conda or mamba on this machine (docs/overlays.md)."
    )


def require_conda():
    """Before a run (not a dry run): without conda only the plan may run; any other job would run outside its env."""
    if not PLAN_WITHOUT_CONDA:
        return
    need = wf.rules_needing_conda(j.rule.name for j in workflow.dag.needrun_jobs())
    if need:
        raise WorkflowError(
            f"conda is not on the PATH, and the jobs of {', '.join(need)} run in the rules' conda envs "
            "(software-deployment-method: conda). Install conda or mamba on this machine and build the envs first "
            "(snakemake --profile slurm --conda-create-envs-only results/table1.csv); or use the stack's Apptainer "
            "images (--software-deployment-method apptainer, docs/software.md)."
        )


def before_run():
    """onstart (the Snakefile): checks before the first job of a run starts (never in a dry run), each reporting
    every problem at once: the deployment method, the rules' conda envs, the hub repos to fetch, the API keys."""
    require_deployment()
    require_conda()
    check_hub_access()
    warn_missing_api_keys()
    if problem := cuda_problem(workflow.dag.needrun_jobs(), workflow.local_exec):
        raise WorkflowError(problem)


def get_curate_eval_file():
    return CURATE["eval_data"] or get_eval_file()


def get_curate_collect_inputs(wildcards):
    return list(CURATE["fixtures"].values()) if CURATE["source"] == "fixture" else []


def get_curate_benchmark_inputs(wildcards):
    """The PubMedQA test half (from collect) and, for the fixture source, the benchmark fixture files."""
    fixtures = CURATE.get("benchmark_fixtures") or {}
    files = list(fixtures.values()) if CURATE["source"] == "fixture" else []
    return {"pubmedqa_test": "results/curate/pubmedqa_test.parquet", "fixtures": files}


def get_difficulty_model_input(wildcards):
    """The model directory when it is built by this workflow (a tiny model); hub ids need nothing."""
    path = CURATE["difficulty"]["models"][wildcards.dmodel]["path"]
    return [path] if path.startswith(f"{wf.TINY_MODEL_DIR}/") else []


def get_difficulty_hub_inputs(wildcards):
    return hub_inputs(CURATE["difficulty"]["models"][wildcards.dmodel]["path"])


def get_difficulty_shard_files(wildcards):
    """What rule curate_difficulty_merge joins into the model's verdicts, in pool order."""
    return [
        wf.DIFFICULTY_SHARD.format(dmodel=wildcards.dmodel, dshard=s)
        for s in shards.difficulty_shards(config, SITE, wildcards.dmodel)
    ]


def get_difficulty_gpu_job(wildcards):
    return shards.difficulty_job(config, SITE, wildcards.dmodel, wildcards.dshard)


def get_difficulty_cfg(wildcards):
    """The difficulty settings of one model, its engine's tp/dp derived from the site."""
    cfg = dict(CURATE["difficulty"])
    model = dict(cfg["models"][wildcards.dmodel])
    model["engine"] = rsc.difficulty_engine_options(config, wildcards.dmodel, get_difficulty_gpu_job(wildcards))
    if cfg.get("backend", "engine") == "engine":  # the API's settings do not reach an engine's outputs
        cfg = {k: v for k, v in cfg.items() if k not in ("api", "api_params")}
    elif cfg.get("api"):
        cfg["api"] = wf.tracked_api(cfg["api"])  # the price in force is read when the job runs
    return {**cfg, "models": {wildcards.dmodel: model}}


def get_curate_replay(stage):
    """The shipped replay cache of an API stage, as an input (replay mode only)."""
    api = CURATE[stage]["api"]
    return [api["replay_cache"]] if api.get("mode") == "replay" else []


def get_curate_set_input(wildcards):
    if CURATE["sets_source"] == "released":
        return f"results/curate/released/{wildcards.set}.parquet"
    return f"results/curate/sampled/{wildcards.set}.parquet"


# ---- training ------------------------------------------------------------------------------------------------------
def get_train_inputs(wildcards):
    return trainwf.inputs(config, wildcards.run)


def get_train_hub_inputs(wildcards):
    return hub_inputs(trainwf.spec(config, wildcards.run).base)


def get_train_spec(wildcards):
    return trainwf.spec_json(config, wildcards.run, SITE)


def get_train_checkpoints(wildcards):
    return trainwf.checkpoint_dir(config, wildcards.run, SITE)


def get_train_resources():
    """The SLURM resources of a training job on the site, one function per key (nodes, gres, mpi, tasks, runtime,
    cpus_per_task, mem_mb, slurm_partition, and the site's account, GPU constraint, QOS and extra sbatch flags when
    it has them)."""
    keys = ["nodes", "gres", "mpi", "tasks", "runtime", "cpus_per_task", "mem_mb", "slurm_partition"]
    keys += ["slurm_account"] * bool(SITE.account) + ["constraint"] * bool(SITE.gpu_constraint)
    keys += ["qos"] * bool(SITE.qos or SITE.gpu_qos) + ["slurm_extra"] * bool(SITE.extra_sbatch)

    def resource(name):
        def get(wildcards, input, attempt):
            return trainwf.resources(config, SITE, wildcards.run, input.data, attempt).get(name, "")

        return get

    return {k: resource(k) for k in keys}


# ---- report --------------------------------------------------------------------------------------------------------
def report_model_row(name):
    """What a table needs of a model: name, label, group, the paper's Table 1 row and the Table 1 variant; for a
    model left out on this site, ``not_run``: why (the table marks its cells "not run on this site")."""
    view = wf.cfg_model(CONFIG_AS_GIVEN, name)
    row = {
        "name": name,
        "label": view.label,
        "group": view.group,
        "paper_row": view.paper_row or name,
        "variant": wf.table1_variant(CONFIG_AS_GIVEN, name),
    }
    return {**row, "not_run": LEFT_OUT_MODELS[name]} if name in LEFT_OUT_MODELS else row


TABLE1_MODELS = wf.models_where(config, table1=True)
FIGURE_MODELS = wf.models_where(config, mode="thinking", figures=True)
ABLATION_MODELS = [
    {**report_model_row(n), "row": row, "variant": wf.table2_variant(config, n)}
    for n, row in wf.ablation_rows(config).items()
]
# The rows of Tables 1 and 2, with the models left out on this site (their cells say so).
# (Models that `models_only` leaves out are not rows: the reviewer asked for the others only.)
TABLE1_ROWS = [
    report_model_row(m)
    for m in wf.models_where(CONFIG_AS_GIVEN, table1=True)
    if m in config["models"] or m in LEFT_OUT_MODELS
]
TABLE2_ROWS = [
    {**report_model_row(n), "row": row, "variant": wf.table2_variant(CONFIG_AS_GIVEN, n)}
    for n, row in wf.ablation_rows(CONFIG_AS_GIVEN).items()
    if n in config["models"] or n in LEFT_OUT_MODELS
]
RELEASED_MODELS = [m for m in TABLE1_MODELS if wf.cfg_model(config, m).train is None]
REPORTED_MODELS = list(dict.fromkeys(TABLE1_MODELS + [m["name"] for m in ABLATION_MODELS] + FIGURE_MODELS))


def report_score_files(names, budget_mode=None):
    return wf.score_files(config, names, budget_mode)


def report_bench_files():
    """Benchmark files of the reported models' prediction jobs."""
    mode = config["eval"]["budget_mode"]
    return [
        f"logs/benchmarks/eval_predict/{mode}/{m}/{p}/{s}.tsv"
        for m in REPORTED_MODELS
        for p in wf.prediction_parts(config, m, mode)
        for s in shards.prediction_shards(config, SITE, m, mode, p)
    ]


def report_table3_inputs(wildcards):
    if CURATE["sets_source"] == "released":
        return {"sets": expand(wf.CURATED_SET, set=CURATE_SETS)}
    return {"counts": "results/curate/counts.json"}


def get_token_length_inputs(wildcards):
    """The token-length figure's sets (m1K and the whole m23K) and its tokenizer when this workflow builds it."""
    released = CURATE["sets_source"] == "released"
    tokenizer = REPORT["token_lengths"]["tokenizer"]
    return {
        "m1k": wf.CURATED_SET.format(set="m1k"),
        "m23k": "results/curate/released/m23k.parquet" if released else wf.M23K,
        "tokenizer": [tokenizer] if tokenizer.startswith(f"{wf.TINY_MODEL_DIR}/") else [],
    }


def report_table4_inputs(wildcards):
    if CURATE["sets_source"] == "released":
        return {"m23k": "results/curate/released/m23k.parquet", "m1k": wf.CURATED_SET.format(set="m1k")}
    return {"domain_counts": "results/curate/domain_counts.parquet"}


def report_count_tables(wildcards):
    """Tables 3 and 4 for the comparison, unless `report.compare_counts` is off (no curation needed then)."""
    return {"table3": "results/table3.csv", "table4": "results/table4.csv"} if REPORT["compare_counts"] else {}


def report_exact_inputs(wildcards):
    """Faithful and exact score files of the figure models when the budget-semantics comparison is on."""
    names = [m for m in FIGURE_MODELS if "exact" in wf.budget_modes(config, m)]
    if not names:
        return {}
    return {"faithful": report_score_files(names, "faithful"), "exact": report_score_files(names, "exact")}


REPORT_BUDGET_NOTE = (
    "Not run: set `report.compare_budget_modes: true` (with `eval.budget_mode: faithful`) to evaluate the figure "
    "models a second time with the token-exact controller (results/scores/exact/) and compare."
)
