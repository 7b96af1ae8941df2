"""Shared helpers of the chart tests: render the chart with the real Helm engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "channel-collection-operator"
RELEASE = "cco"
RELEASE_NAMESPACE = "cco-system"

# The values each variant sets on top of the chart's defaults.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespace-scoped": {"watch": {"scope": "Namespace", "namespace": "telegram"}},
    "namespace-scoped-release-namespace": {"watch": {"scope": "Namespace"}},
    "ha": {"replicas": 2},
    "metrics-on": {
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
        "networkPolicy": {
            "enabled": True,
            "metricsFrom": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
            ],
        },
    },
    "monitoring-on": {
        "metrics": {
            "serviceMonitor": {"enabled": True},
            "dashboard": {"enabled": True},
            "prometheusRule": {"enabled": True},
        },
    },
    "everything": {
        "replicas": 3,
        "watch": {"scope": "Namespace", "namespace": "telegram"},
        "image": {"digest": "sha256:" + "a" * 64},
        "metrics": {
            "serviceMonitor": {"enabled": True},
            "dashboard": {"enabled": True, "annotations": {"grafana_folder": "Telegram"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}, "alertLabels": {"team": "data"}},
        },
        "auditRetention": "90d",
        "media": {"destination": {"directory": {"persistentVolumeClaim": "telegram-media", "subPath": "files"}}},
        "monitoringPage": {"enabled": False},
        "networkPolicy": {"enabled": True, "extraEgress": [{"ports": [{"port": 6379}]}]},
        "commonLabels": {"team": "data"},
        "commonAnnotations": {"owner": "data-team"},
        "podLabels": {"tier": "control"},
        "podAnnotations": {"example.com/scrape": "true"},
        "extraEnv": [{"name": "EXTRA", "value": "1"}],
        "serviceAccount": {"annotations": {"example.com/role": "cco"}},
        "imagePullSecrets": [{"name": "regcred"}],
        "priorityClassName": "collectors-high",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "channel-collection-operator"}},
            }
        ],
    },
}


@pytest.fixture(scope="session")
def chart() -> helm.Chart:
    loaded = helm.Chart.load(CHART)
    yield loaded
    loaded.close()


def render(chart: helm.Chart, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders for `values`, NOTES.txt left out."""
    manifests = chart.render(values, name=RELEASE, namespace=RELEASE_NAMESPACE)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def notes(chart: helm.Chart, values: dict[str, Any]) -> str:
    manifests = chart.render(values, name=RELEASE, namespace=RELEASE_NAMESPACE)
    return next(text for path, text in manifests.items() if path.endswith("NOTES.txt"))


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def rbac_contract() -> list[dict[str, Any]]:
    return json.loads((ROOT / "operator" / "rbac.json").read_text())["rules"]


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(apiGroup, resource, verb) triples; a rule's lists multiply out."""
    out = set()
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    assert "*" not in (group, resource, verb), f"wildcard in {rule}"
                    out.add((group, resource, verb))
    return out


# The labels by which Kubernetes' built-in view, edit and admin ClusterRoles pick up others.
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"


def aggregated_to(obj: dict[str, Any]) -> set[str]:
    """The built-in roles (view, edit, admin) an object's labels add it to."""
    labels = obj["metadata"].get("labels", {})
    return {k.removeprefix(AGGREGATE_TO) for k, v in labels.items() if k.startswith(AGGREGATE_TO) and v == "true"}


def user_roles(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ClusterRoles for people (rbac.aggregateToDefaultRoles), not for the operator."""
    return [o for o in objects if o["kind"] == "ClusterRole" and aggregated_to(o)]


def operator_rbac(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every object but the user roles: what the operator's own RBAC is checked on."""
    users = user_roles(objects)
    return [o for o in objects if o not in users]
