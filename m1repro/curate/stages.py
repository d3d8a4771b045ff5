"""One function per curation rule: read inputs, call the stage's logic, write outputs atomically.

The rule scripts only unpack ``snakemake`` and call these, so each stage runs the same way from a test.
Config slices are the ``curate:`` keys documented in ``config/schemas/config.schema.yaml``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from m1repro.api.chat import client_from_config
from m1repro.curate import benchmarks as bm
from m1repro.curate import collect as col
from m1repro.curate import difficulty, domains, fuzzy, sample, traces
from m1repro.curate.schema import SET_SCHEMA, SOURCES, read_table, write_table
from m1repro.io import InputError, atomic_open, write_json_atomic, write_text_atomic
from m1repro.log import log_event
from m1repro.records import read_json_unique

logger = logging.getLogger(__name__)


def _counts(df: pl.DataFrame) -> dict[str, int]:
    """Rows per source, and the total."""
    counts = dict(df.group_by("source").len().iter_rows())
    return {s: int(counts.get(s, 0)) for s in SOURCES} | {"total": df.height}


def run_collect(cfg: Mapping[str, Any], out: str, counts_out: str, pubmedqa_test_out: str) -> dict[str, Any]:
    """cfg: source (hf|fixture), fixtures {source: path}, seed, on_invalid, check_paper_counts. Also writes the
    PubMedQA test half (a reference of the first decontamination)."""
    if cfg["source"] == "hf":
        origins = {s: col.HF_IDS[s][0] for s in SOURCES}
        loader = lambda s, _o: col.load_hf_rows(s)  # noqa: E731
    elif cfg["source"] == "fixture":
        origins = dict(cfg["fixtures"])
        loader = col.load_fixture_rows
    else:
        raise ValueError(f"curate.source must be 'hf' or 'fixture', got {cfg['source']!r}")
    pool, counts, pubmedqa_test = col.collect(
        origins,
        loader,
        cfg.get("seed", 42),
        cfg.get("on_invalid", "error"),
        bool(cfg.get("check_paper_counts", False)) and cfg["source"] == "hf",
    )
    write_table(pool, out)
    write_table(pubmedqa_test, pubmedqa_test_out)
    counts["pubmedqa_test"] = pubmedqa_test.height
    write_json_atomic(counts_out, counts)
    return counts


def run_benchmarks(cfg: Mapping[str, Any], pubmedqa_test_path: str, out: str) -> dict[str, int]:
    """The reference strings of the first decontamination -> ``benchmark, index, text``; cfg: source (hf|fixture),
    benchmark_fixtures {name: path}."""
    texts: dict[str, list[str | None]] = {}
    for bench in bm.BENCHMARKS:
        if cfg["source"] == "hf":
            texts[bench.name] = bm.load_hf_texts(bench)
        elif cfg["source"] == "fixture":
            path = (cfg.get("benchmark_fixtures") or {}).get(bench.name)
            if not path:
                raise ValueError(
                    f"curate.benchmark_fixtures.{bench.name} is not set (needed with curate.source: fixture)"
                )
            texts[bench.name] = bm.load_fixture_texts(bench, path)
        else:
            raise ValueError(f"curate.source must be 'hf' or 'fixture', got {cfg['source']!r}")
    texts[bm.PUBMEDQA_TEST] = read_table(pubmedqa_test_path, required=("prompt",))["prompt"].to_list()
    table = bm.benchmark_table(texts)
    write_table(table, out)
    counts = dict(table.group_by("benchmark", maintain_order=True).len().iter_rows())
    log_event(logger, "benchmarks loaded", **counts)
    return counts


def run_dedup(cfg: Mapping[str, Any], pool_path: str, out: str, removed_out: str) -> dict[str, Any]:
    """cfg: mode (faithful|improved), threshold, limit, workers."""
    pool = read_table(pool_path)
    t0 = time.perf_counter()
    texts = pool["prompt"].to_list()
    faithful = fuzzy.dedup_faithful(texts, cfg["threshold"], cfg.get("limit", 5), cfg.get("workers", 1))
    improved = fuzzy.dedup_improved(
        pool["question"].to_list(), pool["options"].to_list(), cfg["threshold"], cfg.get("workers", 1)
    )
    elapsed = time.perf_counter() - t0
    chosen = faithful if cfg["mode"] == "faithful" else improved
    ids = pool["id"].to_list()
    removed = pl.DataFrame(
        [
            {"id": ids[r["index"]], "kept_id": ids[r["kept_index"]], "score": r["score"], "mode": m}
            for m, res in (("faithful", faithful), ("improved", improved))
            for r in res.removed
        ],
        schema={"id": pl.String, "kept_id": pl.String, "score": pl.Float64, "mode": pl.String},
        orient="row",
    )
    write_table(pool[chosen.keep], out)
    write_table(removed, removed_out)
    stats = {
        "mode": cfg["mode"],
        "in": pool.height,
        "out": len(chosen.keep),
        "removed_faithful": len(faithful.removed),
        "removed_improved": len(improved.removed),
        "seconds": round(elapsed, 2),
    }
    log_event(logger, "dedup done", **stats)
    return stats


def _contamination(
    cfg: Mapping[str, Any], pool: pl.DataFrame, eval_path: str, benchmarks_path: str | None
) -> tuple[pl.DataFrame, list[str], dict[str, Any]]:
    """The contamination table of ``pool`` (both modes), the reference names for the summary, and scan stats.
    Faithful references: the benchmark table when given (first pass), else the evaluation file's questions."""
    data = read_json_unique(eval_path)
    if not isinstance(data, dict):
        raise InputError(eval_path, "expected an object {source: [items]}")
    evals = fuzzy.eval_questions(data, eval_path)
    if benchmarks_path is not None:
        bench = read_table(benchmarks_path, required=("benchmark", "index", "text"))
        refs = bm.faithful_references(bench)
        names = list(dict.fromkeys(bench["benchmark"].to_list()))
    else:
        refs = fuzzy.eval_references(evals)
        names = []
    names += [s for s in data if not s.startswith("_") and s not in names]
    t0 = time.perf_counter()
    table = fuzzy.contamination_table(
        pool, evals, cfg["threshold"], cfg["ngram_n"], cfg["ngram_overlap"], cfg.get("workers", 1), refs=refs
    )
    stats = {"references": len(refs), "eval_items": len(evals), "seconds": round(time.perf_counter() - t0, 2)}
    return table, names, stats


def run_decontaminate(
    cfg: Mapping[str, Any],
    pool_path: str,
    eval_path: str,
    out: str,
    report_csv: str,
    report_md: str,
    benchmarks_path: str | None = None,
    title: str = "Contamination report: training pool vs benchmarks",
) -> dict[str, Any]:
    """cfg: mode, threshold, ngram_n, ngram_overlap, workers. Both modes are computed for the report; the mode
    removes its items (improved: the faithful ones too)."""
    pool = read_table(pool_path, required=("id", "source", "question", "options", "prompt"))
    table, names, scan = _contamination(cfg, pool, eval_path, benchmarks_path)
    drop = fuzzy.removed_ids(table, cfg["mode"])
    kept = pool.filter(~pl.col("id").is_in(drop.implode()))
    summary = fuzzy.report_summary(table, names)
    with atomic_open(report_csv) as fh:
        table.with_columns(pl.lit(cfg["mode"]).alias("mode_applied")).write_csv(fh)
    write_text_atomic(report_md, fuzzy.report_markdown(summary, table, cfg["mode"], title))
    write_table(kept, out)
    stats = {
        "mode": cfg["mode"],
        "in": pool.height,
        "out": kept.height,
        **scan,
        "removed_faithful": int(table["faithful"].sum()),
        "removed_improved": int(table["improved"].sum()),
        "per_reference": summary.to_dicts(),
    }
    log_event(logger, "decontamination done", **{k: v for k, v in stats.items() if k != "per_reference"})
    return stats


def run_difficulty_model(
    cfg: Mapping[str, Any],
    model_name: str,
    pool_path: str,
    model_dir: str | None,
    out: str,
    store: Any = None,
    rows: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Answer the pool's questions (``rows``: only ``[start, stop)``, one shard's) with one difficulty model; cfg:
    backend (engine|api), max_tokens and batch_size (engine), api_params (api), grader, models.{name}.{path,
    engine{...}, api_model}, api{...}. ``store``: where an engine keeps its finished batches
    (:class:`m1repro.progress.BatchStore`, the job resumes from them)."""
    pool = read_table(pool_path)
    if rows is not None:
        pool = pool.slice(rows[0], rows[1] - rows[0])
    mcfg = cfg["models"][model_name]
    prompts = pool["prompt"].to_list()
    if cfg["backend"] == "engine":
        from m1repro.engines import EngineSpec, load_engine

        eng_cfg = dict(mcfg.get("engine", {}))
        backend = eng_cfg.pop("backend", "sglang")
        spec = EngineSpec(backend=backend, model_path=model_dir or mcfg["path"], options=eng_cfg)
        engine = load_engine(spec)
        try:
            outputs: list[str | None] = list(
                difficulty.run_engine(
                    engine,
                    prompts,
                    cfg["max_tokens"],
                    cfg.get("batch_size", 64),
                    model_path=spec.model_path,
                    store=store,
                    on_length=cfg.get("on_length", "retry"),
                    retries=cfg.get("length_retries", difficulty.LENGTH_RETRIES),
                )
            )
        finally:
            engine.close()
    elif cfg["backend"] == "api":
        api = dict(cfg["api"], model=mcfg.get("api_model", mcfg["path"]))
        cache = api.get("cache") or f"cache/api/difficulty_{model_name}.jsonl"
        params = cfg.get("api_params") or difficulty.ORIGINAL_API_PARAMS
        outputs = difficulty.run_chat_api(client_from_config(api, cache), prompts, params)
    else:
        raise ValueError(f"curate.difficulty.backend must be 'engine' or 'api', got {cfg['backend']!r}")
    graded = difficulty.grade_outputs(
        pool.select("id", "answer_string", "answer_letter"), model_name, outputs, cfg.get("grader", "faithful")
    )
    graded = graded.select("id", f"{model_name}_output", f"{model_name}_correct")
    write_table(graded, out)
    acc = float(graded[f"{model_name}_correct"].mean() or 0.0)
    return {"model": model_name, "items": graded.height, "accuracy": round(acc, 4)}


def run_difficulty_filter(pool_path: str, model_outputs: Mapping[str, str], out: str) -> dict[str, Any]:
    """Join every model's verdicts and keep the rows all models got wrong."""
    pool = read_table(pool_path)
    for name, path in model_outputs.items():
        part = read_table(path, required=("id", f"{name}_correct"))
        if part.height != pool.height:
            raise InputError(path, f"has {part.height} rows, the pool {pool.height}")
        pool = pool.join(part, on="id", how="left", maintain_order="left")
    hard = difficulty.hard_rows(pool, list(model_outputs))
    write_table(hard, out)
    stats = {
        "in": pool.height,
        "out": hard.height,
        "accuracy": {m: round(float(pool[f"{m}_correct"].mean() or 0.0), 4) for m in model_outputs},
    }
    log_event(logger, "difficulty filter", **stats)
    return stats


RANDOM_SETS = ("random_1k", "random_23k")


def run_random_draw(cfg: Mapping[str, Any], pool_path: str, eval_path: str, out: str) -> dict[str, Any]:
    """The rows R1 answers for the random sets (``random_select.ipynb``): the raw pool in ``shuffle(seed)`` order,
    the first ``int(size / estimated_accuracy)`` per set, decontaminated against the evaluation file
    (``decontaminate_eval.py``). Columns: the pool's, ``draw_rank`` and ``in_{set}``. cfg: seed, sizes,
    estimated_accuracy, decontaminate{...}."""
    pool = read_table(pool_path)
    order = sample.shuffled_order(pool.height, cfg.get("seed", 42))
    n_draw = {
        s: min(pool.height, sample.random_draw_size(int(cfg["sizes"][s]), float(cfg["estimated_accuracy"])))
        for s in RANDOM_SETS
    }
    top = max(n_draw.values())
    drawn = pool[order[:top]].with_columns(pl.int_range(top, dtype=pl.Int64).alias("draw_rank"))
    drawn = drawn.with_columns(*[(pl.col("draw_rank") < n_draw[s]).alias(f"in_{s}") for s in RANDOM_SETS])
    dec = cfg["decontaminate"]
    table, _, _ = _contamination(dec, drawn, eval_path, None)
    drop = fuzzy.removed_ids(table, dec["mode"])
    kept = drawn.filter(~pl.col("id").is_in(drop.implode()))
    write_table(kept, out)
    stats = {
        "drawn": n_draw,
        "removed_by_decontamination": {
            s: int(drawn.filter(pl.col(f"in_{s}") & pl.col("id").is_in(drop.implode())).height) for s in RANDOM_SETS
        },
        "kept": {s: int(kept[f"in_{s}"].sum()) for s in RANDOM_SETS},
    }
    log_event(logger, "random draws", **stats)
    return stats


def _api_client(cfg: Mapping[str, Any], model: str, replay_cache: str | None, stage: str, **overrides: Any) -> Any:
    """The stage's chat client (``model``: the original's unless ``api.model``); replay mode reads the replay cache."""
    api = {"model": model, **cfg["api"]}
    key = "replay_cache" if api.get("mode") == "replay" else "cache"
    path = (replay_cache if key == "replay_cache" else None) or api.get(key)
    if not path:
        raise ValueError(f"curate.{stage}.api.{key} is not set")
    return client_from_config(api, str(path), **overrides)


def run_traces(
    cfg: Mapping[str, Any], hard_path: str, random_path: str, out: str, stats_out: str, replay_cache: str | None = None
) -> dict[str, Any]:
    """cfg: api{...} (``model`` defaults to the original's), request (faithful|greedy); replay mode reads the
    replay cache only and stops on any missing or broken entry."""
    hard, drawn = read_table(hard_path), read_table(random_path)
    requests = traces.trace_requests(hard, drawn)
    client = _api_client(cfg, traces.R1_MODEL, replay_cache, "traces", require_reasoning=traces.R1_REQUIRE_REASONING)
    table, stats = traces.generate_traces(requests, client, traces.r1_params(cfg.get("request", "faithful")))
    write_table(table, out)
    write_json_atomic(stats_out, stats)
    return stats


def run_verify(
    cfg: Mapping[str, Any], traces_path: str, eval_path: str, out: str, report_csv: str, report_md: str, counts_out: str
) -> dict[str, Any]:
    """Correct hard traces, decontaminated against the evaluation file -> m23K; cfg: grader, decontaminate{...}."""
    checked = traces.verify(read_table(traces_path), cfg.get("grader", "faithful"))
    correct = checked.filter(pl.col("hard") & pl.col("trace_correct"))
    tmp = Path(out).with_name(".verify_correct.parquet")
    write_table(correct, tmp)
    try:
        dec = run_decontaminate(
            cfg["decontaminate"],
            str(tmp),
            eval_path,
            out,
            report_csv,
            report_md,
            title="Contamination report: verified traces (m23K) vs the evaluation file",
        )
    finally:
        tmp.unlink(missing_ok=True)
    counts = {
        "traced_hard": int(checked["hard"].sum()),
        "answered_hard": int((checked["hard"] & (checked["trace_status"] == "ok")).sum()),
        "correct": _counts(correct),
        "m23k": _counts(read_table(out)),
    }
    counts["decontamination"] = {k: v for k, v in dec.items() if k != "per_reference"}
    write_json_atomic(counts_out, counts)
    return counts


def run_domains(
    cfg: Mapping[str, Any],
    m23k_path: str,
    qualifiers_path: str,
    out: str,
    stats_out: str,
    replay_cache: str | None = None,
) -> dict[str, Any]:
    """cfg: api{...} (``model`` defaults to the original's), request (faithful|greedy), on_unparseable
    (error|unlabelled)."""
    df = read_table(m23k_path)
    client = _api_client(cfg, domains.MESH_MODEL, replay_cache, "domains")
    labelled, stats = domains.label_domains(
        df,
        client,
        domains.load_qualifiers(qualifiers_path),
        domains.mesh_params(cfg.get("request", "faithful")),
        cfg.get("on_unparseable", "error"),
    )
    write_table(labelled, out)
    write_json_atomic(stats_out, stats)
    return stats


def _as_set(df: pl.DataFrame) -> pl.DataFrame:
    for c, t in SET_SCHEMA.items():
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, dtype=t).alias(c))
    return df.select(list(SET_SCHEMA))


def random_sets(
    traced: pl.DataFrame, drawn: pl.DataFrame, sizes: Mapping[str, int], grader: str
) -> dict[str, pl.DataFrame]:
    """``filtering_r1_wrong.ipynb`` (ablation): the drawn rows with an R1 answer, in draw order, graded; the first
    ``size`` correct ones per set."""
    answered = traces.verify(traced.filter(pl.col("trace_status") == "ok"), grader)
    extra = [c for c in SET_SCHEMA if c in answered.columns and c not in drawn.columns] + ["trace_correct"]
    rows = drawn.sort("draw_rank").join(answered.select("id", *extra), on="id", how="inner", maintain_order="left")
    correct = rows.filter(pl.col("trace_correct"))
    return {s: correct.filter(pl.col(f"in_{s}")).head(int(sizes[s])) for s in RANDOM_SETS}


def check_set_sizes(
    rows: Mapping[str, int], sizes: Mapping[str, int], m23k_rows: int, allow_short: bool
) -> dict[str, dict[str, int]]:
    """Sets with fewer rows than ``curate.sets`` asks: an error naming them and the sizes, or, with ``allow_short``
    (``curate.allow_short_sets``), returned ({set: {requested, rows}}) for counts.json and Table 3's flags."""
    short = {name: {"requested": int(sizes[name]), "rows": int(n)} for name, n in rows.items() if n < int(sizes[name])}
    if short and not allow_short:
        listed = "; ".join(f"{k}: {v['rows']} rows of {v['requested']} requested" for k, v in short.items())
        raise ValueError(
            f"curate.sets: {len(short)} set(s) are smaller than requested ({listed}; m23K has {m23k_rows} "
            "rows; the random sets keep R1's correct answers among int(size / random_estimated_accuracy) "
            "drawn rows). Lower curate.sets, or set curate.allow_short_sets: true to keep them (flagged "
            "in Table 3)"
        )
    for name, v in short.items():
        logger.warning(
            "curated set %s has %d rows, fewer than the %d requested (curate.allow_short_sets)",
            name,
            v["rows"],
            v["requested"],
        )
    return short


def run_sample(
    cfg: Mapping[str, Any],
    domains_path: str,
    traces_path: str,
    random_path: str,
    sets_out: Mapping[str, str],
    m23k_out: str,
    domain_counts_out: str,
    counts_out: str,
    stage_counts: Mapping[str, str],
) -> dict[str, Any]:
    """cfg: seed, sizes{...}, grader, allow_short_sets. Writes the five sets, m23K, Table 4 and counts.json; a set
    smaller than its size is an error unless allowed (:func:`check_set_sizes`)."""
    m23k = read_table(domains_path)
    seed = cfg.get("seed", 42)
    sizes = cfg["sizes"]
    picks = {
        "m1k": sample.m1k_sample(m23k, int(sizes["m1k"]), seed),
        "hard_domain_1k": sample.hard_domain_sample(m23k, int(sizes["hard_domain_1k"]), seed),
        "hard_random_1k": sample.shuffled_order(m23k.height, seed)[: int(sizes["hard_random_1k"])],
    }
    sets = {k: _as_set(m23k[v]) for k, v in picks.items()}
    drawn = read_table(random_path, required=("id", "draw_rank", *(f"in_{s}" for s in RANDOM_SETS)))
    for name, df in random_sets(read_table(traces_path), drawn, sizes, cfg.get("grader", "faithful")).items():
        sets[name] = _as_set(df)
    short = check_set_sizes(
        {k: v.height for k, v in sets.items()}, sizes, m23k.height, bool(cfg.get("allow_short_sets", False))
    )
    for name, path in sets_out.items():
        write_table(sets[name], path)
    write_table(_as_set(m23k), m23k_out)
    write_table(domains.domain_counts(m23k, sets["m1k"], SOURCES), domain_counts_out)
    counts: dict[str, Any] = {"stages": {}, "sets": {k: _counts(v) for k, v in sets.items()}}
    for stage, path in stage_counts.items():
        counts["stages"][stage] = (
            json.loads(Path(path).read_text()) if path.endswith(".json") else _counts(read_table(path))
        )
    counts["stages"]["m23k"] = _counts(m23k)
    counts["random_draws"] = {s: _counts(drawn.filter(pl.col(f"in_{s}"))) for s in RANDOM_SETS}
    counts["short_sets"] = short
    write_json_atomic(counts_out, counts)
    log_event(logger, "sets written", **{k: v["total"] for k, v in counts["sets"].items()})
    return counts


RELEASED_REQUIRED = ("reasoning", "distilled_answer_string")


def released_to_set(rows: list[dict[str, Any]], origin: str) -> pl.DataFrame:
    """Map rows of a released hub set (``UCSC-VLAA/m1k-tokenized`` ...) to the set schema: ``prompt`` (or
    ``question``), ``reasoning`` and ``distilled_answer_string`` are required; other set columns when present."""
    out = []
    for i, r in enumerate(rows):
        prompt = r.get("prompt") or r.get("question")
        if not isinstance(prompt, str) or not prompt:
            raise InputError(origin, "missing prompt/question text", record=i, field="prompt")
        for f in RELEASED_REQUIRED:
            if not isinstance(r.get(f), str):
                raise InputError(origin, "missing or not a string", record=i, field=f)
        row = {c: r.get(c) for c in SET_SCHEMA if c not in ("options",)}
        row.update(
            id=str(r.get("id", f"released-{i}")),
            prompt=prompt,
            question=r.get("question") or prompt,
            options=r.get("options") if isinstance(r.get("options"), list) else None,
        )
        row["metadata"] = json.dumps({"origin": origin}, ensure_ascii=False)
        out.append(row)
    return pl.DataFrame(out, schema=SET_SCHEMA, orient="row")


def run_released(hub_id: str, out: str) -> int:
    from datasets import load_dataset

    rows = [dict(r) for r in load_dataset(hub_id, split="train")]
    df = released_to_set(rows, hub_id)
    write_table(df, out)
    return df.height
