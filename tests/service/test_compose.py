"""The deployment files, checked statically (this machine cannot run docker): every
GLORE_* variable that docker-compose.yml and the GPU override set is a real setting with a
valid value, the GPU servers start as vLLM's image and Docker's device code need (a pinned
image, the model positional, memory shares that fit one GPU, device ids, health checks the
gateway waits on, a required GPU_STORE), the remote spec names each role's server as
`glore.engine.loading` needs, and the Dockerfile runs as a non-root user with a healthcheck
and the project's torch pin."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from glore.engine.loading import ROLES, SCORERS, read_spec
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
GPU = yaml.safe_load((ROOT / "deploy" / "gpu.compose.yml").read_text())
SERVICES: dict[str, Any] = {**COMPOSE["services"], **GPU["services"]}
VLLM = ("vllm-generate", "vllm-orm", "vllm-sorm")
DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def _flag(command: list[str], name: str) -> str:
    """The value of `--name=value` in a command, with `${VAR:-default}` read as default."""
    (value,) = [c.split("=", 1)[1] for c in command if c.startswith(f"--{name}=")]
    return DEFAULT.sub(lambda m: m.group(2), value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def test_compose_has_the_services() -> None:
    assert set(COMPOSE["services"]) == {"gateway", "worker", "redis"}
    assert set(GPU["services"]) == {*VLLM, "gateway-gpu"}
    for name in VLLM:
        devices = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
        assert any(d.get("driver") == "nvidia" for d in devices), name
    assert SERVICES["worker"]["command"] == ["glore", "worker"]
    assert "--appendonly" in SERVICES["redis"]["command"]
    assert SERVICES["redis"].get("volumes")
    # A scorer's runner follows its kind: pooling for a classifier, generate for a likelihood.
    assert "--runner=${VLLM_ORM_RUNNER:-pooling}" in SERVICES["vllm-orm"]["command"]
    assert "--runner=${VLLM_SORM_RUNNER:-pooling}" in SERVICES["vllm-sorm"]["command"]
    generate = SERVICES["vllm-generate"]["command"]
    assert "--enable-lora" in generate and "global=/models/adapters/global" in generate


def test_vllm_servers_start_as_the_image_and_docker_need() -> None:
    contract = (ROOT / "glore" / "backends" / "remote" / "vllm_contract.py").read_text()
    version = re.search(r"Shapes are those of vLLM (\d+\.\d+)", contract)
    assert version is not None
    shares, devices = [], set()
    for name in VLLM:
        service, command = SERVICES[name], SERVICES[name]["command"]
        # Pinned to the release the contract was read from, not `latest`.
        assert service["image"].startswith(f"vllm/vllm-openai:v{version.group(1)}"), name
        # The image's entrypoint is `vllm serve`: the model comes first, positionally.
        assert command[0].startswith("/models/") and not any(
            c.startswith("--model") for c in command
        ), name
        shares.append(float(_flag(command, "gpu-memory-utilization")))
        assert int(_flag(command, "max-model-len")) >= 1024, name
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert "count" not in device and len(device["device_ids"]) == 1, name  # one GPU each
        devices.add(DEFAULT.sub(lambda m: m.group(2), device["device_ids"][0]))
        probe = " ".join(service["healthcheck"]["test"])
        assert "/health" in probe, name
    # By default all three share device 0: their memory shares must fit on it together.
    assert devices == {"0"} and sum(shares) <= 0.95
    generate = SERVICES["vllm-generate"]["command"]
    assert _flag(generate, "max-loras") == "2"  # global and local adapters in one batch
    from training.recipe import LoraSpec

    assert int(_flag(generate, "max-lora-rank")) >= LoraSpec().r
    for dependency in VLLM:
        assert SERVICES["gateway-gpu"]["depends_on"][dependency]["condition"] == "service_healthy"


def test_the_gpu_stack_requires_a_store_with_adapters() -> None:
    for name in (*VLLM, "gateway-gpu"):
        mounts = [m for m in SERVICES[name]["volumes"] if m.endswith(":/models:ro")]
        assert mounts and all(m.startswith("${GPU_STORE:?") for m in mounts), name
    # The default store cannot back it: its refiners are full checkpoints, not adapters.
    assert not (ROOT / "model_store" / "default" / "adapters").exists()
    text = (ROOT / "docker-compose.yml").read_text()
    assert "GPU_STORE" not in yaml.safe_dump(COMPOSE) and "deploy/gpu.compose.yml" in text


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_glore_variable_is_a_valid_setting(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fields = {f.lower() for f in Settings.model_fields}
    env = {k: v for k, v in _environment(SERVICES[name]).items() if k.upper().startswith("GLORE_")}
    for key, value in env.items():
        field = key[len("GLORE_") :].lower()
        assert field in fields, f"{name}: {key} is not a setting (service/settings.py)"
        # Validated as the service reads it: from the environment, values as text.
        for other in list(os.environ):
            if other.upper().startswith("GLORE_"):
                monkeypatch.delenv(other)
        monkeypatch.setenv(key, value)
        settings = Settings(_env_file=None)  # raises on a bad value
        if field == "models":
            assert settings.models == value


def test_gateways_use_redis_from_compose() -> None:
    for name in ("gateway", "worker", "gateway-gpu"):
        assert _environment(SERVICES[name])["GLORE_REDIS_URL"] == "redis://redis:6379/0"
    assert _environment(SERVICES["gateway-gpu"])["GLORE_MODELS"] == "/config/remote.yaml"
    mounts = SERVICES["gateway-gpu"]["volumes"]
    assert any(m.startswith("./deploy/remote.yaml:/config/remote.yaml") for m in mounts)
    assert any(m.startswith("${GPU_STORE:?") and ":/models" in m for m in mounts)


def test_remote_spec_names_each_role_server() -> None:
    spec = read_spec(ROOT / "deploy" / "remote.yaml")  # exactly the five roles, or it raises
    assert sorted(spec) == sorted(ROLES)
    hosts = {s.split(":", 1)[0] for s in SERVICES}
    for role, entry in spec.items():
        assert {"url", "model"} <= set(entry), role
        assert "path" not in entry, role
        host = re.match(r"https?://([^:/]+)", entry["url"])
        assert host is not None and host.group(1) in hosts, f"{role}: {entry['url']}"
        if role in SCORERS:
            assert entry.get("tokenizer"), role
            # gateway-gpu mounts the GPU store at /models; a store holds each role's tokenizer.
            assert entry["tokenizer"] == f"/models/{role}", role
            local = ROOT / "model_store" / "default" / role
            assert (local / "tokenizer.json").is_file(), role
        else:
            assert "tokenizer" not in entry, role


def test_dockerfile_is_non_root_with_healthcheck_and_torch_pin() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert "/healthz" in text
    assert "torch==2.13.0" in text
    assert "https://download.pytorch.org/whl/cpu" in text
    assert "EXPOSE 8000" in lines
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pyproject  # the image pins what the project pins
    assert lines[-1].startswith('CMD ["glore", "serve"')
