"""The thinking-budget controller around an engine: thinking cap, "Wait" forcing, end of thinking, answer phase;
faithful and exact semantics; and shared sweeps in which one generation serves several budgets and forcing counts.
``docs/fidelity.md`` lists each rule next to the original's lines.

faithful: the original's semantics (``inference_keep_think.py``: ``call_model``, ``keep_think``, ``end_thinking``).
  Phase 1 is one call with ``max_tokens = budget``. Token counts are running sums of separately encoded pieces
  (the phase-1 text, then each continuation), never a re-encoding of the whole thinking. Items are processed in
  batches of ``batch_size`` consecutive items; in each "Wait" round, every item of the batch whose count is below the
  budget is offered the separator and "Wait": the round's count is the item's count plus the encoded length of that
  piece, and an item that would reach the budget just by it is skipped (its text keeps no "Wait", its round count does
  not grow; the piece is not added to its running count either way). The remaining items of the batch go out in one
  call with ``max_tokens = budget - min(round counts)``, so items can overshoot and results depend on the batch.
exact: token-exact. Prompts and thinking are kept as token ids, each item has its own remaining budget, only items
  that stopped on their own are forced, and no item exceeds its budget; results do not depend on the batch.

Sharing (what a job can compute once):
- both modes, no forcing: the thinking at budget B is the first B tokens of the thinking at the largest budget
  (greedy decoding; per-row limits do not change a row), so one phase-1 generation serves every budget. The cut is
  what SGLang returns at B: the stop token counts as a generated token (an item whose stop token is its B-th ends
  with 'length' at B) and the text skips special tokens (:func:`truncate_phase1`);
- both modes, forcing: k rounds are a prefix of k+1 rounds at the same budget, so snapshots after each round serve
  every forcing count;
- exact mode only: the forcing trajectory at the largest budget also serves smaller budgets. In the faithful mode a
  round's ``max_tokens`` depends on the budget and on the whole batch, so each forcing budget runs on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from m1repro.engines.base import Completion, Engine
from m1repro.prompts import STOP_STRINGS, WAIT, answer_prefix, close_thinking, wait_separator

log = logging.getLogger(__name__)

BudgetMode = Literal["faithful", "exact"]
SeparatorRule = Literal["faithful", "space"]


@dataclass
class ThinkState:
    """The thinking of one item so far."""

    prompt: str
    thinking: str = ""
    finish_reason: str = "length"
    num_tokens: int = 0  # faithful: the re-encoded count; exact: len(ids)
    num_wait: int = 0
    ids: list[int] = field(default_factory=list)  # exact mode (and shared sweeps): thinking token ids
    stop_ids: list[int] = field(default_factory=list)  # after a 'stop': the matched stop token the server generated


@dataclass(frozen=True)
class Answer:
    thinking_text: str
    thinking_finish_reason: str | None
    response_text: str
    finish_reason: str
    num_thinking_tokens: int
    num_gen_tokens: int
    num_wait: int


def _chunks(n: int, size: int) -> list[range]:
    return [range(s, min(s + size, n)) for s in range(0, n, size)]


def generate_batched(
    engine: Engine,
    prompts: Sequence[str | Sequence[int]],
    max_tokens: int | Sequence[int],
    batch_size: int,
    stop: Sequence[str] = STOP_STRINGS,
) -> list[Completion]:
    """Send prompts in batches of ``batch_size`` (the original's 1024)."""
    out: list[Completion] = []
    for r in _chunks(len(prompts), batch_size):
        mt = max_tokens if isinstance(max_tokens, int) else [max_tokens[i] for i in r]
        out.extend(engine.generate([prompts[i] for i in r], mt, stop))
    return out


# ---------------------------------------------------------------------------------------------------------------
# faithful mode
# ---------------------------------------------------------------------------------------------------------------
def faithful_phase1(engine: Engine, prompts: Sequence[str], budget: int, batch_size: int) -> list[ThinkState]:
    comps = generate_batched(engine, prompts, budget, batch_size)
    return [
        ThinkState(
            p,
            c.text,
            c.finish_reason,
            engine.count_tokens(c.text),
            ids=list(c.token_ids or ()),
            stop_ids=list(c.stop_ids),
        )
        for p, c in zip(prompts, comps)
    ]


def faithful_wait_round(
    engine: Engine, states: list[ThinkState], budget: int, batch_size: int, sep_rule: SeparatorRule = "faithful"
) -> list[ThinkState]:
    """One "Wait" round with the original's semantics; returns new states (inputs are not modified).

    ``states`` must be in the original's item order (the evaluation file's), because each batch of ``batch_size``
    consecutive items shares one call and one ``max_tokens``.
    """
    states = [replace(s, ids=list(s.ids)) for s in states]
    for chunk in _chunks(len(states), batch_size):
        active: list[int] = []
        round_counts: list[int] = []
        for i in chunk:
            s = states[i]
            if s.num_tokens >= budget:
                continue
            piece = wait_separator(s.thinking, sep_rule) + WAIT
            count = s.num_tokens + engine.count_tokens(piece)
            if count >= budget:  # "Wait" alone would reach the budget: the item sits this round out, unchanged
                continue
            s.thinking += piece
            s.num_wait += 1
            s.ids = []  # text was edited: ids no longer describe it
            active.append(i)
            round_counts.append(count)
        if not active:
            continue
        max_tokens = budget - min(round_counts)
        comps = engine.generate([states[i].prompt + states[i].thinking for i in active], max_tokens, STOP_STRINGS)
        for i, c in zip(active, comps, strict=True):
            s = states[i]
            s.thinking += c.text
            s.finish_reason = c.finish_reason
            s.num_tokens += engine.count_tokens(c.text)  # the piece's tokens are not added (as the original)
    return states


def truncate_phase1(engine: Engine, state: ThinkState, budget: int) -> ThinkState:
    """The phase-1 state at a smaller budget, from a phase-1 state generated with a larger one (needs token ids).

    Reproduces a run at ``budget`` as SGLang finishes it (``Req.check_finished``): the reply ended on its own only if
    every generated token, the stop token included, came before the limit; otherwise it ends with 'length' after
    ``budget`` generated tokens, the stop token among them when it was the ``budget``-th, and its text is decoded with
    special tokens skipped, as the server's text is.
    """
    generated = state.ids + state.stop_ids
    if state.finish_reason == "stop" and len(generated) < budget:
        return replace(state, ids=list(state.ids), stop_ids=list(state.stop_ids))
    ids = generated[:budget]
    text = engine.decode(ids)
    return ThinkState(state.prompt, text, "length", engine.count_tokens(text), ids=ids)


# ---------------------------------------------------------------------------------------------------------------
# exact mode
# ---------------------------------------------------------------------------------------------------------------
def exact_think(
    engine: Engine,
    prompts: Sequence[str],
    budget: int,
    rounds: int,
    batch_size: int,
    sep_rule: SeparatorRule = "faithful",
    snapshots: bool = False,
    initial: Sequence[ThinkState] | None = None,
) -> list[list[ThinkState]]:
    """Token-exact thinking with ``rounds`` "Wait" rounds.

    Returns the states after phase 1 and after each round (``rounds + 1`` lists) when ``snapshots``, else only the
    final states (one list). ``initial`` gives phase-1 states already cut at this budget (shared sweeps).
    """
    prompt_ids = [engine.encode(p) for p in prompts]
    if initial is not None:
        states = [replace(s, ids=list(s.ids), stop_ids=list(s.stop_ids)) for s in initial]
    else:
        comps = generate_batched(engine, prompt_ids, budget, batch_size)
        states = [
            ThinkState(
                p,
                engine.decode(c.token_ids or ()),
                c.finish_reason,
                len(c.token_ids or ()),
                ids=list(c.token_ids or ()),
                stop_ids=list(c.stop_ids),
            )
            for p, c in zip(prompts, comps)
        ]
    history = [[replace(s, ids=list(s.ids), stop_ids=list(s.stop_ids)) for s in states]]
    for _ in range(rounds):
        active: list[int] = []
        for i, s in enumerate(states):
            if s.finish_reason != "stop":
                continue
            wait_ids = engine.encode(wait_separator(s.thinking, sep_rule) + WAIT)
            if len(s.ids) + len(wait_ids) >= budget:
                continue
            s.ids = s.ids + wait_ids
            s.num_wait += 1
            active.append(i)
        if active:
            limits = [budget - len(states[i].ids) for i in active]
            comps = generate_batched(engine, [prompt_ids[i] + states[i].ids for i in active], limits, batch_size)
            for i, c in zip(active, comps):
                s = states[i]
                s.ids = s.ids + list(c.token_ids or ())
                s.stop_ids = list(c.stop_ids)
                s.finish_reason = c.finish_reason
        for i in active:
            s = states[i]
            s.thinking = engine.decode(s.ids)
            s.num_tokens = len(s.ids)
        history.append([replace(s, ids=list(s.ids), stop_ids=list(s.stop_ids)) for s in states])
    return history if snapshots else [history[-1]]


@dataclass
class Segment:
    """One generation (or one inserted "Wait") of a trajectory: its kept ids, how it ended, and after a 'stop' the
    stop token the server generated (it counts against the limit of the call: see :func:`exact_slice`)."""

    ids: list[int]
    finish_reason: str
    stop_ids: list[int] = field(default_factory=list)


def exact_trajectories(
    engine: Engine,
    prompts: Sequence[str],
    max_budget: int,
    max_rounds: int,
    batch_size: int,
    sep_rule: SeparatorRule = "faithful",
    initial: Sequence[ThinkState] | None = None,
) -> list[list[Segment]]:
    """Exact thinking at the largest budget and round count, kept as segments [phase 1, wait, gen, wait, gen, ...]
    so that every smaller (budget, rounds) pair can be cut from it (see :func:`exact_slice`)."""
    history = exact_think(
        engine, prompts, max_budget, max_rounds, batch_size, sep_rule, snapshots=True, initial=initial
    )
    trajectories: list[list[Segment]] = []
    for i in range(len(prompts)):
        first = history[0][i]
        segs = [Segment(list(first.ids), first.finish_reason, list(first.stop_ids))]
        for r in range(1, len(history)):
            prev, cur = history[r - 1][i], history[r][i]
            if cur.num_wait == prev.num_wait:
                break
            grown = cur.ids[len(prev.ids) :]
            wait_ids = engine.encode(wait_separator(prev.thinking, sep_rule) + WAIT)
            segs.append(Segment(grown[: len(wait_ids)], "wait"))
            segs.append(Segment(grown[len(wait_ids) :], cur.finish_reason, list(cur.stop_ids)))
        trajectories.append(segs)
    return trajectories


def exact_slice(engine: Engine, prompt: str, segments: list[Segment], budget: int, rounds: int) -> ThinkState:
    """The exact-mode state at (budget, rounds), cut from a trajectory generated at a larger budget and round count.

    Replays the exact algorithm's decisions on recorded tokens: a generation segment is cut at the remaining budget
    (finish 'length'; a segment whose stop token would be the last token allowed also ends there, as SGLang checks
    the limit first), and a "Wait" is inserted only after a 'stop' with room left, as :func:`exact_think` does.
    """
    ids: list[int] = []
    stop_ids: list[int] = []
    finish = "length"
    waits = 0
    k = 0
    while k < len(segments):
        seg = segments[k]
        remaining = budget - len(ids)
        if seg.finish_reason == "stop" and len(seg.ids) + len(seg.stop_ids) < remaining:
            ids += seg.ids
            stop_ids = list(seg.stop_ids)
            finish = "stop"
        else:
            ids += (seg.ids + seg.stop_ids)[:remaining]
            stop_ids = []
            finish = "length"
            break
        if waits >= rounds or k + 1 >= len(segments):
            break
        wait = segments[k + 1]
        if len(ids) + len(wait.ids) >= budget:
            break
        ids += wait.ids
        waits += 1
        k += 2
    text = engine.decode(ids)
    return ThinkState(prompt, text, finish, len(ids), waits, ids, stop_ids)


# ---------------------------------------------------------------------------------------------------------------
# answer phase and baselines
# ---------------------------------------------------------------------------------------------------------------
def answer_phase(
    engine: Engine, states: Sequence[ThinkState], answer_max_tokens: int, batch_size: int, mode: BudgetMode = "exact"
) -> list[Answer]:
    """Close each thinking, append the answer marker chosen by its finish reason, and generate the answer.

    ``num_gen_tokens`` counts the thinking, then (faithful) each piece the original encodes on its own: the newline
    that closes the thinking when one is added, the answer marker and the answer text; (exact) the engine's count of
    answer tokens.
    """
    prefixes = [answer_prefix(s.finish_reason) for s in states]
    closed = [close_thinking(s.thinking) for s in states]
    prompts = [s.prompt + c + p for s, c, p in zip(states, closed, prefixes)]
    comps = generate_batched(engine, prompts, answer_max_tokens, batch_size)
    out = []
    for s, c_text, p, c in zip(states, closed, prefixes, comps):
        if mode == "faithful":
            added = c_text[len(s.thinking) :]
            gen = s.num_tokens + (engine.count_tokens(added) if added else 0) + engine.count_tokens(p)
            gen += engine.count_tokens(c.text)
        else:
            gen = s.num_tokens + c.num_tokens
        out.append(Answer(s.thinking, s.finish_reason, p + c.text, c.finish_reason, s.num_tokens, gen, s.num_wait))
    return out


def baseline_answers(engine: Engine, prompts: Sequence[str], max_tokens: int, batch_size: int) -> list[Answer]:
    """Non-thinking models: one call, no think marker and no stop strings (the original sends ``stop=None``, so
    only the model's end-of-sequence token ends a reply); tokens counted by encoding the reply, as the original."""
    comps = generate_batched(engine, prompts, max_tokens, batch_size, stop=())
    return [Answer("", None, c.text, c.finish_reason, 0, engine.count_tokens(c.text), 0) for c in comps]
