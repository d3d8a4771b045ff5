"""The one planner (m1repro.plan): every GPU job and API stage of the paper config with GPU-hours estimated and
reserved, tokens and dollars, per stage and in total; the same numbers the SLURM requests are sized with."""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path

import polars as pl
import pytest

from m1repro import plan
from m1repro import resources as rsc
from m1repro import workflow as wf
from m1repro.config import load_config
from m1repro.curate.traces import r1_params
from m1repro.site import load_site

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cfg():
    return load_config(REPO / "config" / "config.yaml")


@pytest.fixture(scope="module")
def site():
    return load_site()


@pytest.fixture(scope="module")
def df(cfg, site):
    return plan.plan_frame(cfg, site)


def jobs_of(df: pl.DataFrame) -> pl.DataFrame:
    return df.filter(pl.col("job") != "total")


def prediction_jobs(cfg) -> int:
    """Prediction jobs as the workflow runs them: model x budget mode x part (a dataset, or all of them)."""
    return sum(len(wf.prediction_parts(cfg, m, mode)) for m in cfg["models"] for mode in wf.budget_modes(cfg, m))


def test_every_stage_and_job_is_planned(cfg, df):
    jobs = jobs_of(df)
    count = dict(jobs.group_by("stage").len().iter_rows())
    assert count == {
        "difficulty": 2,
        "traces_api": 1,
        "domains_api": 1,
        "training": 7,
        "prediction": prediction_jobs(cfg),
    }
    totals = df.filter(pl.col("job") == "total")
    assert totals["stage"].to_list() == [*plan.STAGES, "all"]
    for col in ("gpu_hours_estimated", "gpu_hours_reserved", "tokens_in", "tokens_out", "usd"):
        for stage in plan.STAGES:
            part = jobs.filter(pl.col("stage") == stage)[col].sum()
            assert totals.filter(pl.col("stage") == stage)[col].item() == pytest.approx(part)
        assert totals.filter(pl.col("stage") == "all")[col].item() == pytest.approx(jobs[col].sum())


def test_reserved_is_gpus_times_the_limit_and_at_least_the_estimate(df, cfg, site):
    gpu = jobs_of(df).filter(pl.col("gpus") > 0)
    assert (gpu["gpu_hours_reserved"] >= gpu["gpu_hours_estimated"]).all()
    pred = gpu.filter(pl.col("stage") == "prediction")
    assert (pred["gpu_hours_reserved"] - pred["gpus"] * pred["time_limit_min"] / 60).abs().max() < 1e-9
    # One owner: the plan's limit is what the job asks SLURM for.
    row = pred.filter((pl.col("item") == "Med42-70B") & (pl.col("dataset") == "NEJM")).row(0, named=True)
    job = rsc.predict_job(cfg, site, "Med42-70B", ["NEJM"])
    assert row["time_limit_min"] == rsc.gpu_job_resources(site, job)["runtime"] and row["gpus"] == job.gpus == 4


def test_api_dollars_from_token_counts_and_prices(df, cfg):
    traces = jobs_of(df).filter(pl.col("stage") == "traces_api").row(0, named=True)
    price = cfg["curate"]["traces"]["api"]["pricing"]
    assert traces["usd"] == pytest.approx(
        (traces["tokens_in"] * price["input"] + traces["tokens_out"] * price["output"]) / 1e6
    )
    counts = rsc.curation_counts(cfg)
    draws = [
        int(cfg["curate"]["sets"][s] / cfg["curate"]["random_estimated_accuracy"]) for s in ("random_1k", "random_23k")
    ]
    assert draws == [1250, 29366]  # the original's draws (random_select.ipynb)
    assert traces["tokens_out"] == (counts["hard"] + sum(draws)) * r1_params()["max_tokens"]
    domains = jobs_of(df).filter(pl.col("stage") == "domains_api").row(0, named=True)
    assert domains["tokens_in"] / counts["m23k"] > 2000  # every request carries the rubric of 76 qualifiers
    assert domains["usd"] > 0 and domains["item"] == cfg["curate"]["domains"]["api"]["model"]


def test_replay_and_released_runs_cost_no_api_dollars(cfg, site):
    replay = copy.deepcopy(cfg)
    for stage in ("traces", "domains"):
        replay["curate"][stage]["api"]["mode"] = "replay"
    got = jobs_of(plan.plan_frame(replay, site)).filter(pl.col("stage").str.ends_with("_api"))
    assert got["usd"].sum() == 0 and got["basis"].str.starts_with("replay").all()
    released = copy.deepcopy(cfg)
    released["curate"]["sets_source"] = "released"
    stages = set(jobs_of(plan.plan_frame(released, site))["stage"])
    assert stages == {"training", "prediction"}


def test_small_jobs_take_fewer_gpus_by_default_and_the_bill_shows_both(cfg, site, df, tmp_path):
    assert site.shrink_small_jobs  # on by default: only where it lowers the reserved GPU-hours
    full = plan.plan_frame(cfg, dataclasses.replace(site, shrink_small_jobs=False))
    total = {
        n: d.filter((pl.col("job") == "total") & (pl.col("stage") == "prediction")).row(0, named=True)
        for n, d in (("shrunk", df), ("full", full))
    }
    assert total["shrunk"]["gpu_hours_reserved"] < 0.75 * total["full"]["gpu_hours_reserved"]
    assert total["shrunk"]["gpu_hours_full_node"] == pytest.approx(total["full"]["gpu_hours_reserved"], rel=1e-6)
    pred = jobs_of(df).filter(pl.col("stage") == "prediction")
    assert (pred["gpu_hours_reserved"] <= pred["gpu_hours_full_node"] + 1e-9).all()
    big = pred.filter((pl.col("item") == "m1-32B-1K-released") & (pl.col("dataset") == "all"))
    assert big["gpus"].item() == 8  # a large job keeps the whole node
    plan.write_plan(cfg, site, tmp_path / "plan.csv", tmp_path / "plan.md")
    md = (tmp_path / "plan.md").read_text()
    assert f"{total['full']['gpu_hours_reserved'] + 0:,.0f}" in md or "with whole nodes" in md
    assert "shrink_small_jobs: True" in md and "with whole nodes" in md


def test_write_plan_csv_and_markdown(cfg, site, tmp_path):
    out = plan.write_plan(cfg, site, tmp_path / "plan.csv", tmp_path / "plan.md")
    back = pl.read_csv(tmp_path / "plan.csv")
    assert back.columns == list(plan.SCHEMA) and back.height == out.height
    documented = re.findall(r"^(\w+(?:, \w+)?)\s{2,}", plan.__doc__ or "", flags=re.M)
    assert {c for d in documented for c in d.split(", ")} >= set(plan.SCHEMA)  # every column is documented
    md = (tmp_path / "plan.md").read_text()
    assert f"| prediction | {prediction_jobs(cfg)} |" in md and "GPU-hours reserved" in md
    assert "profiles/slurm/site.yaml" in md


def test_tiny_config_plans_without_gpus_or_a_throughput_table(site):
    tiny = load_config(REPO / "config" / "tiny.yaml")
    df = plan.plan_frame(tiny, site)
    jobs = jobs_of(df)
    assert jobs["gpus"].sum() == 0 and jobs["usd"].sum() == 0  # transformers on CPU, replayed API stages
    assert "throughput" not in tiny
    # nothing of the tiny run is left out, on the shipped site or the CI lab's (one GPU per job, a 60-minute limit)
    from m1repro.config import deep_merge, resolve_config
    from m1repro.io import read_yaml

    lab = resolve_config(deep_merge({"base": "config/tiny.yaml"}, read_yaml(REPO / "tests/slurm/tiny_lab.yaml")))
    assert plan.fit_to_site(tiny, site)[1] == []
    assert plan.fit_to_site(lab, load_site(REPO / "tests/slurm/site.yaml"))[1] == []


# ------------------------------------------------------------------------------------------ what a site cannot run

A100_40_WEEK = {
    "cpu_partition": "cpu",
    "gpu_partition": "gpu",
    "gpus_per_node": 4,
    "gpu_type": "A100-40GB",
    "gpu_mem_gb": 40,
    "cpus_per_node": 32,
    "mem_mb_per_node": 256_000,
    "max_runtime_min": 10_080,
}


def _site(**change):
    from m1repro.site import site_from_dict

    return site_from_dict({**A100_40_WEEK, **change}, "test-site.yaml")


def test_models_a_site_cannot_run_are_left_out_with_the_reason_and_the_fix(cfg, tmp_path):
    site = _site()
    fitted, left = plan.fit_to_site(cfg, site)
    keys = {p.key for p in left}
    big = {n for n in cfg["models"] if rsc.model_params_b(cfg, n) > 60}
    assert {f"models.{n}" for n in big} | {"train.runs.m1-32B-1K", "models.m1-32B-1K"} == keys
    assert not set(fitted["models"]) & big and "m1-32B-1K" not in fitted["train"]["runs"]
    by_key = {p.key: p.message for p in left}
    assert (
        "needs tp 8" in by_key["models.Med42-70B"]
        and "use a site with more or larger GPUs" in by_key["models.Med42-70B"]
    )
    assert "ZeRO-3" in by_key["train.runs.m1-32B-1K"] and "train on more GPUs" in by_key["train.runs.m1-32B-1K"]
    # the bill is the fitted DAG's, and lists what is left out once
    df = plan.write_plan(cfg, site, tmp_path / "plan.csv", tmp_path / "plan.md")
    assert not set(jobs_of(df)["item"]) & (big | {"m1-32B-1K"})
    md = (tmp_path / "plan.md").read_text()
    assert "## Not run on this site" in md and md.count("`models.Med42-70B`") == 1
    # all or nothing: every problem at once, as one error
    strict = {**cfg, "plan": {"on_unfit": "error"}}
    with pytest.raises(plan.PlanningError, match=rf"{len(left)} planning problem\(s\) on the site test-site.yaml") as e:
        plan.fit_to_site(strict, site)
    assert all(p.message in str(e.value) for p in left)


def test_bf16_training_on_a_v100_is_left_out_and_inference_kept(cfg):
    site = _site(gpu_type="V100-32GB", gpu_mem_gb=32)
    released = {**cfg, "curate": {**cfg["curate"], "sets_source": "released"}}  # no 32B difficulty job on V100s
    fitted, left = plan.fit_to_site(released, site)
    runs = {p.name for p in left if p.section == "train.runs"}
    assert runs == set(cfg["train"]["runs"])
    msg = next(p.message for p in left if p.key == "train.runs.m1-7B-1K")
    assert "bf16" in msg and "V100-32GB (compute capability 7.0)" in msg and "Ampere or newer" in msg
    assert not any(m.get("train") for m in fitted["models"].values())
    assert "m1-7B-1K-released" in fitted["models"]  # a released 7B checkpoint still evaluates


def test_a_faithful_batch_longer_than_the_limit_is_left_out_with_the_exact_mode_as_the_fix(cfg):
    """The faithful forcing sweep can only be cut at the original's batches of consecutive items; where one batch is
    longer than the site's limit the model is left out, and the exact mode (split anywhere) would run it."""
    site = _site(max_runtime_min=180)
    problems = plan.site_problems(cfg, site)
    batch = [p for p in problems if "one batch of 1024 items" in p.message]
    assert batch and all(p.left_out and "eval.budget_mode: exact" in p.message for p in batch)
    exact = {**cfg, "eval": {**cfg["eval"], "budget_mode": "exact"}}
    assert not [p for p in plan.site_problems(exact, site) if "one batch" in p.message]


def test_every_problem_is_reported_at_once(cfg):
    """An hour's limit: what no shard or attempt fixes (a training run needing more attempts than the profile's
    retries give, one difficulty batch longer than the limit) and the models left out are in one list."""
    site = _site(max_runtime_min=60)
    with pytest.raises(plan.PlanningError) as e:
        plan.fit_to_site(cfg, site)
    kinds = {p.left_out for p in e.value.problems}
    assert kinds == {True, False} and len(e.value.problems) > 5
    assert str(e.value).count("\n  - ") == len(e.value.problems)


def test_tables_mark_left_out_models_not_run_on_this_site(tmp_path):
    from m1repro.report.tables import NOT_RUN, write_table1
    from m1repro.scores import write_scores

    scores = tmp_path / "a.csv"
    frame = pl.DataFrame(
        {"dataset": ["NEJM"], "variant": ["v"], "accuracy": [50.0], "budget": [None], "scorer": ["m1"], "n": [3]},
        schema_overrides={"budget": pl.Int64},
    )
    write_scores(frame, scores, model="a")
    models = [
        {"name": "a", "label": "A", "variant": "v"},
        {"name": "b", "label": "B", "variant": "v", "not_run": "models.b: a 70B model needs tp 8"},
    ]
    df = write_table1([str(scores)], models, str(tmp_path / "t.csv"), str(tmp_path / "t.md"))
    assert df.height == 2
    md = (tmp_path / "t.md").read_text()
    row_b = next(line for line in md.splitlines() if line.startswith("| B |"))
    assert row_b.count(NOT_RUN) == 11 and f"B: {NOT_RUN}. models.b: a 70B model needs tp 8" in md
    assert NOT_RUN not in next(line for line in md.splitlines() if line.startswith("| A |"))


# ------------------------------------------------------------------------------------------ the bill is the DAG

BILLED_RULES = {"eval_predict", "train_sft", "curate_difficulty_model", "curate_traces", "curate_domains"}
OVERLAYS = {
    "as shipped": {},
    "two models, one trained": {"models_only": ["m1-7B-1K", "Qwen2.5-7B-Instruct"]},
    "released models only": {"models_only": ["m1-7B-1K-released", "Qwen2.5-7B-Instruct"]},
    "released sets": {"curate": {"sets_source": "released"}},
    "difficulty through the API": {"curate": {"difficulty": {"backend": "api"}}},
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    from workflow_helpers import copy_checkout

    return copy_checkout(tmp_path_factory.mktemp("bill"))


@pytest.mark.parametrize("overlay", list(OVERLAYS))
def test_the_bill_covers_exactly_the_jobs_of_the_dag(cfg, site, checkout, tmp_path, overlay):
    """Tables 1-2 and the figures, dry-run by Snakemake: every GPU and paid API job of the DAG is a row of the bill
    and every row a job of the DAG, for overlays that narrow the models or change where the sets come from."""
    import yaml
    from workflow_helpers import dry_run

    from m1repro.config import deep_merge, resolve_config

    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(OVERLAYS[overlay]))
    targets = ["results/table1.csv", "results/table2.csv", "results/figure1.png", "results/figure3.png"]
    jobs = dry_run([*targets, "--forceall", "--configfile", str(path)], cwd=checkout)
    dag = {
        " ".join(
            [
                j.rule,
                "/".join(
                    j.wildcards[k]
                    for k in ("budget_mode", "model", "part", "shard", "run", "dmodel")
                    if k in j.wildcards
                ),
            ]
        ).strip()
        for j in jobs
        if j.rule in BILLED_RULES
    }
    given = resolve_config(deep_merge({}, OVERLAYS[overlay]), workdir=REPO)
    fitted, _ = plan.fit_to_site(given, site)
    bill = jobs_of(plan.plan_frame(fitted, site))
    assert set(bill["job"]) == dag
    if overlay in ("released models only", "released sets"):
        assert not bill.filter(pl.col("usd") > 0).height and not {"traces_api", "domains_api"} & set(bill["stage"])
        assert ("training" in set(bill["stage"])) == (overlay == "released sets")
    if overlay == "difficulty through the API":
        diff = bill.filter(pl.col("stage") == "difficulty")
        assert diff.height == 2 and (diff["gpus"] == 0).all() and (diff["tokens_out"] > 0).all()
        assert diff["basis"].str.contains("no pricing in the config").all()  # the shipped config prices no such API
        assert set(diff["item"]) == {m["api_model"] for m in cfg["curate"]["difficulty"]["models"].values()}


def test_models_only_narrows_models_and_runs_and_names_a_wrong_name(cfg, site):
    fitted, _ = plan.fit_to_site({**cfg, "models_only": ["m1-7B-1K", "Qwen2.5-7B-Instruct"]}, site)
    assert set(fitted["models"]) == {"m1-7B-1K", "Qwen2.5-7B-Instruct"}
    assert list(fitted["train"]["runs"]) == ["m1-7B-1K"]
    with pytest.raises(plan.PlanningError, match=r"models_only: \['m1-8B'\] are not models of the config \(have "):
        plan.fit_to_site({**cfg, "models_only": ["m1-8B"]}, site)


def test_the_bill_and_the_small_job_figures_in_docs_site_md_are_the_codes(cfg, site, df):
    text = (REPO / "docs" / "site.md").read_text()
    table = text[text.index("| stage | jobs | GPU-hours estimated") :].split("\n\n")[0].splitlines()[2:]
    totals = {r["stage"]: r for r in df.filter(pl.col("job") == "total").iter_rows(named=True)}
    jobs = jobs_of(df)
    for line in (row for row in table if row.startswith("|")):
        stage, n, est, res, usd = (c.strip() for c in line.strip("|").split("|"))
        stage = stage.split(" ")[0]
        row = totals[stage]
        count = jobs.height if stage == "all" else jobs.filter(pl.col("stage") == stage).height
        assert int(n) == count, line
        for got, want in ((est, row["gpu_hours_estimated"]), (res, row["gpu_hours_reserved"]), (usd, row["usd"])):
            assert got == ("" if not round(want) else f"{want:,.0f}"), line
    pred = totals["prediction"]
    assert f"from {pred['gpu_hours_full_node']:,.0f} to {pred['gpu_hours_reserved']:,.0f}" in text
    small = rsc.predict_job(cfg, site, "Qwen2.5-7B-Instruct", ["HumanityLastExam"])
    whole = rsc.predict_job(
        cfg, dataclasses.replace(site, shrink_small_jobs=False), "Qwen2.5-7B-Instruct", ["HumanityLastExam"]
    )
    assert f"takes {small.gpus} GPU for {small.limit_min} minutes instead of {whole.gpus} for {whole.limit_min}" in text


def test_table_rows_are_the_run_models_and_the_left_out_ones(tmp_path):
    """Tables 1-2 list the models of the run and, marked, those the site left out; not those models_only drops."""
    import yaml
    from workflow_helpers import load_rules

    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(A100_40_WEEK))
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"site": str(site), "models_only": ["Med42-70B", "Qwen2.5-7B-Instruct"]}))
    rules = {r.name: r for r in load_rules(str(overlay))}
    rows = {r["name"]: r for r in rules["report_table1"].params.models}
    assert set(rows) == {"Med42-70B", "Qwen2.5-7B-Instruct"}
    assert "needs tp 8" in rows["Med42-70B"]["not_run"] and "not_run" not in rows["Qwen2.5-7B-Instruct"]
    scores = [str(p) for p in rules["report_table1"].input]
    assert not any("Med42-70B" in p for p in scores) and any("Qwen2.5-7B-Instruct" in p for p in scores)
