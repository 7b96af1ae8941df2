"""docs/install.md stays in step with the chart and the health check it documents."""

from __future__ import annotations

import re

import yaml

from conftest import CHART, ROOT

DOC = (ROOT / "docs" / "install.md").read_text()


def test_argocd_key_is_derived_from_the_crd() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "channelcollection.yaml").read_text())
    key = f"resource.customizations.health.{crd['spec']['group']}_{crd['spec']['names']['kind']}"
    assert key in DOC
    assert key in (CHART / "argocd" / "health.lua").read_text()


def test_every_top_level_value_is_documented() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = "\n".join(line for line in DOC.splitlines() if line.startswith("| `"))
    documented = set(re.findall(r"`([a-zA-Z]+)[.`]", table))
    # Naming overrides and RBAC/ServiceAccount switches are standard chart plumbing.
    plumbing = {"nameOverride", "fullnameOverride", "imagePullSecrets", "serviceAccount", "rbac", "podDisruptionBudget"}
    missing = set(values) - documented - plumbing
    assert not missing, f"values not in the table of docs/install.md: {sorted(missing)}"


def test_documented_commands_use_the_chart_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    ref = values["database"]["secretRef"]
    assert f"create secret generic {ref['name']}" in DOC
    assert f"--from-literal={ref['key']}=" in DOC
    assert "kubectl -n telegram wait --for=condition=Ready chc/news" in DOC
