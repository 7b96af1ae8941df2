"""The Dockerfiles, checked without a container engine (there is none here or in CI):
they build the binaries CI builds, with the pinned toolchain, and run them as the
non-root user the chart and the operator's Jobs expect."""

from __future__ import annotations

import fnmatch
import os
import shutil
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import CHART, ROOT

IMAGES = {"operator": ROOT / "operator" / "Dockerfile", "collector-job": ROOT / "collector-job" / "Dockerfile"}
NONROOT = 65532


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, args = line.partition(" ")
            out.append((op.upper(), " ".join(args.split())))
    return out


def toolchain() -> str:
    return tomllib.loads((ROOT / "rust-toolchain.toml").read_text())["toolchain"]["channel"]


@pytest.mark.parametrize("crate", sorted(IMAGES))
def test_dockerfile_builds_the_ci_binary_with_the_pinned_toolchain(crate: str) -> None:
    steps = instructions(IMAGES[crate])
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 2, "multi-stage: a build stage and a runtime stage"
    build, runtime = froms
    assert build == f"rust:{toolchain()}-bookworm AS build"
    assert ("ENV", f"RUSTUP_TOOLCHAIN={toolchain()}") in steps
    # Same Debian release as the build stage, so the binary's glibc is present.
    assert runtime == "gcr.io/distroless/cc-debian12:nonroot"
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert f"cargo build --release --locked -p {crate}" in runs
    assert f"target/release/{crate} /out/{crate}" in runs
    assert ("COPY", f"--from=build /out/{crate} /usr/local/bin/{crate}") in steps
    assert steps[-2:] == [("USER", f"{NONROOT}:{NONROOT}"), ("ENTRYPOINT", f'["/usr/local/bin/{crate}"]')]


@pytest.mark.parametrize("crate", sorted(IMAGES))
def test_binary_name_is_the_crate_name(crate: str) -> None:
    manifest = tomllib.loads((ROOT / crate / "Cargo.toml").read_text())
    assert manifest["package"]["name"] == crate
    bins = [b["name"] for b in manifest.get("bin", [])]
    assert bins in ([], [crate]), "the Dockerfile copies target/release/<crate>"


def test_images_run_as_the_user_the_chart_and_jobs_expect() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == NONROOT
    job_rs = (ROOT / "operator" / "src" / "job" / "build.rs").read_text()
    assert f"pub const RUN_AS: i64 = {NONROOT};" in job_rs
    assert 'command: Some(vec!["collector-job".to_string(), "collect".to_string()])' in job_rs, (
        "the collector image puts collector-job on PATH for this command"
    )


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore (no negations used) drops `path` from the build context."""
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in path.split("/")):
                return True
        elif path == pattern or path.startswith(pattern + "/") or fnmatch.fnmatch(path, pattern):
            return True
    return False


def dockerignore() -> list[str]:
    return [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_dockerignore_keeps_the_workspace_and_drops_secrets() -> None:
    patterns = dockerignore()
    assert not any(p.startswith("!") for p in patterns)
    workspace = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]
    needed = ["Cargo.toml", "Cargo.lock", "rust-toolchain.toml", "migrations/x.sql"]
    needed += [f"{member}/Cargo.toml" for member in workspace["members"]]
    needed += [f"{member}/src/main.rs" for member in workspace["members"]]
    for path in needed:
        assert not ignored(path, patterns), f"{path} must reach the build"
    for path in ["target/release/operator", ".git/config", "news.session", "collector-job/me.session"]:
        assert ignored(path, patterns), f"{path} must stay out of the build context"


def test_lockfile_is_current_for_locked_builds() -> None:
    # The Dockerfiles build with --locked: a stale Cargo.lock would fail the image build.
    # (`cargo tree` resolves for this platform only, so --offline finds every crate it needs.)
    result = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "--workspace", "--depth", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    for member in members:
        assert re.search(rf"^{re.escape(member)} v", result.stdout, re.M), result.stdout


def test_build_context_holds_a_complete_workspace(tmp_path) -> None:
    # Copy what `docker build .` would send, then let cargo resolve the workspace from it
    # exactly as the build stage's `cargo build --locked` does (minus compiling).
    patterns = dockerignore()
    context = tmp_path / "context"
    for directory, subdirs, files in os.walk(ROOT):
        rel_dir = Path(directory).relative_to(ROOT).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        subdirs[:] = [d for d in subdirs if not ignored(rel_dir + d, patterns)]
        for name in files:
            rel = rel_dir + name
            if not ignored(rel, patterns):
                (context / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, context / rel)
    assert not list(context.rglob("*.session"))
    result = subprocess.run(
        ["cargo", "tree", "--locked", "--offline", "--workspace", "--edges", "normal,build", "--depth", "0"],
        cwd=context,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for crate in IMAGES:
        assert re.search(rf"^{re.escape(crate)} v", result.stdout, re.M), result.stdout
