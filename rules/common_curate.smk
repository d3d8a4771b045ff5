# Helpers of rules/curate.smk: config slices, inputs and resources of the curation rules; no rules here.

CURATE = config["curate"]
CURATE_SETS = ["m1k", "random_1k", "hard_random_1k", "hard_domain_1k", "random_23k"]
CURATE_DMODELS = list(CURATE["difficulty"]["models"])


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
_CURATE_KEYS = _curate_api_keys()
_CURATE_KEYS_MISSING = [k for k in _CURATE_KEYS if k not in os.environ]
if _CURATE_KEYS and not _CURATE_KEYS_MISSING:

    envvars:
        *_CURATE_KEYS,


elif _CURATE_KEYS_MISSING:
    logger.warning(
        f"API key variables {', '.join(_CURATE_KEYS_MISSING)} are not set: the curation API stages (R1 traces, MeSH "
        "domains) will stop at their start. Set them, or use curate.sets_source: released (no API spend)."
    )


def curate_eval_file():
    return CURATE["eval_data"] or eval_file()


def curate_collect_inputs(wildcards):
    return list(CURATE["fixtures"].values()) if CURATE["source"] == "fixture" else []


def curate_benchmark_inputs(wildcards):
    """The PubMedQA test half (from collect) and, for the fixture source, the benchmark fixture files."""
    fixtures = CURATE.get("benchmark_fixtures") or {}
    files = list(fixtures.values()) if CURATE["source"] == "fixture" else []
    return {"pubmedqa_test": "results/curate/pubmedqa_test.parquet", "fixtures": files}


def curate_difficulty_model_input(wildcards):
    """The model directory when it is built by this workflow (a tiny model); hub ids need nothing."""
    path = CURATE["difficulty"]["models"][wildcards.dmodel]["path"]
    return [path] if path.startswith(f"{TINY_MODEL_DIR}/") else []


def curate_difficulty_gpus(wildcards):
    engine = CURATE["difficulty"]["models"][wildcards.dmodel].get("engine", {})
    if CURATE["difficulty"]["backend"] != "engine" or engine.get("backend", "sglang") != "sglang":
        return 0
    return int(engine.get("tp", 1)) * int(engine.get("dp", 1))


def curate_replay(stage):
    """The shipped replay cache of an API stage, as an input (replay mode only)."""
    api = CURATE[stage]["api"]
    return [api["replay_cache"]] if api.get("mode") == "replay" else []


def curate_set_input(wildcards):
    if CURATE["sets_source"] == "released":
        return f"results/curate/released/{wildcards.set}.parquet"
    return f"results/curate/sampled/{wildcards.set}.parquet"
