"""SLURM node lists: the host names of ``SLURM_JOB_NODELIST`` as ``scontrol show hostnames`` prints them.

:func:`hostnames` asks ``scontrol`` when it is on the PATH (the standard answer on a cluster) and otherwise, or when
scontrol rejects the list, parses it itself (:func:`expand_hostlist`): top-level commas separate hosts (empty
entries are skipped, as scontrol does); each bracket group is a comma-separated list of numbers or zero-padded
ranges; several groups multiply out in order (``a[1-2]b[3-4]`` -> a1b3 a1b4 a2b3 a2b4). Text after the last
bracket (``n[01-02]-ib``) is kept as a suffix: SLURM 22.05's scontrol rejects it ("Invalid hostlist" on stderr,
nothing on stdout, exit status 0), and then the parser answers.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess


class NodelistError(ValueError):
    """A node list that is not valid SLURM hostlist syntax."""


def _split_top_level(text: str, sep: str = ",") -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise NodelistError(f"node list {text!r}: ']' without '['")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise NodelistError(f"node list {text!r}: '[' without ']'")
    parts.append(text[start:])
    return parts


def _expand_group(group: str, nodelist: str) -> list[str]:
    out: list[str] = []
    for part in group.split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise NodelistError(f"node list {nodelist!r}: {part!r} in [{group}] is not a number or a range")
        if not sep:
            out.append(lo)
            continue
        if int(hi) < int(lo):
            raise NodelistError(f"node list {nodelist!r}: range {part!r} runs backwards")
        out.extend(f"{i:0{len(lo)}d}" for i in range(int(lo), int(hi) + 1))
    return out


def _expand_host(expr: str, nodelist: str) -> list[str]:
    pieces: list[list[str]] = []
    rest = expr
    while rest:
        open_at = rest.find("[")
        if open_at < 0:
            pieces.append([rest])
            break
        close_at = rest.index("]", open_at)
        if "[" in rest[open_at + 1 : close_at]:
            raise NodelistError(f"node list {nodelist!r}: nested brackets")
        if open_at:
            pieces.append([rest[:open_at]])
        pieces.append(_expand_group(rest[open_at + 1 : close_at], nodelist))
        rest = rest[close_at + 1 :]
    return ["".join(p) for p in itertools.product(*pieces)]


def expand_hostlist(nodelist: str) -> list[str]:
    """Host names of a SLURM node list, parsed here (what ``scontrol show hostnames`` prints, in its order)."""
    text = nodelist.strip()
    if not text:
        raise NodelistError("empty node list")
    hosts: list[str] = []
    for expr in _split_top_level(text):
        if expr.strip():
            hosts.extend(_expand_host(expr.strip(), nodelist))
    if not hosts:
        raise NodelistError(f"node list {nodelist!r} names no host")
    return hosts


def hostnames(nodelist: str, scontrol: str | None = "scontrol") -> list[str]:
    """Host names of ``nodelist``: from ``scontrol show hostnames`` when ``scontrol`` is on the PATH (``None``: never
    ask it), otherwise from :func:`expand_hostlist`."""
    exe = shutil.which(scontrol) if scontrol else None
    if exe:
        done = subprocess.run([exe, "show", "hostnames", nodelist], capture_output=True, text=True, timeout=30)
        if done.returncode == 0 and done.stdout.split() and "Invalid hostlist" not in done.stdout + done.stderr:
            return done.stdout.split()
    return expand_hostlist(nodelist)
