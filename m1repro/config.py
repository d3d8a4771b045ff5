"""The configuration as the Snakefile resolves it (base + overlays, checked); its typed views are m1repro.cfgview.

Resolution (:func:`resolve_config`): the config files given (``--configfile``, a profile's ``configfile``) and
``--config`` values are an overlay, deep-merged onto the base ``config/config.yaml`` (the paper's setup), unless the
overlay names another base (``base: some.yaml``) or none (``base: null``: a complete configuration, as
``config/tiny.yaml`` is). Then it is validated against ``config/schemas/config.schema.yaml`` (defaults filled, an
unknown key is an error) and checked for what a schema cannot say: a key given twice in a file, model labels shared
by two models. The rules then hand each job only its slice as ``params``.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from m1repro import REPO
from m1repro.cfgview import SCHEMA
from m1repro.io import InputError, read_yaml
from m1repro.log import looks_like_key
from m1repro.workflow import path_problems

BASE_CONFIG = "config/config.yaml"


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` onto ``base``: mappings merge key by key, anything else (lists included) replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in overlay.items():
        out[k] = (
            deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else copy.deepcopy(v)
        )
    return out


def _typed_cli_values(value: Any) -> Any:
    """``--config key={a: 1}`` arrives with every nested value a string (Snakemake reads it with YAML's BaseLoader):
    read the strings again as YAML scalars, so ``{table1_budget: 2048}`` is a number."""
    if isinstance(value, dict):
        return {k: _typed_cli_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed_cli_values(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if isinstance(parsed, int | float | bool) or parsed is None else value
    return value


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def refuse_keys(cfg: Any, where: str = "") -> None:
    """Every ``api_key_env`` must name an environment variable. A value that is not a name (a key pasted in by
    mistake) is an error that never shows the value: this runs before the schema, whose messages would echo it."""
    if isinstance(cfg, Mapping):
        for k, v in cfg.items():
            at = f"{where}.{k}" if where else str(k)
            if k == "api_key_env" and isinstance(v, str) and not _ENV_NAME.fullmatch(v):
                shape = "looks like an API key" if looks_like_key(v) else "is not a variable name"
                raise ValueError(
                    f"config {at}: the value {shape} (not shown). Give the NAME of the environment variable that "
                    "holds the key (e.g. OPENAI_API_KEY), never the key; if a key was pasted here, revoke it"
                )
            refuse_keys(v, at)


def resolve_config(
    given: Mapping[str, Any],
    configfiles: Sequence[str | Path] = (),
    cli: Mapping[str, Any] | None = None,
    workdir: str | Path | None = None,
) -> dict[str, Any]:
    """The validated configuration of a run: ``given`` (what Snakemake read from ``configfiles`` and ``--config``,
    whose values ``cli`` are) merged onto its base, validated with defaults, and checked (local paths relative to
    ``workdir``, default the current directory: Snakemake's working directory)."""
    for path in configfiles:
        read_yaml(path)  # duplicate keys, which Snakemake's own loading lets through
    overlay = dict(given)
    for key, value in (cli or {}).items():
        if isinstance(value, dict | list):
            overlay[key] = (
                deep_merge(overlay.get(key) or {}, _typed_cli_values(value))
                if isinstance(value, dict)
                else _typed_cli_values(value)
            )
    refuse_keys(overlay)
    cfg = deep_merge(_base_chain(overlay.pop("base", BASE_CONFIG)), overlay)
    cfg.pop("base", None)
    refuse_keys(cfg)
    if decimals := _decimal_integers(cfg):
        raise ValueError("config: whole numbers written as decimals:\n  " + "\n  ".join(decimals))
    validate_config(cfg)
    check_config(cfg, workdir)
    return cfg


def _base_chain(base: Any) -> dict[str, Any]:
    """The base configuration: a base file may name its own ``base:`` (merged under it, and so on); a cycle or a
    ``base`` that is not a file name is an error naming the files."""
    chain: list[str] = []
    cfg: dict[str, Any] = {}
    while base:
        if not isinstance(base, str | Path):
            raise ValueError(f"config base: expected a file name or null, got {base!r}")
        path = Path(base)
        if not path.exists() and (REPO / path).exists():
            path = REPO / path  # the repository's own base when read from elsewhere (tools, tests)
        if str(path.resolve()) in chain:
            raise ValueError(f"config base: the bases form a cycle: {' -> '.join([*chain, str(path.resolve())])}")
        chain.append(str(path.resolve()))
        data = read_yaml(path)
        if not isinstance(data, dict):
            raise InputError(path, "a config file must be a mapping of keys")
        base = data.pop("base", None)
        cfg = deep_merge(data, cfg)
    return cfg


def _decimal_integers(cfg: Any) -> list[str]:
    """Where a whole number is written as a decimal (``16.0``) for a key whose schema says integer: the schema's
    validator takes it for an integer, the jobs would not (a budget ``16.0`` names no variant)."""
    import jsonschema

    schema = read_yaml(SCHEMA)
    base = jsonschema.validators.validator_for(schema)
    strict = jsonschema.validators.extend(
        base,
        type_checker=base.TYPE_CHECKER.redefine("integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)),
    )
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.instance!r} is written as a decimal; write {int(e.instance)}"
        for e in strict(schema).iter_errors(cfg)
        if e.validator == "type" and isinstance(e.instance, float) and e.instance.is_integer()
    ]


def check_config(cfg: Mapping[str, Any], workdir: str | Path | None = None) -> None:
    """What the schema cannot say: two models with one Table 1 label would give two rows nobody can tell apart; local
    paths (relative to ``workdir``, default the current directory) must exist or be made by the workflow
    (:func:`m1repro.workflow.path_problems`). Every problem is named, all at once."""
    problems = []
    labels = Counter(m.get("label", name) for name, m in cfg["models"].items() if m.get("table1", True))
    shared = sorted(label for label, n in labels.items() if n > 1)
    if shared:
        owners = {lb: [n for n, m in cfg["models"].items() if m.get("label", n) == lb] for lb in shared}
        problems.append(
            f"models: these Table 1 labels are given to several models: {owners}; give each model its own `label`"
        )
    problems += checkpoint_root_problems(cfg)
    problems += model_dir_problems(cfg, Path.cwd() if workdir is None else Path(workdir))
    problems += path_problems(cfg, Path.cwd() if workdir is None else Path(workdir))
    if problems:
        raise ValueError(
            "config: " + "\n  ".join(["problems found:", *problems]) if len(problems) > 1 else f"config {problems[0]}"
        )


def model_dir_problems(cfg: Mapping[str, Any], workdir: Path) -> list[str]:
    """Model paths that exist here must be model folders (a ``config.json``): ``/etc`` is no model, and the job
    would otherwise fail only when it loads it, after Snakemake deleted its previous outputs."""
    paths = [(f"models.{n}.path", m.get("path")) for n, m in (cfg.get("models") or {}).items()]
    paths += [(f"train.runs.{n}.base", r.get("base")) for n, r in ((cfg.get("train") or {}).get("runs") or {}).items()]
    difficulty = ((cfg.get("curate") or {}).get("difficulty") or {}).get("models") or {}
    paths += [(f"curate.difficulty.models.{n}.path", m.get("path")) for n, m in difficulty.items()]
    problems = []
    for where, value in paths:
        if not isinstance(value, str) or not value:
            continue
        p = Path(value) if Path(value).is_absolute() else workdir / value
        if p.is_file() or (p.is_dir() and not (p / "config.json").is_file()):
            problems.append(f"{where}: {value!r} is not a model folder (no config.json in it)")
    return problems


#: Folders the trainer's checkpoints must stay apart from: the outputs, the paid API caches, logs, Snakemake's state
#: and the checkout's inputs. A run named ``api`` under a root ``cache`` would otherwise share ``cache/api/``.
_NOT_CHECKPOINTS = ("results", "cache/api", "logs", ".snakemake", "config", "resources", "m1repro")


def checkpoint_root_problems(cfg: Mapping[str, Any]) -> list[str]:
    """``train.checkpoint_root`` and its runs' folders overlap none of :data:`_NOT_CHECKPOINTS`, nor any API cache."""
    train = cfg.get("train") or {}
    root = Path(str(train.get("checkpoint_root", "cache/train")))
    if root.is_absolute() or not str(root).strip() or ".." in root.parts:
        return [f"train.checkpoint_root: {str(root)!r} must be a relative folder inside the working directory"]
    apis = [
        a.get(k)
        for stage in ("traces", "domains", "difficulty")
        for a in [((cfg.get("curate") or {}).get(stage) or {}).get("api") or {}]
        for k in ("cache", "replay_cache")
    ]
    keep = [Path(p) for p in (*_NOT_CHECKPOINTS, *[x for x in apis if x])]
    runs = [root / r for r in (train.get("runs") or {})]
    for k in keep:
        for p in (root, *runs):
            if p == k or k in p.parents or p in k.parents:
                return [
                    f"train.checkpoint_root: {str(root)!r} puts checkpoints at {str(p)!r}, which overlaps {str(k)!r} "
                    "(outputs, paid API caches and inputs stay apart from checkpoints); use e.g. cache/train"
                ]
    return []


def _wants_gpu(engine: Any) -> bool:
    return isinstance(engine, Mapping) and (
        engine.get("backend") == "sglang" or str(engine.get("device", "")).startswith("cuda")
    )


def cuda_problem(jobs: Any, local: bool) -> str | None:
    """Before a run starts (onstart, before Snakemake deletes any job's old outputs): jobs that will run on this
    machine with a CUDA engine while it has no CUDA. ``jobs``: Snakemake jobs (rule name, params)."""
    if not local:
        return None  # cluster jobs run on GPU nodes; the submitting host needs no CUDA
    gpu = []
    for j in jobs:
        params = getattr(j, "params", None)
        job = getattr(params, "job", None) if params is not None else None
        cfg = getattr(params, "cfg", None) if params is not None else None
        engines = [job.get("engine")] if isinstance(job, Mapping) else []
        if isinstance(cfg, Mapping) and cfg.get("backend") == "engine":
            engines += [m.get("engine") for m in (cfg.get("models") or {}).values() if isinstance(m, Mapping)]
        if any(_wants_gpu(e) for e in engines):
            gpu.append(j.rule.name)
    if not gpu:
        return None
    try:
        import torch

        if torch.cuda.is_available():
            return None
    except ImportError:
        pass
    return (
        f"jobs of {', '.join(sorted(set(gpu)))} would run here with a CUDA engine (engine device cuda or the sglang "
        "backend), but this machine has no CUDA: nothing was started and no output was deleted. Run on a GPU "
        "node (--profile profiles/slurm), or set engine_defaults.device: cpu"
    )


def load_config(path: str | Path, validate: bool = True) -> dict[str, Any]:
    """Read one config file as the Snakefile resolves it (onto its base, validated, checked, its local paths relative
    to the checkout); for tools and tests.
    ``validate=False`` returns the file as it is."""
    cfg = read_yaml(path)
    return resolve_config(cfg, [path], workdir=REPO) if validate else cfg


def validate_config(cfg: dict[str, Any]) -> None:
    """Validate and fill defaults in place, with Snakemake's own validator (an unknown key is an error)."""
    from snakemake.utils import validate

    validate(cfg, str(SCHEMA), set_default=True)
