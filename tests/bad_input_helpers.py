"""The check every bad-input case goes through (tests/test_bad_inputs.py, tests/test_bad_inputs_2.py): an error must
be a clear one that leaves no output, the message must name what the case expects, and no input may lose data."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def check_bad_input(
    run: Callable[[], Any],
    outcome: str,
    expect: Iterable[str],
    root: Path,
    snapshot: Callable[[Path], dict[Path, bytes]],
) -> str:
    """Run one case under ``root``; ``outcome`` "error" (a clear exception, no file under ``root/out``) or anything
    else (the call returns). Returns the message (the error's, or what the call returned)."""
    before = snapshot(root)
    if outcome == "error":
        try:
            run()
        except Exception as err:  # any type, as long as the message is clear
            assert not isinstance(err, KeyError | TypeError | AttributeError | IndexError | AssertionError), err
            message = str(err)
        else:
            raise AssertionError("the call did not fail")
        out = root / "out"
        assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()], "a failed call left outputs"
    else:
        message = str(run())
    missing = [e for e in expect if e not in message]
    assert not missing, f"the message lacks {missing}:\n{message[-3000:]}"
    after = snapshot(root)
    lost = [p for p, data in before.items() if not after.get(p, b"").startswith(data)]
    assert not lost, f"input data lost: {lost}"
    return message
