"""The Dockerfile and docker-compose.yml agree with the workspace they build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
SERVICES = {
    "gateway": "conveyor.gateway",
    "maintenance": "conveyor.maintenance",
    "export-worker": "conveyor.export_worker",
    "aggregates-worker": "conveyor.aggregates_worker",
}


def _members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = root["tool"]["uv"]["workspace"]["members"]
    return sorted(p.parent for g in globs for p in ROOT.glob(f"{g}/pyproject.toml"))


def test_the_dependency_layer_copies_every_workspace_member_manifest() -> None:
    # uv sync --locked fails in the image when a member's manifest is missing there.
    for member in _members():
        manifest = member.relative_to(ROOT).as_posix() + "/pyproject.toml"
        assert f"COPY {manifest} " in DOCKERFILE, f"Dockerfile does not copy {manifest}"


def test_each_service_has_a_target_that_runs_its_module_and_a_compose_entry() -> None:
    for target, module in SERVICES.items():
        pattern = rf"^FROM runtime AS {target}\n(.*?)(?=^FROM |\Z)"
        stage = re.search(pattern, DOCKERFILE, re.MULTILINE | re.DOTALL)
        assert stage, f"Dockerfile has no target {target!r}"
        assert f'CMD ["python", "-m", "{module}"]' in stage.group(1)
        assert f"target: {target}\n" in COMPOSE
        assert f"OTEL_SERVICE_NAME: conveyor-{target}\n" in COMPOSE


def test_the_cli_target_installs_the_cli_package_and_runs_conveyor() -> None:
    # The compose dataset step runs `conveyor data generate` from this image.
    build = re.search(r"^FROM build AS build-cli\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert build, "Dockerfile has no build-cli stage"
    package = tomllib.loads((ROOT / "cli/pyproject.toml").read_text(encoding="utf-8"))
    assert f"--package {package['project']['name']}" in build.group(1)
    stage = re.search(r"^FROM runtime AS cli\n(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert stage, "Dockerfile has no target 'cli'"
    assert "COPY --from=build-cli /app/.venv /app/.venv" in stage.group(1)
    assert package["project"]["scripts"]["conveyor"]
    assert 'ENTRYPOINT ["conveyor"]' in stage.group(1)
    assert "target: cli\n" in COMPOSE


def test_the_dev_support_package_is_in_the_dev_group_only_and_no_image_source_imports_it() -> None:
    # conveyor.dev_support (tests' and benchmarks' plumbing) must never reach an image.
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "conveyor-dev-support" in root["dependency-groups"]["dev"]
    assert "conveyor-dev-support" not in root["project"]["dependencies"]
    for member in _members():
        manifest = tomllib.loads((member / "pyproject.toml").read_text(encoding="utf-8"))
        if manifest["project"]["name"] == "conveyor-dev-support":
            continue
        requires = [
            re.split(r"[ <>=!~\[;]", d, maxsplit=1)[0] for d in manifest["project"]["dependencies"]
        ]
        assert "conveyor-dev-support" not in requires, f"{member.name} depends on it"
        for source in (member / "src").rglob("*.py"):
            assert "conveyor.dev_support" not in source.read_text(encoding="utf-8"), source
