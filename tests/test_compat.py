"""The compatibility seam (m1repro/compat.py) under whichever stack this Python holds: the paper's (transformers 4.48.3,
trl 0.15.2; `make test-paper`) or today's (the lock; `make test`). Each stack's own trainer computes the schedule
length and the weight-decay groups, and the tests pin what it computes for the original's run under that stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from train_helpers import tiny_spec, write_set

from m1repro import compat
from m1repro.engines import sglang as sg

STANDIN = str(Path(__file__).with_name("sglang_standin.py"))
STOP = ["<|im_end|>", "<|im_start|>"]
STACK = compat.stack()


def test_release_parsing():
    assert compat.release("0.4.3.post2") == (0, 4, 3)
    assert compat.release("2.13.0+cpu") == (2, 13, 0)
    assert compat.release("5.0.0rc1") == (5, 0, 0)
    with pytest.raises(ValueError, match="not a version"):
        compat.release("dev")


def test_stack_follows_the_installed_transformers():
    import transformers

    assert STACK == ("paper" if transformers.__version__.startswith("4.") else "current")


# ---- sglang: the /generate contract of 0.4.3.post2 (no output_ids) and of 0.5 -------------------------------------
def test_sglang_request_and_reply_shapes_of_both_lines():
    assert compat.sglang_request_extras((0, 5, 23)) == {} and compat.sglang_request_extras(None) == {}
    assert compat.sglang_request_extras((0, 4, 3)) == {"return_logprob": True, "return_text_in_logprobs": False}
    req = sg.build_native_request(["a"], [4], STOP, compat.sglang_request_extras((0, 4, 3)))
    assert req["return_logprob"] is True and req["text"] == ["a"]
    # 0.4.3.post2: text + meta_info, ids only in output_token_logprobs as [logprob, id, text]
    old = {
        "text": "x",
        "meta_info": {
            "finish_reason": {"type": "stop", "matched": 151645},
            "completion_tokens": 2,
            "output_token_logprobs": [[-0.1, 9, None], [-0.2, 151645, None]],
        },
    }
    # the matched stop token ends the ids; it is kept apart (stop_ids), as the text trims it (docs/fidelity.md)
    (parsed,) = sg.parse_native_response([old], 1)
    assert parsed.token_ids == (9,) and parsed.stop_ids == (151645,)
    new = {"text": "x", "output_ids": [9], "meta_info": {"finish_reason": {"type": "length"}, "completion_tokens": 1}}
    assert sg.parse_native_response([new], 1)[0].token_ids == (9,)


def _engine(model_dir, tmp_path, server_version):
    cmd = [sys.executable, STANDIN, "--model-path", str(model_dir), "--emulate-0.4.3"]
    return sg.SGLangEngine(
        str(model_dir),
        server_command=cmd,
        server_timeout_s=120.0,
        log_path=str(tmp_path / "server.log"),
        server_version=server_version,
    )


def test_sglang_043_server_returns_the_transformers_ids(tiny_model_dir, tmp_path):
    """Against a server with 0.4.3.post2's reply shape, the engine asks for the output ids and gets exactly the
    tokens the transformers engine generates; without the request extras they would be missing."""
    from m1repro.engines.hf import HFEngine

    prompts = ["<|im_start|>user\nWhich vitamin deficiency causes scurvy?<|im_end|>\n<|im_start|>assistant\n"]
    want = HFEngine(str(tiny_model_dir), batch_size=4, num_threads=1).generate(prompts, [10], STOP)
    with _engine(tiny_model_dir, tmp_path, "0.4.3.post2") as eng:
        got = eng.generate(prompts, [10], STOP)
        raw = eng._post("/generate", sg.build_native_request(prompts, [10], STOP))  # no extras: no ids
    assert [(c.text, c.token_ids) for c in got] == [(c.text, c.token_ids) for c in want]
    assert compat.sglang_output_ids(raw[0]) is None


# ---- training: the original's schedule length and weight-decay groups, by each stack's own trainer -----------------
class _StopAtStart(Exception):
    pass


def _max_steps(trainer) -> int:
    """The optimiser steps the trainer plans (state.max_steps), read at on_train_begin, before any step runs."""
    from transformers import TrainerCallback

    seen = {}

    class Probe(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            seen["max_steps"] = state.max_steps
            raise _StopAtStart

    trainer.add_callback(Probe)
    with pytest.raises(_StopAtStart):
        trainer.train()
    return seen["max_steps"]


# m1-7B-1K as the original trained it: 1,000 examples on 8 GPUs (125 batches of 1 per rank), global batch 16
# (accumulation 2), 5 epochs. One process with the rank's 125 examples plans the same steps. transformers 4.48.3:
# 5 x floor(125 / 2) = 310 (the original's logs); transformers 5: 5 x ceil(125 / 2) = 315.
ORIGINAL_STEPS = {"paper": 310, "current": 315}


def test_schedule_length_of_m1_7b_1k_under_this_stack(tiny_model_dir, tmp_path):
    from m1repro.train.sft import build_trainer

    spec = tiny_spec(tiny_model_dir, epochs=5, global_batch_size=2, max_length=64)
    assert (spec.per_device_batch_size, spec.gradient_accumulation_steps) == (1, 2)
    trainer = build_trainer(spec, write_set(tmp_path / "set.parquet", n=125), tmp_path / "ck")
    assert _max_steps(trainer) == ORIGINAL_STEPS[STACK]
    assert compat.optimizer_steps(125, 2, 5) == ORIGINAL_STEPS[STACK]
    # m1-7B-23K: 23,493 examples, 2,937 batches per rank: 7,340 in the original, 7,345 under transformers 5
    assert compat.optimizer_steps(2937, 2, 5) == {"paper": 7340, "current": 7345}[STACK]


def test_weight_decay_groups_under_this_stack(tiny_model_dir, tmp_path):
    """transformers 4.48.3 decays every weight but biases and nn.LayerNorm: Qwen2's RMSNorm weights are decayed, as
    in the original's run. transformers 5 exempts the norms. Read from the trainer's own optimizer."""
    from m1repro.train.sft import build_trainer

    spec = tiny_spec(tiny_model_dir, weight_decay=1e-4)
    trainer = build_trainer(spec, write_set(tmp_path / "set.parquet", n=2), tmp_path / "ck")
    model = trainer.model
    names = {n for n, _ in model.named_parameters()}  # a tied lm_head is listed once, as the embedding
    decayed = set(trainer.get_decay_parameter_names(model)) & names
    norms = {n for n, _ in model.named_parameters() if "norm" in n}
    biases = {n for n, _ in model.named_parameters() if n.endswith(".bias")}
    assert norms and biases  # Qwen2: RMSNorm weights; q/k/v projections have biases
    assert not (biases & decayed)
    if STACK == "paper":
        assert norms <= decayed
    else:
        assert not (norms & decayed)
    trainer.create_optimizer()
    by_id = {id(p): n for n, p in model.named_parameters()}
    group_of = {by_id[id(p)]: g["weight_decay"] for g in trainer.optimizer.param_groups for p in g["params"]}
    assert {n for n, wd in group_of.items() if wd == 1e-4} == decayed


def test_the_trainers_batches_keep_the_prompt_mask(tiny_model_dir, tmp_path):
    """The batches the trainer builds carry a loss on exactly the assistant turn, as the dataset's labels say, under
    either stack's collator (trl 0.15.2's default would put a loss on every token) and truncation."""
    from m1repro.train.sft import build_trainer

    spec = tiny_spec(tiny_model_dir, max_length=60)
    trainer = build_trainer(spec, write_set(tmp_path / "set.parquet", n=3), tmp_path / "ck")
    rows = [trainer.train_dataset[i] for i in range(3)]
    batch = trainer.data_collator([{k: r[k] for k in ("input_ids", "labels")} for r in rows])
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        assert n <= 60
        labels = batch["labels"][i].tolist()
        assert labels[:n] == row["labels"] and all(x == -100 for x in labels[n:])
        assert row["labels"][0] == -100 and any(x != -100 for x in row["labels"])


def test_the_tiny_model_has_the_same_rope_base_under_this_stack(tiny_model_dir):
    """The tiny model is built and loaded with RoPE base 1,000,000 under either transformers: 4.48 reads
    ``rope_theta`` and ignores 5.x's ``rope_parameters`` (a model with base 10,000 came out before compat.rope_kwargs,
    and the paper stack's tiny tables differed in every cell)."""
    import torch

    model = compat.load_causal_lm(str(tiny_model_dir))
    head_dim = model.config.hidden_size // model.config.num_attention_heads
    want = 1.0 / (1_000_000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    assert torch.allclose(model.model.rotary_emb.inv_freq.float(), want)
