"""Build the five models from a model store folder or from a spec naming each role's
backend: a local Hugging Face folder (`path`) or a vLLM server (`url` + `model`).

A spec file (JSON or YAML)::

    student: {url: http://gpu:8000, model: student}
    global:  {url: http://gpu:8000, model: global}     # a LoRA adapter on the same server
    local:   {url: http://gpu:8000, model: local}
    orm:     {url: http://gpu:8001, model: orm, tokenizer: model_store/default/orm}
    sorm:    {path: model_store/default/sorm, prefix_cache_mb: 256}  # roles may mix backends

A local scorer also takes `max_batch_tokens` and `prefix_cache_mb` (see
`glore.backends.embedded.scorer.EmbeddedScorer`); a folder with a likelihood head is a
likelihood verifier (`glore.backends.embedded.likelihood`), any other a token classifier.
A remote role takes every option of its backend
(`RemoteGenerator` or `RemoteScorer`: `timeout_s`, `connect_timeout_s`, `deadline_s`,
`max_retries`, `backoff_s`, `max_connections`, and `max_prompts_per_request`,
`max_topup_rounds`, `return_token_ids` for a generator, `activation`,
`max_items_per_request` for a scorer), each checked for its type and bound before anything
loads. Once built, each remote role's `model` is checked against its server's
`GET /v1/models` (one request per server): a name it does not list is an error naming those
it does; a server without the list is logged as unchecked.

An optional `engine: {rerank_margin: 0.3}` carries the calibration a store keeps in its
manifest's `engine` section (`glore calibrate`).
"""

from __future__ import annotations

import inspect
import json
import logging
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from glore.backends.base import Generator, StepScorer
from glore.engine.steps import Models
from glore.errors import ConfigError, InvalidInputError, ModelNotFoundError

log = logging.getLogger(__name__)
ROLES = ("student", "orm", "sorm", "global", "local")
SCORERS = ("orm", "sorm")
_KEYS = {"path", "url", "model", "tokenizer"}
_NOT_OPTIONS = {"client", "tokenizer", "head"}
_LOCAL_SCORER_KEYS = {"max_batch_tokens", "prefix_cache_mb"}
GreedyEngine = Literal["auto", "torch", "ct2"]
GREEDY_ENGINES: tuple[GreedyEngine, ...] = ("auto", "torch", "ct2")
"""What runs a local generator's greedy calls: the embedded torch scheduler (the reference,
any device), CTranslate2 on a CPU (`glore.backends.ct2`), or auto: CTranslate2 where the
`ct2` extra is installed and the generator is on a CPU, else torch."""
ENGINE_KEYS = ("rerank_margin", "rerank_floor", "abstain_below")
"""What a store's manifest (or a spec's `engine` mapping) may set: calibrated on validation."""


def _backend(
    role: str,
    spec: Mapping[str, Any],
    device: str | None,
    batch: int,
    wait_ms: float,
    *,
    dtype: str | None = None,
) -> Any:
    if "path" in spec:
        return _local(role, spec, device, batch, wait_ms, dtype=dtype)
    if "url" not in spec or "model" not in spec:
        raise ConfigError(f"role {role!r} needs either 'path' or both 'url' and 'model'")
    from glore.backends.remote import RemoteGenerator, RemoteScorer

    cls: Any = RemoteScorer if role in SCORERS else RemoteGenerator
    options = _remote_options(role, cls, spec)
    try:
        if role in SCORERS:
            if "tokenizer" not in spec:
                raise ConfigError(f"role {role!r}: a remote scorer needs 'tokenizer' (its model's)")
            return cls.from_pretrained(spec["url"], spec["model"], spec["tokenizer"], **options)
        return cls(spec["url"], spec["model"], **options)
    except InvalidInputError as exc:
        raise ConfigError(f"role {role!r}: {exc.message}") from exc


def _local(
    role: str,
    spec: Mapping[str, Any],
    device: str | None,
    batch: int,
    wait_ms: float,
    *,
    dtype: str | None,
) -> Any:
    allowed = _KEYS | (_LOCAL_SCORER_KEYS if role in SCORERS else set())
    _refuse_unknown(role, spec, allowed)
    from glore.backends.embedded.generator import EmbeddedGenerator
    from glore.backends.embedded.scorers import scorer_class

    cls: Any = scorer_class(spec["path"]) if role in SCORERS else EmbeddedGenerator
    options = {k: spec[k] for k in _LOCAL_SCORER_KEYS if k in spec}
    return cls.from_pretrained(
        spec["path"],
        device=device,
        max_batch_size=batch,
        max_wait_ms=wait_ms,
        dtype=dtype,
        **options,
    )


def _refuse_unknown(role: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(
            f"role {role!r}: unknown keys {sorted(unknown)}; allowed {sorted(allowed)}"
        )


def remote_options(cls: type) -> dict[str, Any]:
    """The options a remote backend class takes (its keyword-only constructor arguments
    but the client and tokenizer) and their types."""
    hints = typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    params = inspect.signature(cls.__init__).parameters.values()  # type: ignore[misc]
    return {
        p.name: hints[p.name]
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _NOT_OPTIONS
    }


def _remote_options(role: str, cls: type, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's options for this remote backend, each checked against its type."""
    types_ = remote_options(cls)
    _refuse_unknown(role, spec, _KEYS | set(types_))
    out = {k: v for k, v in spec.items() if k in types_}
    for key, value in out.items():
        if not _fits(value, types_[key]):
            raise ConfigError(
                f"role {role!r}: {key} must be {_type_name(types_[key])}, got {value!r}"
            )
    return out


def _fits(value: Any, hint: Any) -> bool:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Literal:
        return value in args
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(hint, type) and isinstance(value, hint)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    return names.get(hint, str(hint))


def store_spec(store: Path) -> dict[str, dict[str, Any]]:
    missing = [r for r in ROLES if not (store / r / "config.json").is_file()]
    if missing:
        raise ModelNotFoundError(
            f"model store {store} lacks {', '.join(missing)}; a store holds {', '.join(ROLES)}"
        )
    return {r: {"path": str(store / r)} for r in ROLES}


def read_spec(path: Path) -> dict[str, Any]:
    if path.is_dir():
        return store_spec(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is neither a model store folder nor a spec file")
    import yaml

    data = (
        json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    )
    if not isinstance(data, dict) or sorted(set(data) - {"engine"}) != sorted(ROLES):
        raise ConfigError(
            f"{path}: a spec maps exactly the roles {', '.join(ROLES)} (and optionally 'engine')"
        )
    return data


def calibration(source: Path, spec: Mapping[str, Any]) -> dict[str, float]:
    """The engine settings calibrated for these models: a spec's `engine` mapping, else the
    store manifest's `engine` section; each checked to lie in [0, 1]."""
    manifest = source / "manifest.json"
    if "engine" in spec:
        data = spec["engine"]
    elif source.is_dir() and manifest.is_file():
        data = json.loads(manifest.read_text()).get("engine") or {}
    else:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: 'engine' must be a mapping of {', '.join(ENGINE_KEYS)}")
    out: dict[str, float] = {}
    for key in ENGINE_KEYS:
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ConfigError(f"{source}: engine.{key} must be a number in [0, 1], got {value!r}")
        out[key] = float(value)
    return out


def load_models(
    path: str | Path,
    *,
    device: str | None = None,
    batch: int = 64,
    wait_ms: float = 5.0,
    dtype: str | None = None,
    scorer_dtype: str | None = None,
    greedy_engine: GreedyEngine = "auto",
) -> Models:
    """`dtype` for the local generators, `scorer_dtype` for the local ORM and SORM (both
    None: float32 on a CPU, bfloat16 on a GPU; see `glore.backends.embedded.model.pick_dtype`).
    `greedy_engine`: what runs each local generator's greedy calls (`GREEDY_ENGINES`; ct2
    wraps it in `glore.backends.ct2.GreedyOnCt2`)."""
    if greedy_engine not in GREEDY_ENGINES:
        raise ConfigError(
            f"greedy_engine must be one of {', '.join(GREEDY_ENGINES)}; got {greedy_engine!r}"
        )
    source = Path(path)
    spec = read_spec(source)
    calibrated = calibration(source, spec)  # a bad manifest fails before weights load
    built: dict[str, Any] = {}
    by_spec: dict[str, Any] = {}
    for role in ROLES:
        # Roles naming the same model share one backend: one copy in memory, and their
        # concurrent calls (a round's global and local refinements) land in one batch.
        kind = "scorer" if role in SCORERS else "generator"
        key = json.dumps([kind, spec[role]], sort_keys=True, default=str)
        if key not in by_spec:
            by_spec[key] = _sibling(role, spec, built) or _backend(
                role,
                spec[role],
                device,
                batch,
                wait_ms,
                dtype=scorer_dtype if role in SCORERS else dtype,
            )
            if greedy_engine != "torch" and role not in SCORERS and "path" in spec[role]:
                by_spec[key] = _greedy(by_spec[key], spec[role]["path"], batch, greedy_engine)
        built[role] = by_spec[key]
    _check_remote_models(spec)
    gens: dict[str, Generator] = {r: built[r] for r in ROLES if r not in SCORERS}
    scorers: dict[str, StepScorer] = {r: built[r] for r in SCORERS}
    return Models(
        gens["student"],
        scorers["orm"],
        scorers["sorm"],
        gens["global"],
        gens["local"],
        versions=_versions(source, spec),
        rerank_margin=calibrated.get("rerank_margin", 0.0),
        rerank_floor=calibrated.get("rerank_floor", 0.0),
        abstain_below=calibrated.get("abstain_below", 0.0),
    )


def _greedy(embedded: Any, path: str, batch: int, engine: GreedyEngine) -> Any:
    """The local generator with its greedy calls on CTranslate2, which runs on a CPU: where
    asked, or under auto where the extra is installed and the generator is on a CPU."""
    import importlib.util

    from glore.backends.ct2 import Ct2Generator, GreedyOnCt2

    device = getattr(getattr(embedded, "model", None), "device", None)
    on_cpu = device is None or device.type == "cpu"
    if engine == "auto" and not (on_cpu and importlib.util.find_spec("ctranslate2")):
        return embedded
    if device is not None and not on_cpu:
        raise ConfigError(
            f"greedy_engine 'ct2' runs on the CPU, but this generator is on {device.type}: "
            "use greedy_engine 'torch' or 'auto' there"
        )
    try:
        ct2 = Ct2Generator.from_pretrained(path, max_batch_size=batch)
    except (OSError, RuntimeError, ValueError) as exc:  # no room to convert, an odd model
        if engine == "auto":
            log.warning("greedy calls stay on torch: CTranslate2 could not load %s (%s)", path, exc)
            return embedded
        raise ConfigError(f"greedy_engine 'ct2' could not load {path}: {exc}") from exc
    return GreedyOnCt2(ct2, embedded)


def _sibling(role: str, spec: Mapping[str, Any], built: Mapping[str, Any]) -> Any:
    """For the SORM, a sibling of the ORM's local scorer where both are likelihood verifiers
    on one base with the same options (`scorers.sibling_scorer`); None otherwise."""
    from glore.backends.embedded.scorer import EmbeddedScorer
    from glore.backends.embedded.scorers import sibling_scorer

    orm, sorm = spec["orm"], spec["sorm"]
    if role != "sorm" or not isinstance(built.get("orm"), EmbeddedScorer):
        return None
    options = {k: v for k, v in orm.items() if k != "path"}
    if "path" not in sorm or options != {k: v for k, v in sorm.items() if k != "path"}:
        return None
    return sibling_scorer(built["orm"], orm["path"], sorm["path"])


def _check_remote_models(spec: Mapping[str, Any]) -> None:
    remote = {r: (spec[r]["url"], spec[r]["model"]) for r in ROLES if "url" in spec[r]}
    if remote:
        from glore.backends.remote.served import check_served

        check_served(remote)


def _versions(source: Path, spec: Mapping[str, Any]) -> dict[str, str]:
    manifest = source / "manifest.json"
    if manifest.is_file():
        data = json.loads(manifest.read_text())
        commit = str((data.get("source") or {}).get("commit") or "unknown")[:12]
        return {r: f"{data.get('name', source.name)}/{r}@{commit}" for r in ROLES}
    return {r: spec[r].get("model") or str(spec[r].get("path")) for r in ROLES}
