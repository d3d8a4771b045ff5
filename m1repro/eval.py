"""One prediction job: one model on one part of the evaluation items (one dataset, or all of them in the evaluation
file's order), every variant it needs from one model load, one JSONL of raw records.

Records hold what was generated and nothing judged: the scoring rule reads them (:mod:`m1repro.scores`), so a scorer
change never regenerates anything. A record: the item (``id``, ``source``, ``question``, ``options``, ``answer_idx``,
``answer``), the ``variant`` (with ``budget``, ``rounds``, ``budget_mode``), the ``prompt``, the thinking and the
response with their finish reasons, and the token counts.

Faithful "Wait" forcing depends on the batch (:mod:`m1repro.budget`): the original's batches are runs of
``batch_size`` consecutive items of the whole evaluation file, so a job that forces "Wait" in the faithful mode gets
every item, in the file's order (:func:`m1repro.workflow.prediction_parts`). A job works through its items one such
batch at a time and stores each finished batch (:mod:`m1repro.progress`), so a job killed at its time limit resumes
where it stopped; a part longer than the site's time limit is split into shards at batch boundaries
(:mod:`m1repro.shards`). Both give the bytes of one unsplit job.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from m1repro import budget as bc
from m1repro.engines import Engine, EngineSpec, load_engine
from m1repro.hub import resolve_local
from m1repro.log import log_event
from m1repro.progress import BatchStore, Meter, code_digest, files_digest, job_key
from m1repro.prompts import ChatRenderer, Mode, render_prompt
from m1repro.records import EvalItem, read_items
from m1repro.shards import Shard, merge_lines
from m1repro.smk import RuleJob
from m1repro.variants import Variant

log = logging.getLogger(__name__)

# Fields of a prediction record that the generation decides (two runs agree on an item when all of them are equal);
# the others come from the item, the variant and the prompt.
OUTPUT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(bc.Answer))
RECORD_FIELDS: tuple[str, ...] = (
    *"model prompt_mode id source variant budget rounds budget_mode question options answer_idx answer prompt".split(),
    *OUTPUT_FIELDS,
)


@dataclass(frozen=True)
class EvalSettings:
    budget_mode: bc.BudgetMode = "faithful"
    wait_separator: bc.SeparatorRule = "faithful"
    answer_max_tokens: int = 1024
    baseline_max_tokens: int = 2048
    batch_size: int = 1024
    shared_sweep: bool = True
    chat_template: ChatRenderer = "faithful"  # faithful (the original's jinja2 render) | transformers


def _think_naive(engine: Engine, prompts: list[str], v: Variant, s: EvalSettings) -> list[bc.ThinkState]:
    """One variant on its own, as the original ran it."""
    assert v.budget is not None
    if s.budget_mode == "exact":
        return bc.exact_think(engine, prompts, v.budget, v.rounds, s.batch_size, s.wait_separator)[-1]
    states = bc.faithful_phase1(engine, prompts, v.budget, s.batch_size)
    for _ in range(v.rounds):
        states = bc.faithful_wait_round(engine, states, v.budget, s.batch_size, s.wait_separator)
    return states


def _think_shared(
    engine: Engine, prompts: list[str], variants: list[Variant], s: EvalSettings
) -> dict[Variant, list[bc.ThinkState]]:
    """Every variant from as few generations as the semantics allow (see :mod:`m1repro.budget`)."""
    out: dict[Variant, list[bc.ThinkState]] = {}
    bmax = max(v.budget for v in variants if v.budget is not None)
    forcing = sorted({v.budget for v in variants if v.rounds and v.budget is not None})
    if s.budget_mode == "exact":
        base = bc.exact_think(engine, prompts, bmax, 0, s.batch_size, s.wait_separator)[-1]
        trajectories = [[bc.Segment(list(st.ids), st.finish_reason, list(st.stop_ids))] for st in base]
        if forcing:
            fmax = max(forcing)
            rmax = max(v.rounds for v in variants)
            start = [bc.exact_slice(engine, p, t, fmax, 0) for p, t in zip(prompts, trajectories)]
            forced = bc.exact_trajectories(engine, prompts, fmax, rmax, s.batch_size, s.wait_separator, start)
        for v in variants:
            assert v.budget is not None
            src = forced if v.rounds else trajectories
            out[v] = [bc.exact_slice(engine, p, t, v.budget, v.rounds) for p, t in zip(prompts, src)]
        return out
    # faithful: phase 1 once at the largest budget; forcing budgets each run their own rounds (batch-level limits)
    base = bc.faithful_phase1(engine, prompts, bmax, s.batch_size)
    phase1 = {
        b: [bc.truncate_phase1(engine, st, b) for st in base]
        for b in {v.budget for v in variants if v.budget is not None}
    }
    for v in variants:
        if v.rounds == 0 and v.budget is not None:
            out[v] = phase1[v.budget]
    for b in forcing:
        wanted = {v.rounds for v in variants if v.budget == b and v.rounds}
        states = phase1[b]
        for r in range(1, max(wanted) + 1):
            states = bc.faithful_wait_round(engine, states, b, s.batch_size, s.wait_separator)
            if r in wanted:
                out[Variant(b, r)] = states
    return out


def run_job(
    engine: Engine,
    tokenizer: Any,
    items: Sequence[EvalItem],
    mode: Mode,
    variants: Sequence[Variant],
    settings: EvalSettings,
    model: str = "",
) -> list[dict[str, Any]]:
    """Records of every variant, variant by variant, items in the given order (see the module docstring); each
    names its producer (``model``, ``prompt_mode``, ``budget_mode``, ``variant``), which scoring checks."""
    prompts = [render_prompt(tokenizer, it.question, it.options, mode, settings.chat_template) for it in items]
    answers: dict[Variant, list[bc.Answer]] = {}
    if mode != "thinking":
        if any(v.budget is not None for v in variants):
            raise ValueError(f"mode {mode!r} has no thinking budget; expected only the 'baseline' variant")
        answers[Variant()] = bc.baseline_answers(engine, prompts, settings.baseline_max_tokens, settings.batch_size)
    else:
        if any(v.budget is None for v in variants):
            raise ValueError("thinking models need budget variants, not 'baseline'")
        vs = sorted(set(variants))
        if settings.shared_sweep and engine.returns_token_ids:
            thinking = _think_shared(engine, prompts, vs, settings)
        else:
            thinking = {v: _think_naive(engine, prompts, v, settings) for v in vs}
        # one answer-phase pass for all variants: the engine batches them together
        flat = [st for v in vs for st in thinking[v]]
        flat_answers = bc.answer_phase(
            engine, flat, settings.answer_max_tokens, settings.batch_size, settings.budget_mode
        )
        for k, v in enumerate(vs):
            answers[v] = flat_answers[k * len(items) : (k + 1) * len(items)]
    return [
        {
            "model": model,
            "prompt_mode": mode,
            "id": it.id,
            "source": it.source,
            "variant": v.name,
            "budget": v.budget,
            "rounds": v.rounds,
            "budget_mode": settings.budget_mode if v.budget is not None else None,
            "question": it.question,
            "options": it.options,
            "answer_idx": it.answer_idx,
            "answer": it.answer,
            "prompt": prompt,
            **asdict(a),
        }
        for v, ans in answers.items()
        for it, prompt, a in zip(items, prompts, ans, strict=True)
    ]


def record_lines(rows: Sequence[dict[str, Any]]) -> str:
    """Records as the JSONL text a job writes (:func:`m1repro.io.write_jsonl_atomic`'s format)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def predict_in_batches(
    engine_of: Callable[[], Engine],
    items: Sequence[EvalItem],
    mode: Mode,
    variants: Sequence[Variant],
    settings: EvalSettings,
    store: BatchStore,
    meter: Meter,
    model: str = "",
) -> list[str]:
    """The job's JSONL lines, computed one batch of ``settings.batch_size`` consecutive items at a time (the
    original's batches when the items start at a batch boundary): a batch stored by an earlier attempt of the same
    job is taken as it is, a new one is stored before the next begins. ``engine_of`` loads the engine on first use,
    so a job whose batches are all done loads no model. The batches are merged as one job writes its records
    (:func:`m1repro.shards.merge_lines`)."""
    runs: list[list[str]] = []
    for i, start in enumerate(range(0, len(items), settings.batch_size)):
        batch = items[start : start + settings.batch_size]
        text = store.get(i)
        if text is None:
            engine = engine_of()
            meter.begin_batch()
            before = engine.generated_tokens
            text = record_lines(run_job(engine, engine.tokenizer, batch, mode, variants, settings, model))
            store.put(i, text)
            meter.update(len(batch), engine.generated_tokens - before)
        else:
            meter.update(len(batch), resumed=True)
        runs.append(text.splitlines(keepends=True))
    return merge_lines(runs)


# The package code that computes a prediction batch: a change to it starts a killed job's batches afresh.
PREDICTION_CODE = ("eval.py", "budget.py", "prompts.py", "variants.py", "records.py", "engines")


def prediction_store(job: RuleJob, spec_job: dict[str, Any], items: Sequence[EvalItem]) -> BatchStore:
    """Where this job's finished batches are kept, keyed by everything they depend on: the job's params, its items,
    the weights and hub snapshots it loads, and the code."""
    w = job.wildcards
    key = job_key(
        params=spec_job,
        items=[it.to_dict() for it in items],
        model=files_digest(list(job.input.model)),
        hub=files_digest(list(job.input.hub)),
        code=code_digest(PREDICTION_CODE),
    )
    return BatchStore(f"eval_predict/{w.budget_mode}/{w.model}/{w.part}/{w.shard}", key)


def eval_predict(job: RuleJob) -> None:
    """Rule eval_predict: predict every variant for the shard's items from one model load, batch by batch (resuming
    the batches an earlier attempt finished), and write one JSONL.

    params.job: model, mode, weights, tokenizer, engine {backend, ...}, variants, settings, datasets.
    """
    from m1repro.io import write_json_atomic, write_text_atomic

    spec_job = dict(job.params.job)
    manifests = list(job.input.hub)
    variants = [Variant.parse(v) for v in spec_job["variants"]]
    settings = EvalSettings(**spec_job["settings"])
    shard = Shard.parse(job.wildcards.shard)
    items = list(shard.select(read_items(job.input.eval_items, spec_job["datasets"])))
    store = prediction_store(job, spec_job, items)
    weights = resolve_local(spec_job["weights"], manifests)
    tokenizer = resolve_local(spec_job["tokenizer"], manifests) if spec_job.get("tokenizer") else None
    engine_opts = {k: v for k, v in spec_job["engine"].items() if k != "backend"}
    if spec_job["engine"]["backend"] == "sglang":
        engine_opts.setdefault("log_path", job.log.server)
    spec = EngineSpec(spec_job["engine"]["backend"], weights, tokenizer, engine_opts)
    t0 = time.time()
    loaded: list[Engine] = []

    def engine_of() -> Engine:
        if not loaded:
            loaded.append(load_engine(spec))
            log_event(
                log, "engine loaded", model=spec_job["model"], backend=spec.backend, seconds=round(time.time() - t0, 2)
            )
        return loaded[0]

    n_batches = -(-len(items) // settings.batch_size)
    log_event(
        log,
        "predicting",
        model=spec_job["model"],
        datasets=spec_job["datasets"],
        shard=shard.name,
        items=len(items),
        batches=n_batches,
        batches_already_done=store.done(),
        variants=[v.name for v in variants],
        mode=spec_job["mode"],
        settings=spec_job["settings"],
    )
    meter = Meter(log, n_batches, len(items), model=spec_job["model"], shard=shard.name)
    try:
        lines = predict_in_batches(
            engine_of, items, spec_job["mode"], variants, settings, store, meter, spec_job["model"]
        )
        write_text_atomic(job.output.predictions, "".join(lines))
        write_json_atomic(job.output.params, spec_job)  # what later params are compared with (covering_params)
    finally:
        for engine in loaded:
            engine.close()
    store.clear()
    tokens = loaded[0].generated_tokens if loaded else 0
    log_event(log, "job done", records=len(lines), seconds=round(time.time() - t0, 2), generated_tokens=tokens)
