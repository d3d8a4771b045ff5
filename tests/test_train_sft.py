"""The trl training path on the tiny model: it learns, resumes exactly, writes its model atomically, and the
DeepSpeed ZeRO-3 path (one CPU process) gives the same weights as the plain one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import Interrupt, KillAfterSave, tiny_spec, write_set

from m1repro.train.sft import TRAIN_INFO_FILE, last_checkpoint, train

REPO = Path(__file__).resolve().parent.parent


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def test_resume_after_interruption_gives_the_same_weights(tiny_model_dir, tmp_path):
    data = write_set(tmp_path / "set.parquet", n=4)
    # 2 optimizer steps of 2 micro-batches each (gradient accumulation 2) in one epoch, a checkpoint after each
    spec = tiny_spec(tiny_model_dir, save_strategy="steps", save_steps=1, epochs=1, global_batch_size=2)
    ref = train(spec, data, tmp_path / "ref/model", tmp_path / "ref/ck")
    assert ref["global_steps"] == 2 and ref["resumed_from"] is None

    out = tmp_path / "run/model"
    with pytest.raises(Interrupt):
        train(spec, data, out, tmp_path / "run/ck", callbacks=[KillAfterSave(1)])  # mid-epoch
    assert not out.exists()  # nothing that looks finished
    assert last_checkpoint(tmp_path / "run/ck").endswith("checkpoint-1")
    resumed = train(spec, data, out, tmp_path / "run/ck")
    assert resumed["resumed_from"].endswith("checkpoint-1") and resumed["global_steps"] == 2

    a, b = weights(tmp_path / "ref/model"), weights(out)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    base = weights(Path(tiny_model_dir))
    assert any(not torch.equal(base[k], a[k]) for k in a)  # training changed the weights


def test_only_the_very_same_unfinished_run_resumes(tiny_model_dir, tmp_path, caplog):
    """A changed hyperparameter (a fix) and a forced rerun of a finished run start from scratch, their old
    checkpoints removed, and the log says why."""
    data = write_set(tmp_path / "set.parquet", n=4)
    spec = tiny_spec(tiny_model_dir, save_strategy="steps", save_steps=1, epochs=1, global_batch_size=2)
    out, ck = tmp_path / "run/model", tmp_path / "run/ck"

    def interrupted(s, d=data):
        with pytest.raises(Interrupt):
            train(s, d, out, ck, callbacks=[KillAfterSave(1)])
        assert last_checkpoint(ck).endswith("checkpoint-1")

    interrupted(spec)
    changed = tiny_spec(
        tiny_model_dir, save_strategy="steps", save_steps=1, epochs=1, global_batch_size=2, learning_rate=1e-3
    )
    caplog.set_level("INFO", logger="m1repro.train")
    info = train(changed, data, out, ck)  # e.g. a fix to the hyperparameters
    assert info["resumed_from"] is None and info["global_steps"] == 2
    assert "another run (it differs in: spec)" in info["resume_decision"] in caplog.text

    info = train(changed, data, out, ck)  # --forcerun: the checkpoints are of a finished run
    assert info["resumed_from"] is None and info["global_steps"] == 2 and "finished" in info["resume_decision"]


def test_resume_decision_names_what_changed(tiny_model_dir, tmp_path):
    """The decision over checkpoints on disk (as the trainer leaves them): other data, no fingerprint, the same
    unfinished run."""
    from m1repro.train.sft import RUN_FILE, resume_decision, run_fingerprint

    data = write_set(tmp_path / "set.parquet", n=4)
    spec = tiny_spec(tiny_model_dir)
    ck = tmp_path / "ck"
    (ck / "checkpoint-3").mkdir(parents=True)
    (ck / "checkpoint-3" / "trainer_state.json").write_text("{}")
    fp = run_fingerprint(spec, data)
    assert resume_decision(ck, fp) == (
        None,
        f"starting from scratch: the checkpoints in {ck} carry no readable {RUN_FILE}",
    )
    (ck / RUN_FILE).write_text(json.dumps({"fingerprint": fp, "finished": False}))
    assert resume_decision(ck, fp)[0] == str(ck / "checkpoint-3")
    other = run_fingerprint(spec, write_set(tmp_path / "other.parquet", n=6))
    assert resume_decision(ck, other) == (
        None,
        "starting from scratch: the checkpoints are of another run (it differs in: data)",
    )


def test_final_model_loads_with_chat_template_and_learned_the_format(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    data = write_set(tmp_path / "set.parquet", n=2)
    spec = tiny_spec(tiny_model_dir, epochs=10, global_batch_size=2, per_device_batch_size=2, learning_rate=1e-2)
    info = train(spec, data, tmp_path / "m/model", tmp_path / "m/ck")
    out = tmp_path / "m/model"
    saved = json.loads((out / TRAIN_INFO_FILE).read_text())
    assert saved["spec"]["learning_rate"] == 1e-2 and saved["global_steps"] == 10
    losses = [h["loss"] for h in info["log_history"] if "loss" in h]
    assert losses[-1] < 0.5 * losses[0]
    assert not list(out.parent.glob(".model.partial"))

    tok = AutoTokenizer.from_pretrained(str(out))
    model = AutoModelForCausalLM.from_pretrained(str(out))
    prompt = (
        tok.apply_chat_template(
            [
                {
                    "role": "user",
                    "content": "A patient with finding 1 needs which drug?\nA. aspirin\nB. insulin\nC. statin\nD. heparin",
                }
            ],
            tokenize=False,
            add_generation_prompt=True,
        )
        + "<|im_start|>think\n"
    )
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    gen = model.generate(**ids, max_new_tokens=20, do_sample=False)
    text = tok.decode(gen[0, ids["input_ids"].shape[1] :])
    assert "<|im_start|>answer" in text, text  # the think/answer format was learned


@pytest.fixture
def extensions_dir(tmp_path_factory, monkeypatch):
    """DeepSpeed JIT-builds a CPU communication op (~35 s) into TORCH_EXTENSIONS_DIR: one build per test session,
    in the session's temporary directory (or where the caller already points it)."""
    path = os.environ.get("TORCH_EXTENSIONS_DIR") or str(tmp_path_factory.getbasetemp() / "torch_extensions")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", path)
    return path


@pytest.mark.slow  # DeepSpeed builds and starts its engine: minutes
@pytest.mark.skipif(os.environ.get("M1REPRO_SKIP_DEEPSPEED") == "1", reason="M1REPRO_SKIP_DEEPSPEED=1")
def test_deepspeed_zero3_matches_the_plain_path(tiny_model_dir, tmp_path, extensions_dir):
    import deepspeed  # noqa: F401  (in the lock: a broken install fails here)
    import torch.distributed as dist

    before = dict(os.environ)
    data = write_set(tmp_path / "set.parquet", n=4)
    plain = train(tiny_spec(tiny_model_dir), data, tmp_path / "plain/model", tmp_path / "plain/ck")
    spec = tiny_spec(tiny_model_dir, deepspeed=str(REPO / "config/deepspeed/zero3.json"))
    ds = train(spec, data, tmp_path / "ds/model", tmp_path / "ds/ck")
    # the one-process group and every variable the trainer set are gone: later runs and subprocesses start clean
    assert dict(os.environ) == before and not dist.is_initialized()
    assert ds["global_steps"] == plain["global_steps"] == 2
    a, b = weights(tmp_path / "plain/model"), weights(tmp_path / "ds/model")
    base = weights(Path(tiny_model_dir))
    assert a.keys() == b.keys()  # ZeRO-3 gathered the full weights on save
    for k in a:
        assert a[k].shape == b[k].shape, k
    # same training up to float reduction order: the two results differ by far less than training moved the weights
    gap = torch.sqrt(sum(((a[k] - b[k]) ** 2).sum() for k in a))
    update = torch.sqrt(sum(((a[k] - base[k]) ** 2).sum() for k in a))
    assert update > 0 and gap < 0.01 * update, (float(gap), float(update))
    # a second run in the same process (as a notebook would) builds its own group again
    again = train(spec, data, tmp_path / "ds2/model", tmp_path / "ds2/ck")
    assert again["global_steps"] == 2 and not dist.is_initialized()
    # and nothing of DeepSpeed stays in the process: a model loaded next is a plain one, not ZeRO-3 partitioned
    from transformers import AutoModelForCausalLM

    plain_again = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    assert all(p.numel() > 0 and not hasattr(p, "ds_id") for p in plain_again.parameters())


@pytest.mark.slow  # two DeepSpeed trainings side by side: minutes
@pytest.mark.skipif(os.environ.get("M1REPRO_SKIP_DEEPSPEED") == "1", reason="M1REPRO_SKIP_DEEPSPEED=1")
def test_two_trainings_started_together_on_one_node_both_finish(tiny_model_dir, tmp_path, extensions_dir, monkeypatch):
    """Two single-process ZeRO-3 runs at once, as two jobs sharing a node would: each binds its own free port. A
    stale MASTER_PORT in the parent's environment (as a test process or an outer launcher leaves) is not reused."""
    import socket
    import subprocess
    import sys

    import deepspeed  # noqa: F401  (in the lock: a broken install fails here)

    from m1repro.train.launch import spec_json

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    monkeypatch.setenv("MASTER_PORT", str(busy.getsockname()[1]))  # taken: a run that used it would fail
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # as a parent that trained with DeepSpeed may leave it
    data = write_set(tmp_path / "set.parquet", n=4)
    spec = tiny_spec(tiny_model_dir, deepspeed=str(REPO / "config/deepspeed/zero3.json"))
    procs = []
    for k in range(2):
        cmd = [
            sys.executable,
            "-m",
            "m1repro.train.sft",
            "--spec",
            spec_json(spec),
            "--data",
            str(data),
            "--output",
            str(tmp_path / f"r{k}/model"),
            "--checkpoints",
            str(tmp_path / f"r{k}/ck"),
        ]
        log = open(tmp_path / f"r{k}.log", "w")
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log))
    try:
        codes = [p.wait(timeout=600) for p, _ in procs]
    finally:
        for p, log in procs:
            p.kill() if p.poll() is None else None
            log.close()
        busy.close()
    for k, code in enumerate(codes):
        assert code == 0, (tmp_path / f"r{k}.log").read_text()[-3000:]
        assert (tmp_path / f"r{k}/model/model.safetensors").exists()
