"""Long prediction work in shards and batches (m1repro.shards, m1repro.progress, the eval_predict job loop): where a
part is cut, that the merged shards are the bytes of one unsplit job, that a killed job resumes from its finished
batches without regenerating them, and how the planner sizes the shards against a site's time limit."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from test_shared_sweep_tiny import stopping_model_dir  # noqa: F401 (a fixture)

import m1repro.eval
from m1repro import resources as rsc
from m1repro import shards
from m1repro import workflow as wf
from m1repro.config import load_config
from m1repro.eval import eval_predict
from m1repro.io import write_jsonl_atomic
from m1repro.progress import PROGRESS_ROOT, BatchStore, Meter
from m1repro.records import load_eval_file
from m1repro.site import load_site

REPO = Path(__file__).resolve().parent.parent
SOURCES = ["NEJM", "MedQA_USLME_test"]  # 8 items of the tiny fixture


# --------------------------------------------------------------------------------------------- cutting


@pytest.mark.parametrize(
    ("n", "most", "step", "want"),
    [
        (44, None, 16, ["0-end"]),
        (44, 64, 16, ["0-end"]),
        (44, 16, 16, ["0-16", "16-32", "32-end"]),
        (5000, 2048, 1024, ["0-2048", "2048-4096", "4096-end"]),
        (4183, 2048, 1024, ["0-2048", "2048-4096", "4096-end"]),
        (6000, 4096, 1024, ["0-3072", "3072-end"]),  # balanced: two shards of ~3,000, cut at a batch boundary
        (4183, 3000, 1, ["0-2092", "2092-end"]),  # exact mode: anywhere
    ],
)
def test_cut_at_batch_boundaries_balanced_last_shard_open(n, most, step, want):
    got = shards.cut(n, most, step)
    assert [s.name for s in got] == want
    assert all(s.start % step == 0 for s in got) and got[-1].stop is None
    assert sum(shards.shard_items(s, n) for s in got) == n
    assert all(shards.Shard.parse(s.name) == s for s in got)


def test_a_shard_smaller_than_a_batch_is_refused():
    with pytest.raises(ValueError, match="not a multiple of the batch of 1024"):
        shards.cut(5000, 1500, 1024)
    with pytest.raises(ValueError, match="not a shard name"):
        shards.Shard.parse("all")


def test_merge_lines_restores_one_jobs_order():
    """A job writes variant by variant, items in order; consecutive runs of items merge back into that order."""

    def run(ids):
        return [json.dumps({"variant": v, "id": i}) + "\n" for v in ("b16", "b32") for i in ids]

    assert shards.merge_lines([run([1, 2]), run([]), run([3])]) == run([1, 2, 3])


# --------------------------------------------------------------------------------------------- planning


def paper_and_site(**site_changes):
    cfg = load_config(REPO / "config" / "config.yaml")
    return cfg, dataclasses.replace(load_site(), **site_changes)


def test_paper_dag_on_a_12h_site_is_split_and_every_shard_fits():
    """On the shipped 8 x H100 site with a 12 h limit, the longest parts (faithful forcing over the whole file for the
    32B models) are split at multiples of the original's 1,024; every shard fits the limit; the other parts stay whole."""
    cfg, site = paper_and_site(max_runtime_min=720)
    split = {}
    for m in cfg["models"]:
        for mode in wf.budget_modes(cfg, m):
            for part in wf.prediction_parts(cfg, m, mode):
                names = shards.prediction_shards(cfg, site, m, mode, part)
                for s in names:
                    items = shards.shard_planned_items(cfg, part, s)
                    job = rsc.predict_job(cfg, site, m, wf.part_datasets(cfg, part), items)
                    assert job.limit_min <= site.max_runtime_min
                    assert shards.Shard.parse(s).start % cfg["eval"]["batch_size"] == 0
                if len(names) > 1:
                    split[(mode, m, part)] = names
                else:
                    assert names == ["0-end"]
    assert split and all(part == "all" for _, _, part in split), split
    with pytest.raises(rsc.PlanError):  # what the planner refused before
        rsc.predict_job(cfg, site, next(iter(split))[1], wf.datasets(cfg))


def test_the_bill_has_one_row_per_shard():
    from m1repro.plan import prediction_rows

    cfg, site = paper_and_site(max_runtime_min=720)
    rows = prediction_rows(cfg, site)
    want = [
        f"eval_predict {mode}/{m}/{p}/{s}"
        for m in cfg["models"]
        for mode in wf.budget_modes(cfg, m)
        for p in wf.prediction_parts(cfg, m, mode)
        for s in shards.prediction_shards(cfg, site, m, mode, p)
    ]
    assert [r["job"] for r in rows] == want and len(want) > 292
    assert all(r["time_limit_min"] <= 720 for r in rows)


def test_a_batch_that_cannot_fit_is_a_plan_error_and_exact_mode_cuts_finer():
    cfg, site = paper_and_site(max_runtime_min=60)
    model = "m1-32B-1K-released"
    with pytest.raises(rsc.PlanError, match=r"1024 items"):
        shards.prediction_shards(cfg, site, model, "faithful", "all")
    # a model the node cannot hold is refused for that, not for its length
    small = dataclasses.replace(site, gpus_per_node=2, gpu_mem_gb=40, max_runtime_min=1440)
    with pytest.raises(rsc.PlanError, match=r"needs tp .* a node has 2") as refused:
        shards.prediction_shards(cfg, small, "Med42-70B", "faithful", "NEJM")
    assert "one batch" not in str(refused.value)
    exact = shards.prediction_shards(cfg, site, model, "exact", "all")
    assert len(exact) > 1 and any(shards.Shard.parse(s).start % 1024 for s in exact[1:])


def test_items_per_shard_caps_shards_at_whole_batches():
    cfg = load_config(REPO / "config" / "tiny.yaml")
    cfg["eval"].update(batch_size=16, items_per_shard=20)  # rounded down to one batch of 16
    site = load_site()
    # planned from the evaluation file (44 items), not from the paper's sizes
    assert shards.planned_items(cfg, wf.datasets(cfg)) == 44
    assert shards.prediction_shards(cfg, site, "tiny-think", "faithful", "all") == ["0-16", "16-32", "32-end"]
    cfg["eval"]["items_per_shard"] = None
    assert shards.prediction_shards(cfg, site, "tiny-think", "faithful", "all") == ["0-end"]


# --------------------------------------------------------------------------------------------- the job loop


class Killed(Exception):
    """Stands for SLURM killing the job at its time limit."""


@pytest.fixture
def job_env(stopping_model_dir, tmp_path, monkeypatch):  # noqa: F811 (the imported fixture)
    """A working directory with the prepared items of 8 fixture items, and a factory of eval_predict jobs on the
    real tiny model (one whose thinking sometimes ends, so that "Wait" forcing forces): faithful, every budget and
    forcing count of the tiny config, batches of 2 items."""
    tiny_model_dir = stopping_model_dir
    monkeypatch.chdir(tmp_path)
    ev = load_eval_file(REPO / "resources/fixtures/eval/m1_eval_fixture.json", SOURCES, on_invalid="exclude")
    items = [it.to_dict() for s in SOURCES for it in ev.items[s]]
    assert len(items) == 8
    write_jsonl_atomic("items.jsonl", items)
    cfg = load_config(REPO / "config" / "tiny.yaml")
    engine = {"backend": "transformers", "device": "cpu", "dtype": "float32", "batch_size": 3, "num_threads": 1}
    params = {
        "model": "tiny-think",
        "mode": "thinking",
        "weights": str(tiny_model_dir),
        "tokenizer": None,
        "engine": engine,
        "variants": wf.variant_names(cfg, "tiny-think"),
        "settings": {
            "budget_mode": "faithful",
            "wait_separator": "faithful",
            "answer_max_tokens": 4,
            "baseline_max_tokens": 8,
            "batch_size": 2,
            "shared_sweep": True,
        },
        "datasets": SOURCES,
    }

    def make(shard: str, out: str):
        return SimpleNamespace(
            rule="eval_predict",
            input=SimpleNamespace(eval_items="items.jsonl", model=[str(tiny_model_dir)], hub=[]),
            output=SimpleNamespace(predictions=out, params=f"{out}.params.json"),
            params=SimpleNamespace(job=params),
            log=SimpleNamespace(server="server.log"),
            wildcards=SimpleNamespace(budget_mode="faithful", model="tiny-think", part="all", shard=shard),
            resources=None,
        )

    return make


REAL_RUN_JOB, REAL_PUT = m1repro.eval.run_job, BatchStore.put


def record_batches(monkeypatch, kill_at: int | None = None) -> list[list[str]]:
    """Patch the job loop: record the item ids of every batch computed; raise Killed when batch ``kill_at`` (0-based,
    counted in this attempt) has been computed but not yet stored, as a job killed at its time limit."""
    real_run, real_put = REAL_RUN_JOB, REAL_PUT
    seen: list[list[str]] = []

    def run_job(engine, tokenizer, items, *args):
        seen.append([it.id for it in items])
        return real_run(engine, tokenizer, items, *args)

    def put(self, i, text):
        if kill_at is not None and len(seen) > kill_at:
            raise Killed
        real_put(self, i, text)

    monkeypatch.setattr(m1repro.eval, "run_job", run_job)
    monkeypatch.setattr(BatchStore, "put", put)
    return seen


@pytest.mark.slow
def test_shards_merge_to_the_bytes_of_one_job_and_a_killed_job_resumes(job_env, monkeypatch, tmp_path):
    whole = tmp_path / "whole.jsonl"
    eval_predict(job_env("0-end", str(whole)))
    assert not (PROGRESS_ROOT / "eval_predict").exists() or not any((PROGRESS_ROOT / "eval_predict").rglob("*.jsonl"))
    records = [json.loads(ln) for ln in whole.read_text().splitlines()]
    assert len(records) == 8 * 5 and any(r["num_wait"] for r in records)

    # shards at batch boundaries, merged by the merge rule's code: the same bytes
    parts = []
    for s in shards.cut(8, 4, 2):
        out = tmp_path / "shards" / f"{s.name}.jsonl"
        eval_predict(job_env(s.name, str(out)))
        parts.append(str(out))
    assert len(parts) == 2
    merged = tmp_path / "merged.jsonl"
    variants = SimpleNamespace(variants=wf.variant_names(load_config(REPO / "config" / "tiny.yaml"), "tiny-think"))
    shards.eval_merge(SimpleNamespace(input=parts, output=[str(merged)], params=variants))
    assert merged.read_bytes() == whole.read_bytes()

    # killed while computing the third of its four batches: no output, two batches kept outside it
    seen = record_batches(monkeypatch, kill_at=2)
    resumed = tmp_path / "resumed.jsonl"
    with pytest.raises(Killed):
        eval_predict(job_env("0-end", str(resumed)))
    assert not resumed.exists() and len(seen) == 3
    assert len(list((PROGRESS_ROOT / "eval_predict").rglob("batch-*.jsonl"))) == 2
    # the rerun computes only the two batches left, writes the same bytes, then removes its progress
    seen = record_batches(monkeypatch)
    eval_predict(job_env("0-end", str(resumed)))
    ids = [r["id"] for r in records[:8]]
    assert seen == [ids[4:6], ids[6:8]]
    assert resumed.read_bytes() == whole.read_bytes()
    assert not list((PROGRESS_ROOT / "eval_predict").rglob("batch-*.jsonl"))


def test_a_changed_job_does_not_take_another_jobs_batches(tmp_path):
    """The key is the job's identity: other params, items or code -> another directory, nothing resumed."""
    from m1repro.progress import code_digest, job_key

    a = job_key(params={"budget": 16}, items=[1, 2], code=code_digest(["eval.py"]))
    assert a == job_key(params={"budget": 16}, items=[1, 2], code=code_digest(["eval.py"]))
    assert a != job_key(params={"budget": 32}, items=[1, 2], code=code_digest(["eval.py"]))
    assert a != job_key(params={"budget": 16}, items=[1, 3], code=code_digest(["eval.py"]))
    assert a != job_key(params={"budget": 16}, items=[1, 2], code=code_digest(["eval.py", "budget.py"]))
    store = BatchStore("job", a, root=tmp_path)
    store.put(0, "x\n")
    assert store.get(0) == "x\n" and BatchStore("job", "other", root=tmp_path).get(0) is None
    store.clear()
    assert store.get(0) is None and not (tmp_path / "job").exists()


def test_meter_logs_items_rate_and_end_at_most_every_interval(caplog):
    now = [1000.0]
    meter = Meter(logging.getLogger("m1repro.test"), batches=4, items=400, every_s=60, clock=lambda: now[0], model="m")
    with caplog.at_level(logging.INFO, logger="m1repro.test"):
        meter.update(100, resumed=True)  # from an earlier attempt: done, not in the rate
        now[0] += 4  # loading the model: not in the rate
        meter.begin_batch()
        now[0] += 6
        meter.update(100, tokens=5000)  # 10 s after the first log: not logged
        now[0] += 60
        meter.update(100, tokens=6000)
        now[0] += 5
        meter.update(100, tokens=100)  # the last batch is always logged
    logged = [r.data for r in caplog.records if r.getMessage() == "progress"]
    assert [d["batches_done"] for d in logged] == [1, 3, 4]
    third = logged[1]
    assert third["items_done"] == 300 and third["resumed_items"] == 100 and third["model"] == "m"
    assert third["tokens_per_s"] == round(11000 / 66, 1) and third["elapsed_s"] == 70
    assert third["eta"] == "1970-01-01T00:18:23Z"  # 100 items left at 200 items / 66 s -> 33 s after 1070
    assert "eta" not in logged[0]  # nothing computed yet: no rate


class EchoEngine:
    """Answers each chat prompt with its own length (distinct prompts, distinct answers); counts the prompts."""

    def __init__(self, tokenizer):
        self.tokenizer, self.prompts, self.generated_tokens = tokenizer, [], 0

    def generate(self, prompts, max_tokens, stop):
        from m1repro.engines.base import Completion

        self.prompts += prompts
        self.generated_tokens += 3 * len(prompts)
        return [Completion(f"\\boxed{{{len(p)}}}", "stop", 3) for p in prompts]


def test_a_killed_difficulty_job_resumes_from_its_batches(qwen_tokenizer, tmp_path, monkeypatch):
    from m1repro.curate import difficulty

    prompts = [f"Question {'x' * i}?\nA. yes\nB. no" for i in range(5)]
    want = difficulty.run_engine(EchoEngine(qwen_tokenizer), prompts, 16, batch_size=2)
    store = BatchStore("curate_difficulty_model/q", "k", root=tmp_path, suffix="json")
    real_put = BatchStore.put

    def put(self, i, text):
        if i == 2:
            raise Killed  # killed after two of its three batches
        real_put(self, i, text)

    monkeypatch.setattr(BatchStore, "put", put)
    with pytest.raises(Killed):
        difficulty.run_engine(EchoEngine(qwen_tokenizer), prompts, 16, batch_size=2, store=store)
    monkeypatch.setattr(BatchStore, "put", real_put)
    again = EchoEngine(qwen_tokenizer)
    assert difficulty.run_engine(again, prompts, 16, batch_size=2, store=store) == want
    assert again.prompts == [difficulty.render_chat(qwen_tokenizer, prompts[4])]  # only the last batch


@pytest.mark.parametrize(
    ("n", "k", "batch"), [(207, 3, 32), (196_157, 4, 1024), (10, 7, 4), (0, 2, 8), (1025, 2, 1024)]
)
def test_difficulty_shards_cover_the_pool_once_cut_at_whole_batches(n, k, batch):
    bounds = [shards.difficulty_rows(n, f"{i}of{k}", batch) for i in range(k)]
    assert [r for a, b in bounds for r in range(a, b)] == list(range(n))
    assert all(a % batch == 0 or a == n for a, _ in bounds)


def test_a_difficulty_shard_past_the_pools_end_merges_with_the_others():
    """More shards than the real pool fills (``curate.difficulty.shards`` set high, or a pool smaller than planned):
    the empty shard's verdicts have the same column types, so rule curate_difficulty_merge can join them."""
    import polars as pl

    from m1repro.curate.difficulty import grade_outputs

    pool = pl.DataFrame({"id": ["a", "b"], "answer_string": ["x", "y"], "answer_letter": ["A", "B"]})
    full = grade_outputs(pool, "q", ["The answer is A", None])
    empty = grade_outputs(pool.slice(2, 0), "q", [])
    assert empty.schema == full.schema
    assert pl.concat([full, empty]).equals(full)


def test_a_long_difficulty_filter_is_split_and_every_shard_fits():
    """The issue's 32B difficulty job (all 196K questions of the initial collection in one job) is cut into the fewest
    shards that fit the limit instead of being refused; the bill has a row per shard; only a limit shorter than one
    batch is refused, naming the batch."""
    from m1repro.plan import curation_rows

    cfg, site = paper_and_site()
    assert shards.difficulty_shards(cfg, site, "qwen2.5-32b") == ["0of1"]  # 2,135 min fit the shipped 72 h
    for limit in (720, 240):
        short = dataclasses.replace(site, max_runtime_min=limit)
        with pytest.raises(rsc.PlanError):  # what the planner refused before
            rsc.difficulty_job(cfg, short, "qwen2.5-32b")
        names = shards.difficulty_shards(cfg, short, "qwen2.5-32b")
        jobs = [shards.difficulty_job(cfg, short, "qwen2.5-32b", s) for s in names]
        assert len(names) > 1 and all(j.limit_min <= limit for j in jobs)
        # one shard fewer would not fit: the fewest
        n, batch = rsc.curation_counts(cfg)["pool"], cfg["curate"]["difficulty"]["batch_size"]
        with pytest.raises(rsc.PlanError):
            rsc.difficulty_job(cfg, short, "qwen2.5-32b", items=shards.difficulty_shard_size(n, len(names) - 1, batch))
        billed = [r["job"] for r in curation_rows(cfg, short) if r["stage"] == "difficulty"]
        assert [j for j in billed if "qwen2.5-32b" in j] == [f"curate_difficulty_model qwen2.5-32b {s}" for s in names]
    with pytest.raises(rsc.PlanError, match=r"qwen2.5-32b: .* lower curate.difficulty.batch_size"):
        shards.difficulty_shards(cfg, dataclasses.replace(site, max_runtime_min=60), "qwen2.5-32b")


@pytest.mark.slow
def test_difficulty_shards_merge_to_the_verdicts_of_one_job(tiny_runner, tmp_path):
    """The tiny curation with its difficulty model cut into three jobs (``curate.difficulty.shards: 3``, batches of 32
    over the 207 questions: 96, 96, 15) gives the verdicts and the hard set of the local run's one job."""
    import polars as pl
    from workflow_helpers import copy_checkout, run_snakemake

    ref = tiny_runner.result(0)
    work = copy_checkout(tmp_path / "sharded")
    verdicts, hard = "results/curate/difficulty/tiny-qwen.parquet", "results/curate/hard.parquet"
    run_snakemake(
        ["--profile", "profiles/tiny", "--config", "curate={difficulty: {shards: 3}}", "--", hard], work, timeout=1500
    )
    parts = [pl.read_parquet(work / f"results/curate/difficulty/tiny-qwen/{i}of3.parquet") for i in range(3)]
    assert [p.height for p in parts] == [96, 96, 15]
    assert pl.read_parquet(work / verdicts).equals(pl.read_parquet(ref / verdicts))
    assert pl.read_parquet(work / hard).equals(pl.read_parquet(ref / hard))


def test_training_longer_than_the_limit_runs_over_attempts_and_the_bill_says_so():
    """A training run that needs more than one time limit resumes from its checkpoints over attempts (the profile's
    ``retries``): each attempt asks for the site's limit, and the bill reserves the GPUs for every attempt."""
    from m1repro.plan import training_rows

    cfg, site = paper_and_site(max_runtime_min=120)
    job = rsc.train_job(cfg, site, "m1-7B-23K")
    assert job.attempts > 1 and job.limit_min == 120
    retries = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["retries"]
    assert job.attempts <= 1 + retries
    assert [rsc.train_resources(site, job, a)["runtime"] for a in range(1, job.attempts + 1)] == [120] * job.attempts
    row = next(r for r in training_rows(cfg, site) if r["job"] == "train_sft m1-7B-23K")
    assert f"resumes over {job.attempts} attempts" in row["basis"]
    assert row["gpu_hours_reserved"] == pytest.approx(job.gpus * 120 * job.attempts / 60)


def shard_counts(cfg, site) -> tuple[int, int, int]:
    """(parts, prediction jobs, parts split) of a config on a site."""
    parts = jobs = split = 0
    for m in cfg["models"]:
        for mode in wf.budget_modes(cfg, m):
            for part in wf.prediction_parts(cfg, m, mode):
                n = len(shards.prediction_shards(cfg, site, m, mode, part))
                parts, jobs, split = parts + 1, jobs + n, split + (n > 1)
    return parts, jobs, split


def test_the_shard_counts_quoted_in_the_docs():
    import re

    text = (REPO / "docs" / "long_jobs.md").read_text()
    m = re.search(
        r"the paper's (\d+) prediction\s+parts are (\d+) jobs; with a 12 h limit (\d+) parts .*? become (\d+) jobs, "
        r"with a 4 h limit (\d+) parts become (\d+)\.",
        text,
        flags=re.S,
    )
    assert m, "docs/long_jobs.md: the shard counts sentence"
    quoted = [int(g) for g in m.groups()]
    cfg, site = paper_and_site()
    parts, jobs, _ = shard_counts(cfg, site)
    _, jobs12, split12 = shard_counts(cfg, dataclasses.replace(site, max_runtime_min=720))
    _, jobs4, split4 = shard_counts(cfg, dataclasses.replace(site, max_runtime_min=240))
    assert quoted == [parts, jobs, split12, split12 + jobs12 - parts, split4, split4 + jobs4 - parts]
