"""Differential check of the prediction path against a transcription of the original's ``call_model`` /
``keep_think`` / ``end_thinking`` (tests/original_transcript.py), both on one stand-in server that finishes as SGLang
does (the token limit before the stop token; text with special tokens skipped).

The model is the tiny Qwen2 with two tokens made likelier: ``<|im_end|>`` (so thinking sometimes stops on its own)
and the non-stop special token ``<|box_start|>`` (so some cuts land on a special token). The budgets are chosen from
a probe run so that items stop exactly at a budget (the original then sees ``length`` and appends "Final Answer:")
and cuts land on the special token. Checked:

- faithful mode, shared sweep on (the default) and off: every record equals the original's once-per-budget run;
- exact mode: the shared sweep equals independent runs (its own "same as independent runs" claim).

Each check prints ``records compared`` and ``differing``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import original_transcript as ot
import pytest

from m1repro.engines import sglang as sg
from m1repro.eval import OUTPUT_FIELDS, EvalSettings, run_job
from m1repro.prompts import STOP_STRINGS, THINK_START, close_thinking, render_prompt
from m1repro.records import load_eval_file
from m1repro.variants import Variant

REPO = Path(__file__).resolve().parent.parent
STANDIN = str(Path(__file__).with_name("sglang_standin.py"))
IM_END = 151645
BOX_START = 151648  # <|box_start|>: special, neither a stop string nor an end-of-sequence token
N_ITEMS = 10
BATCH = 5  # several batches, so "Wait" rounds share max_tokens per batch as in the original
PROBE_BUDGET = 96


@pytest.fixture(scope="module")
def corner_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path_factory.mktemp("corner") / "model"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[IM_END] *= 2.0
        emb[BOX_START] *= 2.0
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(tiny_model_dir)).save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def server(corner_model_dir, tmp_path_factory):
    cmd = [sys.executable, STANDIN, "--model-path", str(corner_model_dir)]
    log = tmp_path_factory.mktemp("server") / "server.log"
    with sg.SGLangEngine(str(corner_model_dir), server_command=cmd, log_path=str(log), server_timeout_s=120) as eng:
        yield eng


@pytest.fixture(scope="module")
def items():
    ev = load_eval_file(REPO / "resources/fixtures/eval/m1_eval_fixture.json", on_invalid="exclude")
    flat = [it for src in ev.items.values() for it in src]
    return flat[:N_ITEMS]


@pytest.fixture(scope="module")
def corner_budgets(server, items) -> dict[str, list[int]]:
    """Budgets at which an item's stop token is the budget-th token, and at which the cut's last token is special."""
    prompts = [render_prompt(server.tokenizer, it.question, it.options, "thinking") for it in items]
    comps = server.generate(prompts, PROBE_BUDGET, STOP_STRINGS)
    at_stop = sorted({len(c.token_ids or ()) + 1 for c in comps if c.finish_reason == "stop"})
    on_special = sorted({k + 1 for c in comps for k, t in enumerate(c.token_ids or ()) if t == BOX_START})
    return {"at_stop": at_stop, "on_special": on_special}


def _variants(corners: dict[str, list[int]]) -> list[Variant]:
    budgets = sorted({32, 64, *corners["at_stop"][:3], *corners["on_special"][:3]})
    forced = [Variant(32, 1), Variant(32, 2), Variant(corners["at_stop"][0], 1)]
    return [Variant(b, 0) for b in budgets] + forced


def _differing(got: list[dict], want: list[dict]) -> int:
    assert len(got) == len(want)
    return sum(1 for g, w in zip(got, want) if any(g[f] != w[f] for f in OUTPUT_FIELDS))


def _as_ours(orig: dict) -> dict:
    """The original's result in our record's fields: our ``thinking_text`` is the thinking as generated, the
    original's carries the newline ``end_thinking`` adds (compared through ``close_thinking``)."""
    return {
        "thinking_text": orig["thinking_text"],
        "thinking_finish_reason": orig["thinking_finish_reason"],
        "response_text": orig["response_text"],
        "finish_reason": orig["finish_reason"],
        "num_thinking_tokens": orig["num_thinking_tokens"],
        "num_gen_tokens": orig["num_gen_tokens"],
        "num_wait": orig["num_keep_think_below_budget"],
    }


def _closed(record: dict) -> dict:
    return {**record, "thinking_text": close_thinking(record["thinking_text"])}


def test_corners_are_present(corner_budgets):
    assert corner_budgets["at_stop"], "no item stopped on its own: the corner of a stop at the budget is untested"
    assert corner_budgets["on_special"], "no special token generated: the corner of a cut on one is untested"


def test_default_path_equals_the_original_run_per_budget(server, items, corner_budgets, capsys):
    variants = _variants(corner_budgets)
    settings = EvalSettings(budget_mode="faithful", answer_max_tokens=8, batch_size=BATCH)
    chat = [render_prompt(server.tokenizer, it.question, it.options, "thinking") for it in items]
    assert all(p.endswith(THINK_START) for p in chat)
    chat = [p[: -len(THINK_START)] for p in chat]
    client = ot.CompletionsClient(server.base_url)
    original = {}
    for v in variants:
        cfg = ot.Settings(v.budget, v.rounds, max_new_answer_tokens=8, batch_size=BATCH)
        original[v.name] = [_as_ours(r) for r in ot.run(chat, client, cfg, server.tokenizer)]
    counts = {}
    for shared in (True, False):
        rows = run_job(server, server.tokenizer, items, "thinking", variants, replace(settings, shared_sweep=shared))
        ours = {v.name: [_closed(r) for r in rows if r["variant"] == v.name] for v in variants}
        counts[shared] = (
            sum(len(ours[n]) for n in ours),
            sum(_differing(ours[n], original[n]) for n in ours),
        )
    # the corners really happened: the original appended "Final Answer:" after a stop at the budget
    at = corner_budgets["at_stop"][0]
    assert any(r["thinking_finish_reason"] == "length" for r in original[Variant(at, 0).name])
    with capsys.disabled():
        for shared, (n, bad) in counts.items():
            print(f"\nfaithful, shared_sweep={shared}: records compared {n}, differing {bad}")
    assert counts[True][1] == 0 and counts[False][1] == 0


def test_exact_shared_sweep_equals_independent_runs(server, items, corner_budgets, capsys):
    variants = _variants(corner_budgets)
    settings = EvalSettings(budget_mode="exact", answer_max_tokens=8, batch_size=BATCH)
    shared = run_job(server, server.tokenizer, items, "thinking", variants, settings)
    naive = run_job(server, server.tokenizer, items, "thinking", variants, replace(settings, shared_sweep=False))
    bad = _differing(shared, naive)
    with capsys.disabled():
        print(f"\nexact, shared_sweep=True vs False: records compared {len(shared)}, differing {bad}")
    assert bad == 0
