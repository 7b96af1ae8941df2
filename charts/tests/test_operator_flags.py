"""The Deployment's command line is one the operator binary accepts: each variant's args
are handed to the real `operator` (built from this workspace) with `--help` appended, which
clap answers only when every flag before it is known and well-formed."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, VARIANTS, one, render


@pytest.fixture(scope="module")
def operator_exe() -> str:
    """Path of the `operator` binary, built (or found up to date) by cargo."""
    env = dict(os.environ)
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target"))
    result = subprocess.run(
        ["cargo", "build", "--quiet", "-p", "operator", "--bin", "operator", "--message-format=json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            return message["executable"]
    pytest.fail("cargo built no operator executable")


def run_operator(exe: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def container(chart, values):
    (c,) = one(render(chart, values), "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("variant", ["default", "namespace-scoped", "everything"])
def test_operator_accepts_the_deployment_args(chart, operator_exe: str, variant: str) -> None:
    args = container(chart, VARIANTS[variant])["args"]
    result = run_operator(operator_exe, [*args, "--help"])
    assert result.returncode == 0, f"operator refused {args}:\n{result.stderr}"
    assert "Usage:" in result.stdout


def test_operator_refuses_an_unknown_flag(chart, operator_exe: str) -> None:
    # The check above must be able to fail.
    args = container(chart, {})["args"]
    result = run_operator(operator_exe, [*args, "--no-such-flag=1", "--help"])
    assert result.returncode != 0
    assert "--no-such-flag" in result.stderr


def test_deployment_env_is_read_by_the_operator(chart) -> None:
    cli = (ROOT / "operator" / "src" / "cli.rs").read_text()
    read = set(re.findall(r'env = "([A-Z_]+)"', cli)) | {"RUST_LOG"}  # RUST_LOG: tracing's filter
    env = {e["name"] for e in container(chart, {})["env"]}
    # DATABASE_URL is for reading the audit log; everything else must be a flag's variable.
    assert env - {"DATABASE_URL"} <= read, f"not read by the operator: {env - {'DATABASE_URL'} - read}"


def test_operator_refuses_a_retention_below_a_day(chart, operator_exe: str) -> None:
    # The schema accepts any duration; the operator itself enforces the minimum.
    args = container(chart, {"auditRetention": "12h"})["args"]
    result = run_operator(operator_exe, [*args, "--help"])
    assert result.returncode != 0
    assert "minimum of 1d" in result.stderr


def media_destination(chart, destination) -> str:
    env = {e["name"]: e for e in container(chart, {"media": {"destination": destination}})["env"]}
    return env["MEDIA_DESTINATION"]["value"]


def test_operator_accepts_the_chart_s_default_media_destination(chart, operator_exe: str) -> None:
    for destination in [
        {"s3": {"bucket": "archive", "prefix": "telegram/", "endpoint": "https://s3.example.com",
                "region": "eu-central-1", "pathStyle": True, "credentialsSecret": "media-s3"}},
        {"directory": {"persistentVolumeClaim": "telegram-media", "subPath": "files"}},
    ]:
        value = media_destination(chart, destination)
        result = run_operator(operator_exe, ["run", f"--media-destination={value}", "--help"])
        assert result.returncode == 0, f"operator refused {value}:\n{result.stderr}"


def test_operator_refuses_a_default_media_destination_the_schema_lets_through(chart, operator_exe: str) -> None:
    # The values schema cannot see '..' in a subPath; the operator refuses to start with it.
    value = media_destination(chart, {"directory": {"persistentVolumeClaim": "media", "subPath": "a/../../etc"}})
    result = run_operator(operator_exe, ["run", f"--media-destination={value}", "--help"])
    assert result.returncode != 0
    assert "must be a relative path without '..'" in result.stderr
