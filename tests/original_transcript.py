"""A transcription, for differential tests, of what the original evaluation does with a server
(UCSC-VLAA/m1 at c65dfc6, ``src/eval/inference_keep_think.py``: ``main``'s batch loop 162-180, ``call_model``
267-339, ``keep_think`` 342-411, ``end_thinking`` 414-468), written step by step from that code so that the
project's own controller (``m1repro/budget.py``) can be checked against it on the same server.

It speaks the OpenAI text-completion protocol (``/v1/completions``) as the original's ``openai.Client`` does, one
request per call, with the original's settings (``src/eval/configs/base.yaml``): greedy, ``frequency_penalty`` 0,
stops ``<|im_end|>``, ``<|im_start|>``, answer budget ``max_new_answer_tokens``. Counts are the replies encoded with
the tokenizer (``add_special_tokens=False``), piece by piece, as the original counts.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

THINK_STR = "<|im_start|>think\n"
START_ANSWER = "<|im_start|>answer"
START_OVERTHINK_ANSWER = "<|im_start|>answer\nFinal Answer:"
STOPS = ["<|im_end|>", "<|im_start|>"]
WAIT = "Wait"


@dataclass(frozen=True)
class Settings:
    """The keys of ``base.yaml`` the thinking path reads."""

    max_new_tokens: int  # the thinking budget
    keep_think_below_budget_times: int = 0  # "Wait" rounds
    max_new_answer_tokens: int = 1024
    batch_size: int = 1024


class CompletionsClient:
    """``client.completions.create(model="default", prompt=[...], max_tokens=..., stop=...)``, greedy."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def create(self, prompts: Sequence[str], max_tokens: int, stop: list[str] | None) -> list[tuple[str, str]]:
        body = {
            "model": "default",
            "prompt": list(prompts),
            "temperature": 0.0,
            "max_tokens": max_tokens,
            "stop": stop,
            "frequency_penalty": 0.0,
        }
        req = urllib.request.Request(
            self.base_url + "/v1/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=600) as resp:
            choices = json.loads(resp.read())["choices"]
        return [(c["text"], c["finish_reason"]) for c in choices]


def _encoded_len(tokenizer: Any, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def call_model(
    chat_prompts: list[str], client: CompletionsClient, cfg: Settings, tokenizer: Any
) -> list[dict[str, Any]]:
    """One batch with ``force_think: True`` (the thinking models' setting)."""
    prompts = [p + THINK_STR for p in chat_prompts]
    stop = list(STOPS)
    results = []
    for text, finish in client.create(prompts, cfg.max_new_tokens, stop):
        results.append(
            {
                "response_text": text,
                "finish_reason": finish,
                "num_gen_tokens": _encoded_len(tokenizer, text),
                "thinking_text": None,
                "thinking_finish_reason": None,
                "num_keep_think_below_budget": 0,
            }
        )
    results = keep_think(prompts, client, cfg, tokenizer, stop, results)
    return end_thinking(prompts, client, cfg, tokenizer, stop, results)


def keep_think(
    prompts: list[str],
    client: CompletionsClient,
    cfg: Settings,
    tokenizer: Any,
    stop: list[str],
    results: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    for _ in range(cfg.keep_think_below_budget_times):
        chosen: list[int] = []
        continued: list[str] = []
        counts: list[int] = []
        for idx, (prompt, result) in enumerate(zip(prompts, results)):
            count = result["num_gen_tokens"]
            text = result["response_text"]
            if count >= cfg.max_new_tokens:
                continue
            piece = WAIT
            if not text.endswith("\n") and text.endswith(" "):
                piece = " " + piece
            text += piece
            count += _encoded_len(tokenizer, piece)
            if count >= cfg.max_new_tokens:  # the edited text is dropped: the result keeps no "Wait"
                continue
            result["response_text"] = text
            chosen.append(idx)
            continued.append(prompt + text)
            counts.append(count)
        if not continued:
            break
        replies = client.create(continued, cfg.max_new_tokens - min(counts), stop)
        for idx, (text, finish) in zip(chosen, replies):
            results[idx]["response_text"] += text
            results[idx]["finish_reason"] = finish
            results[idx]["num_gen_tokens"] += _encoded_len(tokenizer, text)
            results[idx]["num_keep_think_below_budget"] += 1
    return results


def end_thinking(
    prompts: list[str],
    client: CompletionsClient,
    cfg: Settings,
    tokenizer: Any,
    stop: list[str],
    results: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    answer_prompts = []
    for prompt, result in zip(prompts, results):
        thinking = result["response_text"]
        finish = result["finish_reason"]
        count = result["num_gen_tokens"]
        result["num_thinking_tokens"] = count  # not a field of the original: its count before end_thinking
        if not thinking.endswith("\n"):
            thinking += "\n"
            count += _encoded_len(tokenizer, "\n")
        if finish == "length":
            prefix = START_OVERTHINK_ANSWER
        elif finish == "stop":
            prefix = START_ANSWER
        else:
            raise ValueError(f"Invalid finish_reason: {finish}")
        count += _encoded_len(tokenizer, prefix)
        result.update(
            response_text=None,
            finish_reason=None,
            thinking_text=thinking,
            thinking_finish_reason=finish,
            num_gen_tokens=count,
            answer_prefix=prefix,
        )
        answer_prompts.append(prompt + thinking + prefix)
    replies = client.create(answer_prompts, cfg.max_new_answer_tokens, stop)
    for result, (text, finish) in zip(results, replies):
        result["response_text"] = result["answer_prefix"] + text
        result["finish_reason"] = finish
        result["num_gen_tokens"] += _encoded_len(tokenizer, text)
    return results


def run(chat_prompts: list[str], client: CompletionsClient, cfg: Settings, tokenizer: Any) -> list[dict[str, Any]]:
    """``main``'s loop: batches of ``batch_size`` consecutive items, one ``call_model`` each."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(chat_prompts), cfg.batch_size):
        out.extend(call_model(chat_prompts[start : start + cfg.batch_size], client, cfg, tokenizer))
    return out


def original_verdict(extracted: str, answer_letter: str, answer_string: str, options: dict[str, str]) -> bool:
    """``score.py``'s ``_map_correct`` (82-107): the extracted answer against the item's own ``answer`` string,
    then ``"X. answer"``, then the letter, then the option matcher (our port, checked against the original's in
    tests/test_scoring.py, which takes the options the original joins into ``option_str``)."""
    from m1repro.scoring import huatuo_match_choice

    if extracted.lower() == answer_string.lower():
        return True
    if extracted.lower() == f"{answer_letter}. {answer_string}".lower():
        return True
    if len(extracted) == 1 and extracted.lower() == answer_letter.lower():
        return True
    return bool(huatuo_match_choice(extracted, options).lower() == answer_letter.lower())
