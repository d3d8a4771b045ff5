"""Every string the original m1 evaluation sends, in one place (docs/fidelity.md, Evaluation).

The chat template itself comes from the model's tokenizer, as in the original, so a released checkpoint and a tiny
test model render through the same code. The faithful renderer is the original's (``call_model``: 278-285):
``jinja2.Template(template).render(messages=..., bos_token=..., add_generation_prompt=True)``, jinja2's defaults (no
``trim_blocks``/``lstrip_blocks``, one trailing newline dropped) and no helper functions such as ``strftime_now``;
``transformers`` renders with ``tokenizer.apply_chat_template`` (trimmed blocks, the helpers defined).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

Mode = Literal["thinking", "baseline", "cot"]
ChatRenderer = Literal["faithful", "transformers"]

BOXED_SUFFIX = "Return your final response within \\boxed{}."
COT_SUFFIX = "Let's think step by step. Return your final response within \\boxed{}."
THINK_START = "<|im_start|>think\n"
ANSWER_AFTER_STOP = "<|im_start|>answer"
ANSWER_AFTER_LENGTH = "<|im_start|>answer\nFinal Answer:"
STOP_STRINGS: tuple[str, ...] = ("<|im_end|>", "<|im_start|>")
WAIT = "Wait"

# The original falls back to the Llama-3-8B-Instruct template for models that ship none.
LLAMA3_CHAT_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def option_str(options: Mapping[str, str]) -> str:
    """Options as the original lists them: one ``"A. text"`` line each, in the file's order."""
    return "\n".join(f"{letter}. {text}" for letter, text in options.items())


def user_message(question: str, options: Mapping[str, str], mode: Mode = "thinking") -> str:
    """The user turn: question, options, then the boxed instruction (or the CoT instruction for +CoT baselines)."""
    suffix = COT_SUFFIX if mode == "cot" else BOXED_SUFFIX
    return f"{question}\n{option_str(options)}\n{suffix}"


def render_chat(tokenizer: Any, messages: list[dict[str, str]], renderer: ChatRenderer = "faithful") -> str:
    """The chat template applied to ``messages`` with the generation prompt (the model's template, else Llama-3's)."""
    own = getattr(tokenizer, "chat_template", None)
    if renderer == "faithful":
        import jinja2

        # the Llama-3 fallback stands for the Llama-3 tokenizer the original names (tokenizer_path), whose bos it uses
        bos = tokenizer.bos_token if own else (tokenizer.bos_token or "")
        try:
            return jinja2.Template(own or LLAMA3_CHAT_TEMPLATE).render(
                messages=messages, bos_token=bos, add_generation_prompt=True
            )
        except jinja2.exceptions.UndefinedError as exc:
            raise ValueError(
                f"the chat template of {getattr(tokenizer, 'name_or_path', '?')!r} uses {exc.message}: the original "
                "renders with plain jinja2.Template, which defines only messages, bos_token and "
                "add_generation_prompt, so it cannot render this template; set eval.chat_template: transformers"
            ) from exc
    if renderer != "transformers":
        raise ValueError(f"unknown chat renderer {renderer!r}; expected 'faithful' or 'transformers'")
    fallback = {} if own else {"chat_template": LLAMA3_CHAT_TEMPLATE, "bos_token": tokenizer.bos_token or ""}
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **fallback))


def render_prompt(
    tokenizer: Any, question: str, options: Mapping[str, str], mode: Mode, renderer: ChatRenderer = "faithful"
) -> str:
    """The full string sent to the engine: chat template with the generation prompt, plus the think marker for
    thinking models. The Qwen2.5 template inserts its default system prompt, as in the original."""
    text = render_chat(tokenizer, [{"role": "user", "content": user_message(question, options, mode)}], renderer)
    return text + THINK_START if mode == "thinking" else text


def answer_prefix(finish_reason: str) -> str:
    """What the original appends after the thinking, chosen by the last thinking call's finish reason."""
    if finish_reason == "length":
        return ANSWER_AFTER_LENGTH
    if finish_reason == "stop":
        return ANSWER_AFTER_STOP
    raise ValueError(f"unexpected finish_reason {finish_reason!r} at the end of thinking (expected 'stop' or 'length')")


def close_thinking(thinking: str) -> str:
    """The thinking as it enters the answer phase: a newline is added unless it already ends with one."""
    return thinking if thinking.endswith("\n") else thinking + "\n"


def wait_separator(thinking: str, rule: Literal["faithful", "space"] = "faithful") -> str:
    """The text put between the thinking and "Wait".

    faithful: the original adds a space only when the text already ends with a space (and not a newline), and nothing
    otherwise, so "...the answer is B.Wait" is what the model sees (quirk). space: one space unless the text already
    ends in whitespace.
    """
    if rule == "faithful":
        return " " if thinking.endswith(" ") and not thinking.endswith("\n") else ""
    if rule == "space":
        return "" if (not thinking or thinking[-1].isspace()) else " "
    raise ValueError(f"unknown wait_separator rule {rule!r}")
