"""Exact prompt strings, rendered with the real Qwen2.5 tokenizer and chat template."""

import pytest

from m1repro import prompts as P

OPTIONS = {"A": "Aspirin", "B": "Heparin", "C": "Warfarin", "D": "Alteplase"}
QUESTION = "A 64-year-old man has an acute ischemic stroke 2 hours after onset. Which treatment is indicated?"
SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
USER = (
    "<|im_start|>user\nA 64-year-old man has an acute ischemic stroke 2 hours after onset. Which treatment is "
    "indicated?\nA. Aspirin\nB. Heparin\nC. Warfarin\nD. Alteplase\n"
)


def test_thinking_prompt_exact(qwen_tokenizer):
    got = P.render_prompt(qwen_tokenizer, QUESTION, OPTIONS, "thinking")
    assert got == (
        SYSTEM + USER + "Return your final response within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"
        "<|im_start|>think\n"
    )


def test_baseline_prompt_exact(qwen_tokenizer):
    got = P.render_prompt(qwen_tokenizer, QUESTION, OPTIONS, "baseline")
    assert got == SYSTEM + USER + "Return your final response within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n"


def test_cot_prompt_exact(qwen_tokenizer):
    got = P.render_prompt(qwen_tokenizer, QUESTION, OPTIONS, "cot")
    assert got == (
        SYSTEM + USER + "Let's think step by step. Return your final response within \\boxed{}.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_markers_are_single_special_tokens(qwen_tokenizer):
    # stop handling relies on <|im_start|> and <|im_end|> being one token each (an s1 user report)
    assert qwen_tokenizer.encode("<|im_start|>", add_special_tokens=False) == [151644]
    assert qwen_tokenizer.encode("<|im_end|>", add_special_tokens=False) == [151645]
    assert qwen_tokenizer.encode("Hello world", add_special_tokens=False) == [9707, 1879]


def test_model_without_template_uses_llama3(qwen_tokenizer):
    import copy

    tok = copy.deepcopy(qwen_tokenizer)
    tok.chat_template = None
    got = P.render_prompt(tok, "Q?", {"A": "x", "B": "y"}, "baseline")
    assert got.startswith("<|start_header_id|>user<|end_header_id|>\n\nQ?\nA. x\nB. y\n")
    assert got.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")


def test_answer_prefix_and_close():
    assert P.answer_prefix("stop") == "<|im_start|>answer"
    assert P.answer_prefix("length") == "<|im_start|>answer\nFinal Answer:"
    assert P.close_thinking("abc") == "abc\n"
    assert P.close_thinking("abc\n") == "abc\n"
    import pytest

    with pytest.raises(ValueError, match="abort"):
        P.answer_prefix("abort")


def test_wait_separator_rules():
    assert P.wait_separator("is B.", "faithful") == ""  # quirk: "is B.Wait"
    assert P.wait_separator("is B. ", "faithful") == " "  # quirk: two spaces
    assert P.wait_separator("is B.\n", "faithful") == ""
    assert P.wait_separator("is B.", "space") == " "
    assert P.wait_separator("is B.\n", "space") == ""


# A template written with line breaks between its tags: jinja2's defaults (the original's renderer) keep the
# newline after each block tag and drop the template's last newline; transformers trims blocks.
MULTILINE_TEMPLATE = """{% for message in messages %}
<|im_start|>{{ message['role'] }}
{{ message['content'] }}<|im_end|>
{% endfor %}
{% if add_generation_prompt %}
<|im_start|>assistant
{% endif %}
"""
DATED_TEMPLATE = (
    "{% if strftime_now is defined %}Today: {{ strftime_now('%Y') }}{% else %}No date{% endif %}\n"
    "{% for message in messages %}{{ message['content'] }}{% endfor %}"
)
CALLS_DATE_TEMPLATE = (
    "Date: {{ strftime_now('%Y') }}\n{% for message in messages %}{{ message['content'] }}{% endfor %}"
)


def _with_template(tok, template):
    import copy

    tok = copy.deepcopy(tok)
    tok.chat_template = template
    return tok


def test_faithful_render_keeps_line_breaks_between_tags(qwen_tokenizer):
    tok = _with_template(qwen_tokenizer, MULTILINE_TEMPLATE)
    msgs = [{"role": "user", "content": "Q?"}]
    assert P.render_chat(tok, msgs) == "\n<|im_start|>user\nQ?<|im_end|>\n\n\n<|im_start|>assistant\n"
    assert P.render_chat(tok, msgs, "transformers") == "<|im_start|>user\nQ?<|im_end|>\n<|im_start|>assistant\n"


def test_faithful_render_has_no_date_helper(qwen_tokenizer):
    import datetime

    msgs = [{"role": "user", "content": "Q?"}]
    tok = _with_template(qwen_tokenizer, DATED_TEMPLATE)
    assert P.render_chat(tok, msgs) == "No date\nQ?"
    assert P.render_chat(tok, msgs, "transformers") == f"Today: {datetime.date.today():%Y}Q?"  # trim_blocks
    # a template that calls the helper unguarded cannot be rendered by the original: a clear error, not a guess
    with pytest.raises(ValueError, match="strftime_now.*eval.chat_template: transformers"):
        P.render_chat(_with_template(qwen_tokenizer, CALLS_DATE_TEMPLATE), msgs)


def test_qwen_template_renders_the_same_either_way(qwen_tokenizer):
    for mode in ("thinking", "baseline", "cot"):
        faithful = P.render_prompt(qwen_tokenizer, QUESTION, OPTIONS, mode)
        assert faithful == P.render_prompt(qwen_tokenizer, QUESTION, OPTIONS, mode, "transformers")
