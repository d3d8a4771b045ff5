"""Budget control rules on a scripted engine: finish reasons, forcing, overshoot, the separator quirk, exactness."""

from __future__ import annotations

import itertools

import pytest
from conftest import ScriptedEngine

from m1repro import budget as bc
from m1repro.eval import EvalSettings, Variant, _think_naive, _think_shared

STOP = "<|im_end|>"


def thinker(answers: dict[str, list[str]]):
    """A model that writes, per prompt key, one segment per call; after "Wait" it writes the next segment."""

    def script(text: str) -> str:
        key = text.split("|", 1)[0]
        segs = answers[key]
        k = text.count("Wait")
        if "<|im_start|>answer" in text:
            return " \\boxed{B}" + STOP
        return segs[min(k, len(segs) - 1)]

    return script


def test_phase1_finish_reasons_and_answer_markers():
    eng = ScriptedEngine(thinker({"p1": ["short." + STOP], "p2": ["x" * 50]}))
    states = bc.faithful_phase1(eng, ["p1|", "p2|"], budget=20, batch_size=8)
    assert [s.finish_reason for s in states] == ["stop", "length"]
    assert states[0].thinking == "short." and states[1].thinking == "x" * 20
    ans = bc.answer_phase(eng, states, answer_max_tokens=30, batch_size=8)
    # the answer prompt: thinking + "\n" + marker chosen by the finish reason
    answer_prompts = eng.calls[-1][0]
    assert answer_prompts[0] == "p1|short.\n<|im_start|>answer"
    assert answer_prompts[1] == "p2|" + "x" * 20 + "\n<|im_start|>answer\nFinal Answer:"
    assert eng.calls[-1][1] == [30, 30]
    assert ans[0].response_text == "<|im_start|>answer \\boxed{B}"
    assert ans[1].response_text.startswith("<|im_start|>answer\nFinal Answer:")
    assert ans[0].num_thinking_tokens == 6 and ans[1].num_thinking_tokens == 20


def test_faithful_wait_round_separator_quirk_and_batch_max_tokens():
    segs = {
        "a": ["the answer is B." + STOP, "no, it is C." + STOP],  # ends without space: "B.Wait" (quirk)
        "b": ["hmm " + STOP, "ok" + STOP],  # ends with a space: " Wait" after it
        "c": ["y" * 40],  # at the budget: skipped
    }
    eng = ScriptedEngine(thinker(segs))
    states = bc.faithful_phase1(eng, ["a|", "b|", "c|"], budget=40, batch_size=8)
    after = bc.faithful_wait_round(eng, states, budget=40, batch_size=8)
    assert after[0].thinking == "the answer is B.Waitno, it is C."
    assert after[1].thinking == "hmm  Waitok"
    assert after[2].thinking == "y" * 40 and after[2].num_wait == 0
    prompts, limits = eng.calls[-1]
    assert prompts == ["a|the answer is B.Wait", "b|hmm  Wait"]
    # one call, batch-level max_tokens = budget - min(count) = 40 - len("hmm  Wait")
    assert limits == [40 - 9, 40 - 9]
    assert states[0].thinking == "the answer is B."  # inputs untouched


def test_faithful_overshoot_and_batch_dependence():
    # item a has 26 tokens (+4 for "Wait" = 30) when forced, item b 1 (+4 = 5): one call with max_tokens 40-5=35, so
    # a writes 35 more and overshoots its budget of 40 (quirk)
    segs = {"a": ["a" * 26 + STOP, "z" * 100], "b": ["b" + STOP, "w" * 100]}
    eng = ScriptedEngine(thinker(segs))
    st = bc.faithful_wait_round(eng, bc.faithful_phase1(eng, ["a|", "b|"], 40, 8), 40, 8)
    assert eng.calls[-1][1] == [35, 35]
    assert st[0].thinking == "a" * 26 + "Wait" + "z" * 35
    assert st[0].num_tokens == 26 + 35  # the running count leaves the "Wait" piece out (as the original)
    alone = ScriptedEngine(thinker(segs))
    st_alone = bc.faithful_wait_round(alone, bc.faithful_phase1(alone, ["a|"], 40, 8), 40, 8)
    assert alone.calls[-1][1] == [10] and st_alone[0].num_tokens == 36  # same item, other batch: another result
    # exact mode: per-item limits, no overshoot, same result alone or in a batch
    ex = bc.exact_think(ScriptedEngine(thinker(segs)), ["a|", "b|"], 40, 1, 8)[-1]
    ex_alone = bc.exact_think(ScriptedEngine(thinker(segs)), ["a|"], 40, 1, 8)[-1]
    assert ex[0].num_tokens == 40 and ex[1].num_tokens == 40
    assert ex[0].thinking == ex_alone[0].thinking


def test_faithful_counts_are_sums_of_separately_encoded_pieces():
    # a tokenizer that counts words: "aaaa bbbb" is 2, "Wait" 1, "cc" 1, although the joined text is 2 words
    eng = ScriptedEngine(thinker({"a": ["aaaa bbbb", "cc" + STOP, "dd" + STOP]}), count_fn=lambda t: len(t.split()))
    st = bc.faithful_phase1(eng, ["a|"], budget=9, batch_size=4)
    assert st[0].finish_reason == "length" and st[0].num_tokens == 2  # not 9: the text is encoded, not counted
    st = bc.faithful_wait_round(eng, st, budget=9, batch_size=4)
    assert st[0].thinking == "aaaa bbbbWaitcc" and st[0].num_wait == 1
    assert eng.calls[-1][1] == [9 - (2 + 1)]  # the round's count: running count + the encoded "Wait" piece
    assert st[0].num_tokens == 2 + 1  # phase 1 + continuation; a re-encoding would say 2
    st = bc.faithful_wait_round(eng, st, budget=9, batch_size=4)
    assert eng.calls[-1][1] == [9 - (3 + 1)] and st[0].num_tokens == 4 and st[0].num_wait == 2


def test_faithful_merged_wait_token_changes_the_round_limit():
    # ".Wait" as one token (the BPE merge the separator quirk invites): the piece "Wait" alone still counts 4 here,
    # so the round's max_tokens follows the pieces, not the merged text
    def count(t: str) -> int:
        return len(t.replace(".Wait", "W"))

    eng = ScriptedEngine(thinker({"a": ["is B." + STOP, "x" * 50]}), count_fn=count)
    st = bc.faithful_wait_round(eng, bc.faithful_phase1(eng, ["a|"], 20, 4), 20, 4)
    assert eng.calls[-1][1] == [20 - (5 + 4)]
    assert st[0].thinking == "is B.Wait" + "x" * 11 and st[0].num_tokens == 5 + 11


def test_faithful_wait_that_reaches_the_budget_skips_the_item_for_the_round():
    segs = {"a": ["a" * 37 + STOP, "never"], "b": ["b" * 5 + STOP, "c" + STOP]}
    eng = ScriptedEngine(thinker(segs))
    st = bc.faithful_wait_round(eng, bc.faithful_phase1(eng, ["a|", "b|"], 40, 8), 40, 8)
    # a: 37 + 4 >= 40, so no "Wait" in its text, no round counted, and it takes no part in the batch minimum
    assert st[0].thinking == "a" * 37 and st[0].num_wait == 0 and st[0].num_tokens == 37
    assert eng.calls[-1][0] == ["b|bbbbbWait"] and eng.calls[-1][1] == [40 - 9]
    assert st[1].num_wait == 1


def test_faithful_rounds_batch_consecutive_items():
    # batch_size 2: items (a, b) share one call and one max_tokens, items (c, d) another
    segs = {
        "a": ["a" + STOP, "x" + STOP],
        "b": ["b" * 20 + STOP, "y" + STOP],
        "c": ["c" * 10 + STOP, "z" + STOP],
        "d": ["d" * 12 + STOP, "w" + STOP],
    }
    eng = ScriptedEngine(thinker(segs))
    st = bc.faithful_phase1(eng, ["a|", "b|", "c|", "d|"], 40, 2)
    n_calls = len(eng.calls)
    bc.faithful_wait_round(eng, st, 40, 2)
    rounds = eng.calls[n_calls:]
    assert [r[0] for r in rounds] == [
        ["a|aWait", "b|" + "b" * 20 + "Wait"],
        ["c|" + "c" * 10 + "Wait", "d|" + "d" * 12 + "Wait"],
    ]
    assert [r[1] for r in rounds] == [[35, 35], [26, 26]]  # 40 - min(count + 4) within each batch


def test_faithful_answer_phase_counts_each_piece():
    eng = ScriptedEngine(thinker({"a": ["think" + STOP], "b": ["t" * 30]}), count_fn=lambda t: len(t.split()) or 1)
    states = bc.faithful_phase1(eng, ["a|", "b|"], 8, 4)
    ans = bc.answer_phase(eng, states, 30, 4, mode="faithful")
    # a: "think" (1) + "\n" (1) + "<|im_start|>answer" (1) + " \boxed{B}" (1)
    assert ans[0].num_gen_tokens == 4
    # b: "tttttttt" (1) + "\n" (1) + "<|im_start|>answer\nFinal Answer:" (3) + " \boxed{B}" (1)
    assert ans[1].num_gen_tokens == 6 and ans[1].num_thinking_tokens == 1


def test_exact_forces_only_stopped_items_within_budget():
    segs = {"a": ["ab" + STOP, "cd" + STOP, "ef" + STOP], "b": ["q" * 30]}
    eng = ScriptedEngine(thinker(segs))
    hist = bc.exact_think(eng, ["a|", "b|"], budget=30, rounds=2, batch_size=8, snapshots=True)
    assert [s.thinking for s in hist[-1]] == ["abWaitcdWaitef", "q" * 30]
    assert [s.num_wait for s in hist[-1]] == [2, 0]
    assert hist[1][0].thinking == "abWaitcd"
    # a Wait that would reach the budget is not inserted
    tight = bc.exact_think(ScriptedEngine(thinker(segs)), ["a|"], budget=6, rounds=2, batch_size=8)[-1]
    assert tight[0].thinking == "ab" and tight[0].finish_reason == "stop" and tight[0].num_wait == 0
    # one token of room after the Wait: cut there, finish 'length', exactly at the budget
    edge = bc.exact_think(ScriptedEngine(thinker(segs)), ["a|"], budget=7, rounds=2, batch_size=8)[-1]
    assert edge[0].thinking == "abWaitc" and edge[0].finish_reason == "length" and edge[0].num_tokens == 7


SEGS = {
    "a": ["first thought." + STOP, " second" + STOP, "third and longer thinking" + STOP],
    "b": ["b" * 70],
    "c": ["cc" + STOP, "d" * 60],
    "d": ["x " + STOP, "y " + STOP, "z " + STOP],
    "e": ["ab<|endoftext|>cd" + STOP, "e<|endoftext|>" + STOP],  # a special token that is no stop
}
# budgets at the corners of SEGS: "a" stops on its 15th token, "c" and "d" on their 3rd, "e" writes its special
# token as the 3rd; a budget equal to such a position is where SGLang reports 'length' / a cut lands on it
CORNER_BUDGETS = [3, 4, 14, 15, 16]


@pytest.mark.parametrize("mode", ["faithful", "exact"])
@pytest.mark.parametrize("sep", ["faithful", "space"])
def test_shared_sweep_equals_naive(mode, sep):
    prompts = [f"{k}|" for k in SEGS]
    variants = [Variant(b, r) for b, r in itertools.product([*CORNER_BUDGETS, 32, 64], [0])]
    variants += [Variant(32, r) for r in (1, 2, 3)] + [Variant(15, 1), Variant(18, 2)]
    settings = EvalSettings(budget_mode=mode, wait_separator=sep, batch_size=3)
    shared = _think_shared(ScriptedEngine(thinker(SEGS)), prompts, variants, settings)
    for v in variants:
        naive = _think_naive(ScriptedEngine(thinker(SEGS)), prompts, v, settings)
        got = [(s.thinking, s.finish_reason, s.num_tokens, s.num_wait) for s in shared[v]]
        want = [(s.thinking, s.finish_reason, s.num_tokens, s.num_wait) for s in naive]
        assert got == want, v


def test_exact_slice_matches_exact_think_for_every_pair():
    prompts = [f"{k}|" for k in SEGS]
    eng = ScriptedEngine(thinker(SEGS))
    traj = bc.exact_trajectories(eng, prompts, 64, 3, batch_size=8)
    for budget, rounds in itertools.product([1, 3, 4, 9, 14, 15, 16, 17, 18, 19, 30, 64], range(4)):
        want = bc.exact_think(ScriptedEngine(thinker(SEGS)), prompts, budget, rounds, 8)[-1]
        got = [bc.exact_slice(eng, p, t, budget, rounds) for p, t in zip(prompts, traj)]
        assert [(s.thinking, s.finish_reason, s.num_wait) for s in got] == [
            (s.thinking, s.finish_reason, s.num_wait) for s in want
        ], (budget, rounds)


def test_stop_token_at_the_budget_ends_with_length_as_in_sglang():
    # "first thought." is 14 tokens and the stop token the 15th: at budget 15 SGLang checks the limit first
    eng = ScriptedEngine(thinker(SEGS))
    at = bc.faithful_phase1(eng, ["a|"], budget=15, batch_size=8)[0]
    assert (at.thinking, at.finish_reason, at.num_tokens) == ("first thought.", "length", 14)
    above = bc.faithful_phase1(eng, ["a|"], budget=16, batch_size=8)[0]
    assert above.finish_reason == "stop"
    # so the original appends "Final Answer:" at 15, and the cut of the run at 64 must do the same
    cut = bc.truncate_phase1(eng, bc.faithful_phase1(eng, ["a|"], 64, 8)[0], 15)
    assert (cut.thinking, cut.finish_reason, cut.num_tokens) == (at.thinking, at.finish_reason, at.num_tokens)
    assert bc.answer_phase(eng, [cut], 30, 8)[0].response_text.startswith("<|im_start|>answer\nFinal Answer:")


def test_cut_on_a_special_token_skips_it_as_sglang_does():
    eng = ScriptedEngine(thinker(SEGS))
    at = bc.faithful_phase1(eng, ["e|"], budget=3, batch_size=8)[0]
    assert (at.thinking, at.finish_reason) == ("ab", "length")
    cut = bc.truncate_phase1(eng, bc.faithful_phase1(eng, ["e|"], 64, 8)[0], 3)
    assert (cut.thinking, cut.num_tokens) == ("ab", 2)


def test_shared_sweep_generates_fewer_thinking_tokens():
    prompts = [f"{k}|" for k in SEGS]
    variants = [Variant(b, 0) for b in (4, 8, 16, 32, 64)]
    settings = EvalSettings(budget_mode="exact", batch_size=8)
    eng = ScriptedEngine(thinker(SEGS))
    _think_shared(eng, prompts, variants, settings)
    shared_limit_sum = sum(sum(lim) for _, lim in eng.calls)
    naive_limit_sum = 0
    for v in variants:
        e = ScriptedEngine(thinker(SEGS))
        _think_naive(e, prompts, v, settings)
        naive_limit_sum += sum(sum(lim) for _, lim in e.calls)
    n = len(prompts)
    assert shared_limit_sum == 64 * n and naive_limit_sum == (4 + 8 + 16 + 32 + 64) * n


def test_baseline_answers_one_call_without_stop_strings():
    eng = ScriptedEngine(lambda t: "The answer is \\boxed{A}" + STOP + "<|im_start|>user more")
    out = bc.baseline_answers(eng, ["q1", "q2"], max_tokens=2048, batch_size=1024)
    assert len(eng.calls) == 1 and eng.calls[0][1] == [2048, 2048]
    assert eng.stops == [()]  # stop=None in the original: only the end-of-sequence token ends the reply
    assert out[0].response_text == "The answer is \\boxed{A}" and out[0].thinking_finish_reason is None
    assert out[0].num_gen_tokens == len("The answer is \\boxed{A}")


def test_thinking_calls_send_the_stop_strings():
    eng = ScriptedEngine(thinker({"a": ["x" + STOP, "y" + STOP]}))
    st = bc.faithful_wait_round(eng, bc.faithful_phase1(eng, ["a|"], 20, 4), 20, 4)
    bc.answer_phase(eng, st, 10, 4, mode="faithful")
    assert eng.stops == [("<|im_end|>", "<|im_start|>")] * 3
