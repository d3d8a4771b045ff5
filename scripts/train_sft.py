"""Rule train_sft: one SFT run (srun per node when multi-node, torchrun per node, trl + DeepSpeed inside)."""

from m1repro.smk import run
from m1repro.train.launch import train_sft

run(snakemake, train_sft)  # noqa: F821
