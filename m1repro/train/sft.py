"""The trl SFT entry point of one run: resumable, DeepSpeed ZeRO-3 or single process, atomic final model.

Run once per process (torchrun starts one per GPU; a CPU run is one plain process)::

    python -m m1repro.train.sft --spec '<RunSpec JSON>' --data SET.parquet --output results/train/RUN/model \\
        --checkpoints cache/train/RUN/checkpoints --log logs/train_sft/RUN.log

Trainer checkpoints (weights, optimizer, scheduler, RNG states) go to ``--checkpoints``, outside the declared output,
so a job killed or timed out resumes from the last one when run again; but only a run of the very same training
(:func:`run_fingerprint`: the spec, the data set's bytes, the base model, the training code and the library versions,
recorded beside the checkpoints) that did not finish. Checkpoints of another run, of a finished run (a forced rerun),
or without a fingerprint are removed and the run starts from scratch; the log says which and why
(:func:`resume_decision`). The final model is written to a temporary sibling of ``--output`` and renamed into place
by rank 0 only when training and saving finished.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from m1repro import compat
from m1repro.io import partial_path, write_json_atomic
from m1repro.log import log_event, setup_logging
from m1repro.train.format import PAD_TOKEN, build_dataset, load_training_rows
from m1repro.train.hparams import RunSpec

logger = logging.getLogger("m1repro.train")

TRAIN_INFO_FILE = "m1repro_train.json"
#: Beside the checkpoints: the fingerprint of the run that wrote them, and whether it finished.
RUN_FILE = "m1repro_run.json"
_CODE = ("sft.py", "format.py", "hparams.py")  # the training code whose change must reach the model
_LIBRARIES = ("torch", "transformers", "trl", "accelerate", "deepspeed")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _base_identity(base: str) -> str:
    """A local base model: its files' names and sizes and its config; a hub id: the id (its revision is pinned)."""
    d = Path(base)
    if not d.is_dir():
        return base
    files = sorted((str(p.relative_to(d)), p.stat().st_size) for p in d.rglob("*") if p.is_file())
    config = (d / "config.json").read_bytes() if (d / "config.json").is_file() else b""
    return _sha(json.dumps(files).encode() + config)


def run_fingerprint(spec: RunSpec, data_path: str | Path) -> dict[str, str]:
    """What determines the weights a run produces, part by part (so the log can say which part changed)."""
    from importlib.metadata import PackageNotFoundError, version

    def _version(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    here = Path(__file__).resolve().parent
    ds = Path(spec.deepspeed).read_bytes() if spec.deepspeed and Path(spec.deepspeed).is_file() else b""
    return {
        "spec": _sha(json.dumps(spec.to_dict(), sort_keys=True).encode() + ds),
        "data": _sha(Path(data_path).read_bytes()),
        "base": _base_identity(spec.base),
        "code": _sha(b"".join((here / f).read_bytes() for f in _CODE)),
        "libraries": ",".join(f"{n}={_version(n)}" for n in _LIBRARIES),
    }


def resume_decision(checkpoint_dir: str | Path, fingerprint: dict[str, str]) -> tuple[str | None, str]:
    """(the checkpoint to resume from or None, why): resume only an unfinished run with this very fingerprint."""
    last = last_checkpoint(checkpoint_dir)
    if last is None:
        return None, "starting from scratch: no checkpoint"
    path = Path(checkpoint_dir) / RUN_FILE
    try:
        rec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None, f"starting from scratch: the checkpoints in {checkpoint_dir} carry no readable {RUN_FILE}"
    if rec.get("finished"):
        return None, "starting from scratch: the checkpoints are of a run that finished (this is a rerun)"
    differs = [k for k in fingerprint if (rec.get("fingerprint") or {}).get(k) != fingerprint[k]]
    if differs:
        return None, f"starting from scratch: the checkpoints are of another run (it differs in: {', '.join(differs)})"
    return last, f"resuming from {last}: the same run (spec, data, base model, code and libraries unchanged)"


def _start_run(checkpoint_dir: str | Path, fingerprint: dict[str, str], resume: str | None) -> None:
    """Rank 0, before training: drop checkpoints that will not be resumed, record this run's fingerprint."""
    d = Path(checkpoint_dir)
    d.mkdir(parents=True, exist_ok=True)
    if resume is None:
        for p in d.glob("checkpoint-*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()

    write_json_atomic(d / RUN_FILE, {"fingerprint": fingerprint, "finished": False})


def _finish_run(checkpoint_dir: str | Path, fingerprint: dict[str, str]) -> None:
    write_json_atomic(Path(checkpoint_dir) / RUN_FILE, {"fingerprint": fingerprint, "finished": True})


@contextmanager
def restored_environ() -> Iterator[None]:
    """Put ``os.environ`` back as it was: the trainer stack sets variables for its own process (transformers sets
    ``ACCELERATE_USE_DEEPSPEED`` and friends, the group below sets the launcher's), which must not reach whatever
    this process starts or trains next."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def single_process_group() -> Iterator[None]:
    """A one-process group for DeepSpeed when no launcher made one, on a TCP store bound to a free port.

    The store binds port 0 itself (the OS picks a free port, no race), so two runs on one node never collide. On exit
    the group is destroyed: nothing outlives the run (a test process or a notebook that trains twice gets a fresh
    group each time). Inside a launcher (``RANK`` set) it does nothing.
    """
    import torch.distributed as dist

    if "RANK" in os.environ or dist.is_initialized():
        yield
        return
    store = dist.TCPStore("127.0.0.1", 0, world_size=1, is_master=True, wait_for_workers=False)
    os.environ.update(
        RANK="0",
        LOCAL_RANK="0",
        WORLD_SIZE="1",
        LOCAL_WORLD_SIZE="1",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(store.port),
    )
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        yield
    finally:
        _destroy_group()
        del store


def _forget_deepspeed() -> None:
    """Drop the process-wide DeepSpeed state a ZeRO-3 run leaves: transformers' global DeepSpeed config (with it,
    every later ``from_pretrained`` in this process would partition the model with ``zero.Init``) and accelerate's
    shared state (its distributed type)."""
    from accelerate.state import AcceleratorState
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
    AcceleratorState._reset_state(reset_partial_state=True)


def _destroy_group() -> None:
    """Destroy the default group through DeepSpeed when it used it, so that its cached group handles go too (a later
    run in the same process would otherwise reach a dead group)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    ds_comm = sys.modules.get("deepspeed.comm.comm")
    if ds_comm is not None and getattr(ds_comm, "cdb", None) is not None:
        ds_comm.destroy_process_group()
    else:
        dist.destroy_process_group()


def sft_config(spec: RunSpec, checkpoint_dir: str | Path) -> Any:
    """The trl/transformers arguments of the run, every value from the spec (the original's, unless overridden)."""
    from trl import SFTConfig

    on_cpu = spec.device == "cpu"
    # names and meanings that differ between trl 0.15 / transformers 4.48 and trl 1.x / transformers 5 (length,
    # warmup ratio, checkpointing): m1repro.compat
    differing = compat.sft_config_kwargs(
        max_length=spec.max_length,
        warmup_ratio=spec.warmup_ratio,
        gradient_checkpointing=spec.gradient_checkpointing,
        fields=SFTConfig.__dataclass_fields__,
    )
    return SFTConfig(
        output_dir=str(checkpoint_dir),
        learning_rate=spec.learning_rate,
        num_train_epochs=spec.epochs,
        per_device_train_batch_size=spec.per_device_batch_size,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        weight_decay=spec.weight_decay,
        lr_scheduler_type=spec.lr_scheduler,
        adam_beta1=spec.adam_beta1,
        adam_beta2=spec.adam_beta2,
        optim="adamw_torch",
        bf16=spec.bf16,
        **differing,
        packing=False,
        seed=spec.seed,
        # the original's transformers 4.48.3 defaulted to false (a per-process token count); transformers 5: true
        average_tokens_across_devices=spec.average_tokens_across_devices,
        save_strategy=spec.save_strategy,
        save_steps=spec.save_steps,
        save_total_limit=spec.save_total_limit,
        save_only_model=False,  # the original saved weights only; resuming needs optimizer and RNG states too
        logging_steps=spec.logging_steps,
        report_to=[],
        use_cpu=on_cpu,
        deepspeed=spec.deepspeed,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )


def last_checkpoint(checkpoint_dir: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` (one whose trainer state was written), or None."""
    done = {
        int(p.name.split("-")[-1]): p
        for p in Path(checkpoint_dir).glob("checkpoint-*")
        if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists()
    }
    return str(done[max(done)]) if done else None


def build_trainer(
    spec: RunSpec, data_path: str | Path, checkpoint_dir: str | Path, callbacks: Sequence[Any] = ()
) -> Any:
    """Tokenizer, data set, model and SFTTrainer of the run (the arguments are built before the model is loaded, so
    that ZeRO-3 partitions the weights while loading)."""
    import torch
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    args = sft_config(spec, checkpoint_dir)
    tokenizer = AutoTokenizer.from_pretrained(spec.base)
    tokenizer.pad_token = PAD_TOKEN
    rows = load_training_rows(data_path)
    dataset = build_dataset(tokenizer, rows)
    lengths = [len(x) for x in dataset["input_ids"]]
    n_labels = sum(sum(1 for t in lab if t != -100) for lab in dataset["labels"])
    log_event(
        logger,
        "training data",
        path=str(data_path),
        examples=len(rows),
        tokens=sum(lengths),
        label_tokens=n_labels,
        max_tokens=max(lengths),
        truncated=sum(n > spec.max_length for n in lengths),
    )
    if not compat.trl_truncates_labels(type(args).__dataclass_fields__):
        dataset = compat.truncate_examples(dataset, spec.max_length)
    dtype = torch.bfloat16 if (spec.bf16 and spec.deepspeed) else torch.float32
    model = compat.load_causal_lm(spec.base, dtype=dtype, attn_implementation=spec.attn_implementation)
    model.config.use_cache = False
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        data_collator=compat.sft_collator(tokenizer),
        callbacks=list(callbacks),
    )


def train(
    spec: RunSpec,
    data_path: str | Path,
    output_dir: str | Path,
    checkpoint_dir: str | Path,
    callbacks: Sequence[Any] = (),
) -> dict[str, Any]:
    """Train (resuming from the last checkpoint if any) and write the final model directory atomically."""
    with restored_environ(), single_process_group() if spec.deepspeed else nullcontext():
        try:
            return _train(spec, data_path, output_dir, checkpoint_dir, callbacks)
        finally:
            if spec.deepspeed:
                _forget_deepspeed()


def _train(
    spec: RunSpec, data_path: str | Path, output_dir: str | Path, checkpoint_dir: str | Path, callbacks: Sequence[Any]
) -> dict[str, Any]:
    output_dir = Path(output_dir)
    tmp_dir = partial_path(output_dir)
    t0 = time.time()
    trainer = build_trainer(spec, data_path, checkpoint_dir, callbacks)
    fingerprint = run_fingerprint(spec, data_path)
    resume, why = resume_decision(checkpoint_dir, fingerprint)  # every rank decides before rank 0 changes anything
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        _start_run(checkpoint_dir, fingerprint, resume)
    trainer.accelerator.wait_for_everyone()
    logger.info("run %s: %s", spec.run, why)
    log_event(
        logger,
        "start",
        run=spec.run,
        resume_from=resume,
        resume_decision=why,
        world_size=trainer.args.world_size,
        gradient_accumulation_steps=trainer.args.gradient_accumulation_steps,
    )
    result = trainer.train(resume_from_checkpoint=resume)
    train_s = time.time() - t0
    if trainer.is_world_process_zero() and tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp_dir))  # every rank: ZeRO-3 gathers the shards
    info = {
        "spec": spec.to_dict(),
        "resumed_from": resume,
        "resume_decision": why,
        "fingerprint": fingerprint,
        "global_steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "train_seconds": round(train_s, 2),
        "metrics": result.metrics,
        "log_history": trainer.state.log_history,
    }
    if trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(str(tmp_dir))
        (tmp_dir / TRAIN_INFO_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        tmp_dir.rename(output_dir)
        _finish_run(checkpoint_dir, fingerprint)
        done = {k: info[k] for k in ("train_seconds", "global_steps", "train_loss")}
        log_event(logger, "final model written", path=str(output_dir), **done)
    trainer.accelerator.wait_for_everyone()
    return info


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", required=True, help="the run's resolved spec as JSON, or @FILE")
    p.add_argument("--data", required=True, help="training set (parquet)")
    p.add_argument("--output", required=True, help="final model directory")
    p.add_argument("--checkpoints", required=True, help="trainer checkpoints (kept across attempts)")
    p.add_argument("--log", default=None, help="JSON-lines log file (rank 0)")
    a = p.parse_args(argv)
    setup_logging(a.log if int(os.environ.get("RANK", "0")) == 0 else None)
    raw = Path(a.spec[1:]).read_text() if a.spec.startswith("@") else a.spec
    spec = RunSpec.from_dict(json.loads(raw))
    try:
        train(spec, a.data, a.output, a.checkpoints)
    except Exception:
        logger.exception("training failed")
        raise


if __name__ == "__main__":
    main()
