"""The SGLang engine around a stand-in server (no GPU here): launch flags, health wait, wire formats, shutdown."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from m1repro.engines import sglang as sg
from m1repro.engines.hf import HFEngine

STANDIN = str(Path(__file__).with_name("sglang_standin.py"))
STOP = ["<|im_end|>", "<|im_start|>"]


def test_launch_command_matches_the_original():
    cmd = sg.launch_command("UCSC-VLAA/m1-32B-1K", tp=2, dp=4, seed=42, port=31000, python="python")
    assert cmd[:3] == ["python", "-m", "sglang.launch_server"]
    flags = dict(zip(cmd[3::2], cmd[4::2]))
    assert flags == {
        "--model-path": "UCSC-VLAA/m1-32B-1K",
        "--mem-fraction-static": "0.8",
        "--dp": "4",
        "--tp": "2",
        "--random-seed": "42",
        "--host": "127.0.0.1",
        "--port": "31000",
    }


def test_request_builders_and_parsers():
    req = sg.build_native_request([[1, 2], [3]], [5, 7], STOP)
    assert req["input_ids"] == [[1, 2], [3]] and [p["max_new_tokens"] for p in req["sampling_params"]] == [5, 7]
    assert all(p["temperature"] == 0.0 and p["stop"] == STOP for p in req["sampling_params"])
    with pytest.raises(TypeError):
        sg.build_native_request(["a", [1]], [1, 1], STOP)
    got = sg.parse_native_response(
        [{"text": "x", "output_ids": [9], "meta_info": {"finish_reason": {"type": "length"}, "completion_tokens": 1}}],
        1,
    )
    assert got[0].finish_reason == "length" and got[0].token_ids == (9,)
    with pytest.raises(ValueError, match="abort"):
        sg.parse_native_response([{"text": "", "meta_info": {"finish_reason": {"type": "abort"}}}], 1)
    with pytest.raises(ValueError, match="expected 2"):
        sg.parse_native_response([], 2)
    oa = sg.build_openai_request("m", ["p"], 2048, STOP)
    assert oa == {
        "model": "m",
        "prompt": ["p"],
        "max_tokens": 2048,
        "temperature": 0.0,
        "frequency_penalty": 0.0,
        "stop": STOP,
    }
    body = {
        "choices": [
            {"index": 1, "text": "b", "finish_reason": "stop"},
            {"index": 0, "text": "aa", "finish_reason": "length"},
        ]
    }
    parsed = sg.parse_openai_response(body, 2, len)
    assert [c.text for c in parsed] == ["aa", "b"] and parsed[0].num_tokens == 2


def _engine(model_dir, tmp_path, *extra, api="native", timeout=60.0):
    cmd = [sys.executable, STANDIN, "--model-path", str(model_dir), "--tp", "1", "--dp", "1", *extra]
    return sg.SGLangEngine(
        str(model_dir), server_command=cmd, api=api, server_timeout_s=timeout, log_path=str(tmp_path / "server.log")
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_generate_matches_transformers_and_server_stops(tiny_model_dir, tmp_path):
    hf = HFEngine(str(tiny_model_dir), batch_size=16, num_threads=1)
    prompts = [
        "<|im_start|>user\nWhich vitamin deficiency causes scurvy?<|im_end|>\n<|im_start|>assistant\n",
        "Hello there",
    ]
    want = hf.generate(prompts, [12, 5], STOP)
    eng = _engine(tiny_model_dir, tmp_path, "--args-out", str(tmp_path / "args.json"))
    pid = eng._proc.pid
    try:
        got = eng.generate(prompts, [12, 5], STOP)
        ids = eng.generate([hf.encode(p) for p in prompts], [12, 5], STOP)
    finally:
        eng.close()
    assert [(c.text, c.finish_reason, c.token_ids) for c in got] == [
        (c.text, c.finish_reason, c.token_ids) for c in want
    ]
    assert [c.token_ids for c in ids] == [c.token_ids for c in want]
    assert json.loads((tmp_path / "args.json").read_text())["tp"] == 1
    assert not _alive(pid)
    eng.close()  # idempotent


def test_openai_api_path(tiny_model_dir, tmp_path):
    with _engine(tiny_model_dir, tmp_path, api="openai") as eng:
        got = eng.generate(["Hello there"], 6, STOP)
        assert got[0].finish_reason in ("stop", "length") and got[0].token_ids is None
        assert not eng.returns_token_ids
        with pytest.raises(ValueError, match="native"):
            eng.generate(["a", "b"], [1, 2], STOP)


def test_server_crash_at_start_is_reported(tiny_model_dir, tmp_path):
    with pytest.raises(RuntimeError, match="(?s)exited with code 3.*out of memory"):
        _engine(tiny_model_dir, tmp_path, "--fail-at-start")


def test_health_timeout_stops_the_server(tiny_model_dir, tmp_path):
    with pytest.raises(TimeoutError, match="not healthy"):
        _engine(tiny_model_dir, tmp_path, "--never-healthy", timeout=12.0)
    # the stand-in wrote its pid nowhere; check no stand-in with this log is left running
    out = os.popen("ps -eo pid,args").read()
    assert not any("--never-healthy" in line and str(tmp_path) in line for line in out.splitlines())


def _cutter(tokenizer) -> HFEngine:
    eng = HFEngine.__new__(HFEngine)  # only the cutting logic: no model
    eng.tokenizer, eng.generated_tokens = tokenizer, 0
    return eng


def test_transformers_engine_finishes_as_sglang(qwen_tokenizer):
    eng = _cutter(qwen_tokenizer)
    hello, im_end, box = qwen_tokenizer.encode("Hello world", add_special_tokens=False), 151645, 151648
    row = [*hello, box, im_end, 9707]
    # the stop token as the limit-th token: 'length' (SGLang checks the limit first), the text without specials
    at = eng._cut(row, 4, {im_end}, [])
    assert (at.text, at.finish_reason, at.token_ids, at.stop_ids) == (
        "Hello world",
        "length",
        (*hello, box, im_end),
        (),
    )
    above = eng._cut(row, 5, {im_end}, [])
    assert (above.text, above.finish_reason, above.token_ids, above.stop_ids) == (
        "Hello world",
        "stop",
        (*hello, box),
        (im_end,),
    )
    # a stop string made of ordinary tokens, completed by the row's last token (a batch that ended early)
    text_row = qwen_tokenizer.encode("Hello END", add_special_tokens=False)
    cut = eng._cut(text_row, 10, set(), ["END"])
    assert (cut.text, cut.finish_reason, cut.num_tokens) == ("Hello ", "stop", len(text_row))
    assert eng._cut(text_row, len(text_row), set(), ["END"]).finish_reason == "length"
