"""difficulty: the chat request of distill_data.py rendered for an engine; the random and hard-random ablation sets
of random_select.ipynb / filtering_r1_wrong.ipynb."""

from __future__ import annotations

import json
import random

import polars as pl
import pytest

from m1repro.curate import difficulty, sample, stages
from m1repro.curate.collect import build_prompt
from m1repro.curate.schema import write_table
from m1repro.engines.base import Completion

PROMPT = build_prompt(
    "Which nerve supplies the deltoid?", ["Axillary nerve", "Radial nerve", "Ulnar nerve", "Median nerve"]
)


def test_engine_prompt_is_the_chat_request_rendered_by_the_template(qwen_tokenizer):
    # the server applies the model's chat template to [{"role": "user", "content": prefix + prompt}]; Qwen2.5's
    # template adds its default system turn when there is none
    assert difficulty.render_chat(qwen_tokenizer, PROMPT) == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nReturn your final response within \\boxed{}. Which nerve supplies the deltoid?\n"
        "A. Axillary nerve\nB. Radial nerve\nC. Ulnar nerve\nD. Median nerve<|im_end|>\n<|im_start|>assistant\n"
    )


def test_engine_stops_where_a_chat_server_stops(qwen_tokenizer, tiny_model_dir):
    assert difficulty.end_tokens(qwen_tokenizer, str(tiny_model_dir)) == ["<|im_end|>", "<|endoftext|>"]
    assert difficulty.end_tokens(qwen_tokenizer) == [qwen_tokenizer.eos_token]


class _Recorder:
    def __init__(self, tokenizer):
        self.tokenizer, self.calls = tokenizer, []

    def generate(self, prompts, max_tokens, stop):
        self.calls.append((list(prompts), max_tokens, list(stop)))
        return [Completion("\\boxed{A}", "stop", 3) for _ in prompts]


def test_run_engine_sends_rendered_prompts_with_the_end_tokens(qwen_tokenizer, tiny_model_dir):
    eng = _Recorder(qwen_tokenizer)
    out = difficulty.run_engine(eng, [PROMPT] * 3, 4000, batch_size=2, model_path=str(tiny_model_dir))
    assert out == ["\\boxed{A}"] * 3
    assert [len(c[0]) for c in eng.calls] == [2, 1]
    prompts, max_tokens, stop = eng.calls[0]
    assert prompts[0] == difficulty.render_chat(qwen_tokenizer, PROMPT) and max_tokens == 4000
    assert stop == ["<|im_end|>", "<|endoftext|>"]


def test_real_engine_output_has_no_end_token(tiny_model_dir):
    from m1repro.engines.hf import HFEngine

    eng = HFEngine(str(tiny_model_dir), device="cpu", batch_size=2, num_threads=1)
    try:
        prompts = [PROMPT, "Short question?\nA. yes\nB. no"]
        out = difficulty.run_engine(eng, prompts, 24, model_path=str(tiny_model_dir), on_length="keep")
        # the faithful client asks a cut reply again; greedy decoding cuts it again, so the run fails as the
        # original's did (curator: require_all_responses)
        with pytest.raises(difficulty.LengthLimitError, match=r"max_tokens=4 after 2 re-asks \(pool rows \[0, 1\]"):
            difficulty.run_engine(eng, prompts, 4, model_path=str(tiny_model_dir), retries=2)
    finally:
        eng.close()
    assert len(out) == 2 and not any("<|im_end|>" in o or "<|endoftext|>" in o for o in out)


class _Cutter:
    """Replies cut at max_tokens for the first ``cut_calls`` requests of each prompt, then a complete one."""

    def __init__(self, tokenizer, cut_calls: dict[int, int]):
        self.tokenizer, self.cut_calls, self.asked, self.calls = tokenizer, cut_calls, {}, []

    def generate(self, prompts, max_tokens, stop):
        self.calls.append(len(prompts))
        out = []
        for p in prompts:
            k = int(p.split("Q")[-1].split("?")[0])
            n = self.asked[k] = self.asked.get(k, 0) + 1
            cut = n <= self.cut_calls.get(k, 0)
            out.append(Completion("\\boxed{" if cut else f"\\boxed{{A}} #{n}", "length" if cut else "stop", 3))
        return out


def test_cut_replies_are_asked_again_as_the_original_client_does(qwen_tokenizer):
    prompts = [f"Q{k}?\nA. yes\nB. no" for k in range(4)]
    eng = _Cutter(qwen_tokenizer, {1: 3, 2: 10})
    out = difficulty.run_engine(eng, prompts, 50, batch_size=4)
    # Q1 cut three times, answered on the 4th request; Q2 answered on the 11th (1 + 10 re-asks); only cut ones re-asked
    assert out == ["\\boxed{A} #1", "\\boxed{A} #4", "\\boxed{A} #11", "\\boxed{A} #1"]
    assert eng.calls == [4, 2, 2, 2] + [1] * 7
    eng = _Cutter(qwen_tokenizer, {2: 11})
    with pytest.raises(
        difficulty.LengthLimitError, match=r"1 difficulty replies .* after 10 re-asks \(pool rows \[2\]"
    ):
        difficulty.run_engine(eng, prompts, 50, batch_size=4)
    kept = difficulty.run_engine(_Cutter(qwen_tokenizer, {2: 11}), prompts, 50, batch_size=4, on_length="keep")
    assert kept[2] == "\\boxed{"  # keep: graded as it is, one request each


class _ApiRecorder:
    def __init__(self):
        self.calls = []

    def complete_many(self, messages, params):
        self.calls.append((messages, params))
        return [type("R", (), {"ok": True, "content": "\\boxed{B}"})() for _ in messages]


def test_api_backend_sends_the_original_message_and_params():
    client = _ApiRecorder()
    assert difficulty.run_chat_api(client, [PROMPT], difficulty.ORIGINAL_API_PARAMS) == ["\\boxed{B}"]
    ((messages, params),) = client.calls
    assert messages == [[{"role": "user", "content": "Return your final response within \\boxed{}. " + PROMPT}]]
    assert params == {"temp": 0.0, "max_tokens": 4000}  # distill_data.py's generation_params for qwen-7b/32b


# ------------------------------------------------------------------------------------------------ random sets


def test_shuffled_order_is_datasets_shuffle():
    import datasets

    ds = datasets.Dataset.from_list([{"i": i} for i in range(257)])
    assert sample.shuffled_order(257, 42) == ds.shuffle(seed=42)["i"]


def test_draw_sizes_are_the_notebooks():
    # random_select.ipynb prints num_rows 1250 and 29366 for the two draws (estimated accuracy 0.8)
    assert sample.random_draw_size(1000, 0.8) == 1250
    assert sample.random_draw_size(23493, 0.8) == 29366


WORDS = ("renal", "tubule", "sodium", "acid", "cortex", "nerve", "drug", "enzyme", "bone", "lung", "liver", "heart")


def _pool(n: int) -> pl.DataFrame:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(12)) + f" ({i})?"  # unrelated questions
        opts = ["alpha", "beta", "gamma", "delta"]
        rows.append(
            {
                "id": f"MedMCQA-train-{i}",
                "source": "MedMCQA",
                "question": q,
                "options": opts,
                "answer_letter": "ABCD"[i % 4],
                "answer_string": opts[i % 4],
                "prompt": build_prompt(q, opts),
                "metadata": "{}",
            }
        )
    return pl.DataFrame(rows)


def test_random_draw_takes_the_shuffled_raw_pool_and_decontaminates(tmp_path):
    pool = _pool(40)
    order = sample.shuffled_order(40, 42)
    copied = pool["prompt"][order[3]]  # an evaluation item that copies the 4th drawn row's prompt
    write_table(pool, tmp_path / "pool.parquet")
    (tmp_path / "eval.json").write_text(json.dumps({"MedQA_USLME_test": [{"question": copied, "options": {"A": "x"}}]}))
    cfg = {
        "seed": 42,
        "sizes": {"random_1k": 4, "random_23k": 12},
        "estimated_accuracy": 0.8,
        "decontaminate": {"mode": "faithful", "threshold": 95, "ngram_n": 8, "ngram_overlap": 0.5},
    }
    stats = stages.run_random_draw(
        cfg, str(tmp_path / "pool.parquet"), str(tmp_path / "eval.json"), str(tmp_path / "d.parquet")
    )
    drawn = pl.read_parquet(tmp_path / "d.parquet")
    assert stats["drawn"] == {"random_1k": 5, "random_23k": 15}
    expected = [pool["id"][j] for k, j in enumerate(order[:15]) if k != 3]
    assert drawn["id"].to_list() == expected
    assert drawn["draw_rank"].to_list() == [k for k in range(15) if k != 3]
    assert drawn["in_random_1k"].sum() == 4 and stats["removed_by_decontamination"] == {"random_1k": 1, "random_23k": 1}


def test_random_sets_keep_the_first_correct_answers_in_draw_order():
    pool = _pool(10)
    drawn = pool.with_columns(
        pl.Series("draw_rank", [9 - i for i in range(10)]),
        pl.Series("in_random_1k", [i >= 6 for i in range(10)]),
        pl.Series("in_random_23k", [True] * 10),
    )
    letters = pool["answer_letter"].to_list()
    answers = [f"\\boxed{{{letters[i] if i % 3 else 'Z'}}}" for i in range(10)]  # rows 0, 3, 6, 9 wrong
    traces = pool.with_columns(
        pl.Series("hard", [False] * 10),
        pl.Series("reasoning", ["r"] * 10),
        pl.Series("distilled_answer_string", answers),
        pl.Series("trace_status", ["failed" if i == 8 else "ok" for i in range(10)]),  # no reply: not in the set
    )
    sets = stages.random_sets(traces, drawn, {"random_1k": 2, "random_23k": 4}, "faithful")
    # draw order is row 9, 8, ..., 0; correct and answered: 7, 5, 4, 2, 1
    assert sets["random_1k"]["id"].to_list() == ["MedMCQA-train-7"]
    assert sets["random_23k"]["id"].to_list() == [f"MedMCQA-train-{i}" for i in (7, 5, 4, 2)]
