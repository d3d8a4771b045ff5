"""transformers backend: batched greedy generation with stop strings, finish reasons and token counts (CPU or GPU).

Greedy decoding of one row does not depend on how many tokens the row is allowed, so a batch is generated to its
largest ``max_tokens`` and each row is cut at its own limit afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from m1repro.compat import load_causal_lm
from m1repro.engines.base import Completion, TokenizerMixin

Prompt = str | Sequence[int]


class HFEngine(TokenizerMixin):
    """A causal LM from a hub id or a local directory, run with ``transformers``."""

    name = "transformers"
    returns_token_ids = True

    def __init__(
        self,
        model_path: str,
        tokenizer_path: str | None = None,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 16,
        seed: int = 42,
        num_threads: int | None = None,
        **_ignored: Any,
    ) -> None:
        import torch
        from transformers import AutoTokenizer

        if num_threads:
            # On small shared CPU nodes, intra-op threads contend badly (30x slower matmuls measured on 2 vCPUs
            # with 2 threads), so CPU jobs pin their thread count.
            torch.set_num_threads(num_threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(seed)
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path or model_path)
        self.tokenizer.padding_side = "left"
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.model = load_causal_lm(model_path, dtype=torch_dtype).to(device)
        self.model.eval()
        pad = self.tokenizer.pad_token_id
        self.pad_id = self.tokenizer.eos_token_id if pad is None else pad
        self.generated_tokens = 0  # running total, for throughput figures

    # -- Engine protocol -------------------------------------------------------------------------------------------

    def close(self) -> None:
        self.model = None

    def generate(
        self, prompts: Sequence[Prompt], max_tokens: int | Sequence[int], stop: Sequence[str]
    ) -> list[Completion]:
        limits = [max_tokens] * len(prompts) if isinstance(max_tokens, int) else list(max_tokens)
        if len(limits) != len(prompts):
            raise ValueError(f"{len(prompts)} prompts but {len(limits)} max_tokens values")
        ids = [self.encode(p) if isinstance(p, str) else list(p) for p in prompts]
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            end = start + self.batch_size
            out += self._generate_batch(ids[start:end], limits[start:end], stop)
        return out

    # -- internals --------------------------------------------------------------------------------------------------
    def _eos_ids(self) -> set[int]:
        """The model's end-of-sequence ids (generation config, else the tokenizer's): a reply ends there whatever the
        stop strings, as SGLang ends it (the original's baselines send no stop strings at all)."""
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        eos = self.tokenizer.eos_token_id if eos is None else eos
        ids = eos if isinstance(eos, list | tuple) else [eos]
        return {int(i) for i in ids if i is not None}

    def _stop_token_ids(self, stop: Sequence[str]) -> tuple[set[int], list[str]]:
        """Split stop strings into single special tokens (checked on ids) and others (checked on text); the model's
        end-of-sequence ids always stop."""
        token_stops: set[int] = self._eos_ids()
        text_stops: list[str] = []
        for s in stop:
            tid = self.tokenizer.convert_tokens_to_ids(s) if s in self.tokenizer.get_vocab() else None
            if tid is not None and tid != self.tokenizer.unk_token_id and self.encode(s) == [tid]:
                token_stops.add(int(tid))
            else:
                text_stops.append(s)
        return token_stops, text_stops

    def _generate_batch(self, batch: list[list[int]], limits: list[int], stop: Sequence[str]) -> list[Completion]:
        import torch

        token_stops, text_stops = self._stop_token_ids(stop)
        width = max(len(b) for b in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for r, row in enumerate(batch):
            if row:
                input_ids[r, width - len(row) :] = torch.tensor(row, dtype=torch.long)
                attention[r, width - len(row) :] = 1
        max_new = max(limits)
        if max_new <= 0:
            return [Completion(text="", finish_reason="length", num_tokens=0, token_ids=()) for _ in batch]
        with torch.inference_mode():
            gen = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                max_new_tokens=max_new,
                do_sample=False,
                eos_token_id=sorted(token_stops) or None,
                pad_token_id=self.pad_id,
                stop_strings=text_stops or None,
                tokenizer=self.tokenizer if text_stops else None,
            )
        return [self._cut(row, limit, token_stops, text_stops) for row, limit in zip(gen[:, width:].tolist(), limits)]

    def _cut(self, row: list[int], limit: int, token_stops: set[int], text_stops: list[str]) -> Completion:
        """Cut one generated row as SGLang finishes a request (``Req.check_finished``): after each token the limit is
        checked first, so a stop token generated as the ``limit``-th token ends the row with 'length'; then the stop
        tokens, then the stop strings (matched on the text with special tokens kept, trimmed from the reply)."""
        row = row[:limit]
        for n, tid in enumerate(row[: limit - 1]):
            if tid in token_stops:
                kept = row[:n]
                self.generated_tokens += n + 1
                return Completion(self.decode(kept), "stop", n + 1, tuple(kept), (int(tid),))
        if text_stops:
            before_limit = row[: limit - 1]
            raw = str(self.tokenizer.decode(before_limit, skip_special_tokens=False))
            if any(s in raw for s in text_stops):
                # the fewest tokens whose text holds a stop string
                n = next(
                    k
                    for k in range(1, len(before_limit) + 1)
                    if any(s in self.tokenizer.decode(row[:k], skip_special_tokens=False) for s in text_stops)
                )
                text = self.decode(row[:n])
                hits = [text.find(s) for s in text_stops if s in text]
                self.generated_tokens += n
                return Completion(text[: min(hits)] if hits else text, "stop", n, tuple(row[:n]))
        self.generated_tokens += len(row)
        return Completion(self.decode(row), "length", len(row), tuple(row))
