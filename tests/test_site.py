"""The site file (m1repro.site) and every job's request derived from it (m1repro.resources), for the paper config on
two site shapes: the shipped 8 x H100 site and a 4 x A100 site with typed GPUs. Each request is rendered into
sbatch options by the SLURM executor plugin's own code (``get_submit_command`` + ``set_gres_string``) and must fit
one node of its site, on the right partition, with well-formed typed GPU requests."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from workflow_helpers import sbatch

from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.config import load_config
from m1repro.site import SITE_FILE, SiteError, load_site, site_from_dict
from m1repro.train import workflow as trainwf

REPO = Path(__file__).resolve().parent.parent
A100_SITE = {
    "cpu_partition": "cpu",
    "gpu_partition": "gpu-a100",
    "account": "lab42",
    "gpus_per_node": 4,
    "gpu_model": "a100",
    "gpu_type": "A100-80GB",
    "gpu_mem_gb": 80,
    "cpus_per_node": 64,
    "mem_mb_per_node": 512_000,
    "max_runtime_min": 10_080,
}


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config" / "config.yaml")


@pytest.fixture(scope="module")
def h100():
    return load_site()


@pytest.fixture(scope="module")
def a100():
    return site_from_dict(A100_SITE, "a100-site.yaml")


# ------------------------------------------------------------------------------------------ the site file


def test_shipped_site_is_the_papers_8xh100(h100):
    assert (h100.gpus_per_node, h100.gpu_type, h100.gpu_mem_gb) == (8, "H100", 80)
    assert h100.cpu_partition != h100.gpu_partition and h100.gpu_model is None and h100.shrink_small_jobs


def write(tmp_path, data) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_unknown_and_missing_keys_are_errors_naming_them(tmp_path):
    with pytest.raises(SiteError, match=r"site.yaml: unknown key\(s\) \['gpus_per_nodes'\]"):
        load_site(write(tmp_path, {**A100_SITE, "gpus_per_nodes": 4}))
    data = dict(A100_SITE)
    del data["gpu_partition"]
    with pytest.raises(SiteError, match="'gpu_partition' is a required property"):
        load_site(write(tmp_path, data))
    with pytest.raises(SiteError, match="gpus_per_node: 0 is less than the minimum"):
        site_from_dict({**A100_SITE, "gpus_per_node": 0})
    with pytest.raises(SiteError, match="gpu_model"):
        site_from_dict({**A100_SITE, "gpu_model": "'a100'"})  # a quoted string would reach sbatch quoted
    with pytest.raises(SiteError, match="no site file"):
        load_site(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    "change,message",
    [
        ({"mem_mb_per_node": 512}, "the value is in MB"),
        ({"mem_mb_per_node": 20_000}, "5000 MB per GPU"),
        ({"cpus_per_node": 2}, r"cpus_per_node \(2\) is less than gpus_per_node \(4\)"),
        ({"gpu_mem_gb": 81920}, "GPU memory is in GB per GPU"),
        ({"gpu_mem_gb": 4}, "at least 8"),
        ({"min_runtime_min": 60, "max_runtime_min": 30}, r"min_runtime_min \(60\) exceeds max_runtime_min \(30\)"),
    ],
)
def test_impossible_sites_say_what_is_wrong(change, message):
    with pytest.raises(SiteError, match=f"impossible site: .*{message}"):
        site_from_dict({**A100_SITE, **change})


def test_gpu_type_must_name_a_throughput_row(cfg, a100):
    with pytest.raises(rsc.PlanError, match=r"gpu_type 'B300' is not in the config's throughput.gpus table \(have"):
        rsc.throughput(cfg, dataclasses.replace(a100, gpu_type="B300"))


# ------------------------------------------------------------------------------------------ layouts


def layouts(cfg, site) -> dict[str, tuple[int, int]]:
    """Each model's layout on a whole node (small jobs not shrunk)."""
    site = dataclasses.replace(site, shrink_small_jobs=False)
    return {m: (j.layout.tp, j.layout.dp) for m in cfg["models"] for j in [rsc.predict_job(cfg, site, m, ["NEJM"])]}


def test_paper_site_reproduces_the_papers_layouts(cfg, h100):
    """The original's runs (its exp/ makefiles and eval config): 7-8B tp 1 x dp 8, 32B tp 2 x dp 4, 70-72B tp 4 x dp 2."""
    got = layouts(cfg, h100)
    for name, (tp, dp) in got.items():
        size = rsc.model_params_b(cfg, name)
        want = (1, 8) if size < 10 else (2, 4) if size < 40 else (4, 2)
        assert (tp, dp) == want, name
    assert {got["Qwen2.5-72B-Instruct"], got["m1-32B-1K"], got["m1-7B-23K"]} == {(4, 2), (2, 4), (1, 8)}
    diff = {d: rsc.difficulty_job(cfg, h100, d).layout for d in cfg["curate"]["difficulty"]["models"]}  # big jobs
    assert diff == {"qwen2.5-7b": rsc.Layout(1, 8), "qwen2.5-32b": rsc.Layout(2, 4)}


def test_layouts_on_other_sites(cfg, h100, a100):
    assert layouts(cfg, a100)["Med42-70B"] == (4, 1) and layouts(cfg, a100)["m1-32B-1K"] == (2, 2)
    a40 = dataclasses.replace(h100, gpu_type="A100-40GB", gpu_mem_gb=40)
    assert layouts(cfg, a40)["Qwen2.5-32B-Instruct"] == (4, 2) and layouts(cfg, a40)["Med42-70B"] == (8, 1)
    # 48 GB L40S: the original ran 32B with tp 4 x dp 2 on its L40S nodes (exp/250318-eval-baseline_llm/l40s.makefile)
    l40s = dataclasses.replace(h100, gpu_type="L40S", gpu_mem_gb=48)
    assert layouts(cfg, l40s)["Qwen2.5-32B-Instruct"] == (4, 2)
    small = dataclasses.replace(l40s, gpus_per_node=4, cpus_per_node=32, mem_mb_per_node=256_000)
    with pytest.raises(rsc.PlanError, match=r"eval_predict Med42-70B/NEJM: a 70B model needs tp 8 .* a node has 4"):
        rsc.predict_job(cfg, small, "Med42-70B", ["NEJM"])


def test_explicit_engine_layout_is_honoured_if_it_fits(cfg, h100, a100):
    mine = {
        **cfg,
        "models": {**cfg["models"], "m": {"path": "me/ckpt-32B", "mode": "baseline", "engine": {"tp": 4, "dp": 2}}},
    }
    assert rsc.predict_job(mine, h100, "m", ["NEJM"]).layout == rsc.Layout(4, 2)
    assert rsc.engine_options(mine, h100, "m", ["NEJM"])["tp"] == 4
    with pytest.raises(rsc.PlanError, match="engine tp 4 x dp 2 = 8 GPUs but a node of the site has 4"):
        rsc.predict_job(mine, a100, "m", ["NEJM"])
    unknown = {**cfg, "models": {**cfg["models"], "m": {"path": "me/ckpt", "mode": "baseline"}}}
    with pytest.raises(rsc.PlanError, match="models.m: cannot tell its size .* add params_b"):
        rsc.predict_job(unknown, h100, "m", ["NEJM"])
    unknown["models"]["m"]["params_b"] = 70
    assert rsc.predict_job(unknown, a100, "m", ["NEJM"]).layout == rsc.Layout(4, 1)


def test_training_keeps_its_gpus_and_global_batch_over_the_sites_nodes(cfg, h100, a100):
    for site, want in (
        (h100, {"m1-7B-1K": (1, 8), "m1-32B-1K": (2, 8)}),
        (a100, {"m1-7B-1K": (2, 4), "m1-32B-1K": (4, 4)}),
    ):
        for run, layout in want.items():
            job = rsc.train_job(cfg, site, run)
            spec = trainwf.spec(cfg, run, site)
            assert (job.nodes, job.gpus_per_node) == (spec.nodes, spec.gpus_per_node) == layout
            assert spec.gradient_accumulation_steps * spec.world_size * spec.per_device_batch_size == 16
    a40 = dataclasses.replace(a100, gpu_type="A100-40GB", gpu_mem_gb=40)
    with pytest.raises(rsc.PlanError, match=r"train_sft m1-32B-1K: ZeRO-3 .* 33 GB per GPU over 16 GPUs"):
        rsc.train_job(cfg, a40, "m1-32B-1K")


def test_gpu_jobs_get_their_share_of_the_node(cfg, h100):
    half = dataclasses.replace(h100, shrink_small_jobs=True)
    small = rsc.predict_job(cfg, half, "Qwen2.5-7B-Instruct", ["HumanityLastExam"])
    big = rsc.predict_job(cfg, half, "m1-7B-1K", ["MedMCQA_validation"])
    assert small.gpus < 8 == big.gpus  # a 102-item baseline does not take a node
    res = rsc.gpu_job_resources(half, small)
    assert res["cpus_per_task"] == 64 * small.gpus // 8 and res["mem_mb"] == 480_000 * small.gpus // 8
    whole = dataclasses.replace(h100, shrink_small_jobs=False)
    full = rsc.gpu_job_resources(whole, rsc.predict_job(cfg, whole, "Qwen2.5-7B-Instruct", ["HumanityLastExam"]))
    assert (full["gpu"], full["cpus_per_task"], full["mem_mb"]) == (8, 64, 480_000)  # never 1 CPU for 8 GPUs


# ------------------------------------------------------------------------------------------ time limits


def test_time_limits_follow_throughput_and_are_capped(cfg, h100, a100):
    job = rsc.predict_job(cfg, h100, "m1-32B-1K-released", ["MedMCQA_validation"])
    # The previous plan's formula for the paper's H100 (5,000 tokens/s per GPU at 7.6B, 3-minute server start).
    old = int(max(30, 1.5 * (job.tokens * 32 / (5000 * 7.6) / 8 / 60 + 3) + 15))
    assert job.limit_min == old
    slower = rsc.predict_job(cfg, a100, "m1-32B-1K-released", ["MedMCQA_validation"])
    assert slower.limit_min > 2 * job.limit_min  # 4 A100s, not 8 H100s
    assert rsc.gpu_job_resources(h100, job, attempt=3)["runtime"] == min(3 * job.limit_min, h100.max_runtime_min)
    tiny = rsc.predict_job(cfg, h100, "Qwen2.5-7B-Instruct", ["HumanityLastExam"])
    assert tiny.limit_min < 30  # no 30-minute floor any more: 1.5 x ~3 min + 15


def test_a_job_that_cannot_fit_is_an_error_naming_it(cfg, a100):
    two_days = dataclasses.replace(a100, max_runtime_min=2880)
    with pytest.raises(
        rsc.PlanError,
        match=r"curate_difficulty_model qwen2.5-32b: needs a time limit of \d+ min .* "
        r"allows 2880 min .*curate.difficulty.batch_size",
    ):
        rsc.difficulty_job(cfg, two_days, "qwen2.5-32b")
    short = dataclasses.replace(a100, max_runtime_min=120)
    with pytest.raises(rsc.PlanError, match=r"eval_predict m1-32B-1K-released/MedMCQA_validation: .* fewer budgets"):
        rsc.predict_job(cfg, short, "m1-32B-1K-released", ["MedMCQA_validation"])
    # Training resumes from its epoch checkpoints: 518 min over 300-minute attempts is fine, without them it is not.
    five_hours = dataclasses.replace(a100, max_runtime_min=300)
    job = rsc.train_job(cfg, five_hours, "m1-7B-23K")
    assert (job.attempts, job.limit_min) == (2, 300)
    nockpt = {**cfg, "train": {**cfg["train"], "defaults": {**cfg["train"]["defaults"], "save_strategy": "no"}}}
    with pytest.raises(rsc.PlanError, match="train_sft m1-7B-23K: needs ~518 min"):
        rsc.train_job(nockpt, five_hours, "m1-7B-23K")


# ------------------------------------------------------------------------------------------ sbatch, rendered


def option(line: str, pattern: str) -> str | None:
    m = re.search(pattern, line)
    return m.group(1) if m else None


def _value(v: str) -> Any:
    return int(v) if v.lstrip("-").isdigit() else v


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    from workflow_helpers import copy_checkout

    return copy_checkout(tmp_path_factory.mktemp("sites"))


def all_jobs(checkout: Path, site_file: Path) -> list[tuple[str, dict[str, Any]]]:
    """Every GPU job of the paper DAG (report_all: Tables 1-4 and the figures, so the ablation runs too) planned for
    the site (difficulty, training, prediction), with the resources Snakemake gives it (``--config site=...``, a dry
    run with everything to do)."""
    from workflow_helpers import dry_run

    jobs = dry_run(["report_all", "--forceall", "--config", f"site={site_file}"], cwd=checkout)
    out = []
    for j in jobs:
        if j.rule in ("eval_predict", "curate_difficulty_model", "train_sft"):
            name = f"{j.rule} " + "/".join(j.wildcards.values())
            out.append((name, {k: _value(v) for k, v in j.resources.items()}))
    return out


@pytest.mark.parametrize("which", ["h100", "a100"])
def test_every_job_fits_one_node_of_the_site_as_sbatch_renders_it(cfg, which, request, checkout, tmp_path):
    site = request.getfixturevalue(which)
    site_file = SITE_FILE if which == "h100" else write(tmp_path, A100_SITE)
    jobs = all_jobs(checkout, site_file)
    n_predict = sum(len(wf.prediction_parts(cfg, m, mode)) for m in cfg["models"] for mode in wf.budget_modes(cfg, m))
    assert len(jobs) == n_predict + 2 + len(cfg["train"]["runs"])
    for name, res in jobs:
        line = sbatch(res)
        gpus_opt = option(line, r"--gpus=(\S+)")
        gres_opt = option(line, r"--gres=(\S+)")
        nodes = int(option(line, r"--nodes=(\d+)") or 1)
        ntasks = int(option(line, r"--ntasks=(\d+)") or 1)
        cpus = int(option(line, r"--cpus-per-task=(\d+)"))
        mem = int(option(line, r"--mem (\d+)"))
        assert not (gpus_opt and gres_opt), f"{name}: both --gpus and --gres: {line}"
        if gres_opt:  # per node
            parts = gres_opt.split(":")
            per_node = int(parts[-1])
            assert parts[0] == "gpu" and (parts[1] == site.gpu_model if site.gpu_model else len(parts) == 2), line
        elif gpus_opt:  # the whole (one-node) job
            parts = gpus_opt.split(":")
            per_node = int(parts[-1])
            assert nodes == 1 and (parts[0] == site.gpu_model if site.gpu_model else len(parts) == 1), line
        else:
            per_node = 0
        assert 0 < per_node <= site.gpus_per_node, f"{name}: {per_node} GPUs per node: {line}"
        assert cpus * (ntasks // nodes) <= site.cpus_per_node and cpus >= per_node, f"{name}: {line}"
        assert mem <= site.mem_mb_per_node, f"{name}: {line}"
        assert f"-p {site.gpu_partition}" in line, f"{name}: {line}"
        assert int(option(line, r"-t (\d+)")) <= site.max_runtime_min
        if site.account:
            assert f"-A {site.account}" in line
        if name.startswith("train_sft") and nodes > 1:
            assert ntasks == nodes and "--gpus" not in line  # one launcher per node, no job-wide --gpus
    typed = [sbatch(r) for n, r in jobs if n.startswith("train_sft")]
    if site.gpu_model:
        assert all(f"--gres=gpu:{site.gpu_model}:{site.gpus_per_node}" in t for t in typed)


def test_a_job_without_gpus_goes_to_the_cpu_partition(h100, a100):
    for site in (h100, a100):
        line = sbatch({**rsc.cpu_job_resources(site, 60), "mem_mb": 8000})
        assert f"-p {site.cpu_partition}" in line and "--gpus" not in line and "--gres" not in line
        assert rsc.partition(site, {"gres": "gpu:a100:2"}) == site.gpu_partition
        assert rsc.partition(site, {"gpu": 0, "gres": ""}) == site.cpu_partition


def test_site_file_is_what_load_site_reads_by_default():
    assert SITE_FILE == REPO / "profiles" / "slurm" / "site.yaml" and SITE_FILE.exists()


def test_gpu_rule_resources_are_the_jobs_requests_per_key(cfg, a100):
    """What a rule's ``resources:`` gets (one callable per key) renders to the same sbatch line."""

    class W:
        model, dataset = "Med42-70B", "NEJM"

    fns = rsc.gpu_rule_resources(a100, lambda w: rsc.predict_job(cfg, a100, w.model, [w.dataset]))
    got = {k: (f(W, 2) if k == "runtime" else f(W) if callable(f) else f) for k, f in fns.items()}
    job = rsc.predict_job(cfg, a100, "Med42-70B", ["NEJM"])
    assert got == rsc.gpu_job_resources(a100, job, attempt=2)
    tiny = load_config(REPO / "config" / "tiny.yaml")
    cpu = rsc.gpu_rule_resources(a100, lambda w: rsc.predict_job(tiny, a100, "tiny-base", ["NEJM"]))
    res = {k: (f(W, 1) if k == "runtime" else f(W) if callable(f) else f) for k, f in cpu.items()}
    line = sbatch(res)
    assert (res["gpu"], res["gpu_model"]) == (0, "") and "--gpus" not in line and f"-p {a100.cpu_partition}" in line


def test_transformers_jobs_ask_for_the_engines_gpus(a100):
    """The transformers backend asks ``engine.gpus`` GPUs (default: 1 with device cuda, none on a CPU), on the GPU
    partition with its share of the node and the site's typed request; SGLang's GPUs stay tp x dp."""
    from m1repro.config import deep_merge

    tiny = load_config(REPO / "config" / "tiny.yaml")
    assert rsc.predict_job(tiny, a100, "tiny-base", ["NEJM"]).gpus == 0
    assert rsc.difficulty_job(tiny, a100, "tiny-qwen", items=10).gpus == 0

    def with_engine(engine: dict[str, Any]) -> dict[str, Any]:
        diff_engine = {"curate": {"difficulty": {"models": {"tiny-qwen": {"engine": engine}}}}}
        return deep_merge(tiny, {"engine_defaults": engine, **diff_engine})

    assert rsc.predict_job(with_engine({"device": "cuda"}), a100, "tiny-base", ["NEJM"]).gpus == 1
    assert rsc.predict_job(with_engine({"device": "auto"}), a100, "tiny-base", ["NEJM"]).gpus == 0
    two = with_engine({"gpus": 2})
    job = rsc.predict_job(two, a100, "tiny-base", ["NEJM"])
    assert job.gpus == 2 and job.limit_min == rsc.FIXED_RUNTIME_MIN
    assert rsc.difficulty_job(two, a100, "tiny-qwen", items=10).gpus == 2
    line = sbatch(rsc.gpu_job_resources(a100, job))
    assert "--gpus=a100:2" in line and f"-p {a100.gpu_partition}" in line
    assert option(line, r"--cpus-per-task=(\d+)") == str(2 * a100.cpus_per_gpu)
    with pytest.raises(rsc.PlanError, match=r"eval_predict tiny-base/NEJM: engine.gpus 5 but a node of the site has 4"):
        rsc.predict_job(with_engine({"gpus": 5}), a100, "tiny-base", ["NEJM"])
    # the engine's own settings are what the job's params carry: `gpus` is passed on (and ignored) by the engine
    assert rsc.engine_options(two, a100, "tiny-base", ["NEJM"])["gpus"] == 2


def test_engine_gpus_is_an_error_on_sglang(cfg, a100):
    from m1repro.config import deep_merge

    wrong = deep_merge(cfg, {"models": {"Med42-70B": {"engine": {"gpus": 4}}}})
    with pytest.raises(rsc.PlanError, match=r"eval_predict Med42-70B/NEJM: engine.gpus is for the transformers"):
        rsc.predict_job(wrong, a100, "Med42-70B", ["NEJM"])
    assert rsc.predict_job(cfg, a100, "Med42-70B", ["NEJM"]).gpus == 4  # tp 4 x dp 1 on 4 x A100


# ------------------------------------------------------------------------------------------ one owner per fact


@pytest.mark.parametrize("base,size", [("meta-llama/Llama-3.1-8B-Instruct", 8.0), ("Qwen/Qwen2.5-14B-Instruct", 14.0)])
def test_an_8b_and_a_14b_training_base_plan(cfg, h100, a100, base, size):
    """Training and inference size a model with the same function: a base the paper did not use plans, its model
    is sized alike for its training job and its prediction jobs."""
    from m1repro import plan
    from m1repro.config import deep_merge

    mine = deep_merge(cfg, {"train": {"runs": {"mine": {"base": base, "data": "m1k"}}}})
    mine["models"] = {**cfg["models"], "mine": {"train": "mine", "mode": "thinking"}}
    assert rsc.run_params_b(mine, "mine") == rsc.model_params_b(mine, "mine") == size
    for site in (h100, a100):
        job = rsc.train_job(mine, site, "mine")
        assert job.gpus == 8 and job.limit_min <= site.max_runtime_min
        assert rsc.train_job(cfg, site, "m1-7B-1K").est_min < job.est_min * (7.62 / size) * 1.01
    rows = plan.plan_frame(mine, h100).filter(plan.pl.col("item") == "mine")
    assert set(rows["stage"]) == {"training", "prediction"}
    mine["train"]["runs"]["mine"]["base"] = "me/my-base"
    with pytest.raises(rsc.PlanError, match=r"train.runs.mine: cannot tell its size .* add params_b"):
        rsc.train_job(mine, h100, "mine")
    mine["train"]["runs"]["mine"]["params_b"] = size
    assert (
        rsc.train_job(mine, h100, "mine").limit_min
        == rsc.train_job(deep_merge(mine, {"train": {"runs": {"mine": {"base": base}}}}), h100, "mine").limit_min
    )


def test_training_and_inference_share_one_time_limit_formula(cfg, h100):
    """safety x estimate + startup_min, at least min_runtime_min, for a training run as for a prediction job."""
    tput = rsc.throughput(cfg, h100)
    job = rsc.train_job(cfg, h100, "m1-7B-23K")
    assert job.limit_min == min(h100.max_runtime_min, rsc.limit_needed(job.est_min, h100, tput))
    assert job.limit_min == int(tput.safety * job.est_min + tput.startup_min)


def test_a_key_given_twice_in_the_site_file_is_an_error_naming_file_and_key(tmp_path):
    text = yaml.safe_dump(A100_SITE) + "gpus_per_node: 8\n"
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(SiteError, match=r"site.yaml, record line \d+: key 'gpus_per_node' is given twice"):
        load_site(path)
    path.write_text("cpu_partition: [cpu\n")
    with pytest.raises(SiteError, match=r"site.yaml, record line"):
        load_site(path)


# ------------------------------------------------------------------------------------------ the site says everything


def test_qos_reservation_extra_flags_and_nodes_reach_sbatch(cfg):
    site = site_from_dict(
        {**A100_SITE, "qos": "normal", "gpu_qos": "gpu-q", "reservation": "m1-res", "slurm_extra": "--mail-type=FAIL"}
    )
    gpu_line = sbatch(rsc.gpu_job_resources(site, rsc.predict_job(cfg, site, "m1-7B-1K", ["NEJM"])))
    assert "--qos=gpu-q" in gpu_line and "--nodes=1" in gpu_line and "--gpus=a100:" in gpu_line
    assert gpu_line.endswith("--mail-type=FAIL --reservation=m1-res") or "--reservation=m1-res" in gpu_line
    cpu_line = sbatch({**rsc.cpu_job_resources(site, 60), "mem_mb": 8000})
    assert "--qos=normal" in cpu_line and "--reservation=m1-res" in cpu_line and "--nodes" not in cpu_line
    train_line = sbatch(rsc.train_resources(site, rsc.train_job(cfg, site, "m1-32B-1K")))
    assert "--qos=gpu-q" in train_line and "--nodes=4" in train_line
    with pytest.raises(SiteError, match=r"slurm_extra '--qos=high' sets the quality of service"):
        site_from_dict({**A100_SITE, "slurm_extra": "--qos=high"})


def test_one_time_limit_per_gpu_partition(cfg):
    """GPU jobs go to the partition with the shortest limit that holds them; a retry with more time moves on."""
    data = {k: v for k, v in A100_SITE.items() if k != "max_runtime_min"}
    site = site_from_dict({**data, "gpu_partition": {"gpu-long": 4320, "gpu-short": 240, "gpu": 600}})
    assert site.max_runtime_min == 4320 and site.gpu_partition == "gpu-long"
    small = rsc.predict_job(cfg, site, "Qwen2.5-7B-Instruct", ["HumanityLastExam"])
    assert rsc.gpu_job_resources(site, small)["slurm_partition"] == "gpu-short"
    big = rsc.predict_job(cfg, site, "m1-32B-1K-released", ["MedQA_USLME_test"])
    assert 300 < big.limit_min <= 600
    assert rsc.gpu_job_resources(site, big)["slurm_partition"] == "gpu"
    assert rsc.gpu_job_resources(site, big, attempt=2)["slurm_partition"] == "gpu-long"
    with pytest.raises(SiteError, match="max_runtime_min 600 but the longest limit of gpu_partition is 4320"):
        site_from_dict({**data, "gpu_partition": {"gpu": 4320}, "max_runtime_min": 600})
    with pytest.raises(SiteError, match="max_runtime_min is required"):
        site_from_dict(data)


def test_a_copied_profile_reads_the_site_file_next_to_it(tmp_path, monkeypatch):
    import shutil

    from m1repro.site import SITE_ENV, site_file

    monkeypatch.delenv(SITE_ENV, raising=False)
    monkeypatch.delenv("SNAKEMAKE_PROFILE", raising=False)
    mine = tmp_path / "my-profile"
    shutil.copytree(REPO / "profiles" / "slurm", mine)
    argv = ["snakemake", "--profile", str(mine), "-n"]
    assert site_file(None, argv) == (mine / "site.yaml", True)
    assert site_file(None, ["snakemake", f"--profile={mine}"]) == (mine / "site.yaml", True)
    assert site_file("other.yaml", argv) == (Path("other.yaml"), False)  # the config's `site` wins
    assert site_file(None, ["snakemake"]) == (SITE_FILE, False)
    assert site_file(None, ["snakemake"], {SITE_ENV: "/x/site.yaml"}) == (Path("/x/site.yaml"), False)  # a job


def test_a_copied_profile_plans_for_its_own_site(tmp_path, checkout):
    """A real dry run through a copied SLURM profile whose site.yaml has 4-GPU nodes: every GPU job asks <= 4."""
    import shutil

    from workflow_helpers import dry_run

    mine = tmp_path / "my-profile"
    shutil.copytree(REPO / "profiles" / "slurm", mine)
    text = (mine / "site.yaml").read_text().replace("gpus_per_node: 8", "gpus_per_node: 4")
    text = text.replace("max_runtime_min: 2880", "max_runtime_min: 10080")
    (mine / "site.yaml").write_text(text.replace("qos: null", "qos: lab", 1))
    jobs = dry_run(["--profile", str(mine), "results/released/table1.csv"], cwd=checkout)
    predict = [j for j in jobs if j.rule == "eval_predict"]
    assert predict and all(0 < j.res_int("gpu") <= 4 and j.resources["qos"] == "lab" for j in predict)


# ------------------------------------------------------------------------------------------ the site file writes itself

# Captured from the CI's SLURM lab (SLURM 22.05: tests/slurm/cluster_up.sh), abridged to the keys that matter
LAB_SINFO = "cpu*|infinite\ngpu|infinite\n"
LAB_NODES = "\n".join(
    f"NodeName=vm-n{i}-ib Arch=x86_64 CoresPerSocket=2 CPUAlloc=0 CPUEfctv=2 CPUTot=2 AvailableFeatures=(null) "
    "ActiveFeatures=(null) Gres=gpu:a100:2 NodeAddr=127.0.0.1 RealMemory=16000 AllocMem=0 State=IDLE "
    "Partitions=cpu,gpu CfgTRES=cpu=2,mem=16000M,billing=2,gres/gpu=2,gres/gpu:a100=2"
    for i in (1, 2)
)
# A site whose GPU types are node features (untyped gres), with two GPU partitions and memory kept for the OS
UNI_SINFO = "short*|4:00:00\ngpu|1-00:00:00\ngpu-long|7-00:00:00\ngpu|1-00:00:00\n"
UNI_NODES = "\n".join(
    [
        "NodeName=c01 CPUTot=128 RealMemory=515000 MemSpecLimit=15000 Gres=(null) AvailableFeatures=epyc "
        "Partitions=short",
        "NodeName=g01 CPUTot=64 RealMemory=1031000 MemSpecLimit=31000 Gres=gpu:4(S:0-1) AvailableFeatures=h100,ib "
        "Partitions=gpu,gpu-long",
        "NodeName=g02 CPUTot=64 RealMemory=1031000 MemSpecLimit=31000 Gres=gpu:4(S:0-1) AvailableFeatures=h100,ib "
        "Partitions=gpu,gpu-long",
    ]
)


def test_time_limits_as_slurm_writes_them():
    from m1repro.site import parse_time_limit

    assert [parse_time_limit(t) for t in ("2-00:00:00", "12:00:00", "30:00", "45", "infinite", "1-00:30:30")] == [
        2880,
        720,
        30,
        45,
        None,
        1471,
    ]


def test_detect_the_lab_from_its_captured_outputs(cfg):
    from m1repro.site import detect, site_yaml

    mem = {k: v["mem_gb"] for k, v in cfg["throughput"]["gpus"].items()}
    site, notes = detect(LAB_SINFO, LAB_NODES, "ci", "ci|normal\nroot|normal\n", mem)
    lab = load_site(REPO / "tests" / "slurm" / "site.yaml")
    for key in ("cpu_partition", "gpu_partition", "account", "gpus_per_node", "gpu_model", "gpu_type", "gpu_mem_gb"):
        assert site[key] == getattr(lab, key), key
    assert (site["cpus_per_node"], site["mem_mb_per_node"]) == (lab.cpus_per_node, lab.mem_mb_per_node)
    assert site["max_runtime_min"] == 10080 and any("no time limit" in n for n in notes)
    assert site_from_dict(yaml.safe_load(site_yaml(site, notes)), "detected").gpus_per_node == 2


def test_detect_a_site_with_gpu_features_and_two_gpu_partitions(cfg, tmp_path):
    from m1repro.site import detect, site_yaml

    site, notes = detect(UNI_SINFO, UNI_NODES, "lab42\n", "lab42|normal,gpu-prio\n", {"H100": 80})
    assert site["cpu_partition"] == "short" and site["gpu_partition"] == {"gpu": 1440, "gpu-long": 10080}
    assert (site["gpu_model"], site["gpu_constraint"], site["gpu_type"]) == (None, "h100", "H100")
    assert (site["gpus_per_node"], site["cpus_per_node"], site["mem_mb_per_node"]) == (4, 64, 1_000_000)
    assert "max_runtime_min" not in site and site["account"] == "lab42"
    assert any("gpu-prio" in n for n in notes)
    path = tmp_path / "site.yaml"
    path.write_text(site_yaml(site, notes))
    loaded = load_site(path)  # the written file is a valid site
    assert loaded.gpu_partition_limits == (("gpu", 1440), ("gpu-long", 10080)) and loaded.gpu_constraint == "h100"
    line = sbatch(rsc.gpu_job_resources(loaded, rsc.predict_job(cfg, loaded, "Qwen2.5-7B-Instruct", ["NEJM"])))
    assert "-C h100" in line and "--gpus=" in line and "-p gpu " in line + " "
