"""The ClusterRoles that add ChannelCollections to Kubernetes' built-in view, edit and admin roles.

They are for people, not for the operator: nothing in the chart binds them, and the
operator's own RBAC (test_chart.py, exactly operator/rbac.json) is checked without them.
Schema validation of every rendered object, these included, is test_chart.py's
test_every_rendered_object_validates (the default variant renders them)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import (
    VARIANTS,
    aggregated_to,
    grants,
    of_kind,
    operator_rbac,
    render,
    user_roles,
)

GROUP = "collection.mtproto.dev"
COLLECTIONS = "channelcollections"
STATUS = "channelcollections/status"
READ = {"get", "list", "watch"}
WRITE = {"create", "update", "patch", "delete", "deletecollection"}


def by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in user_roles(objects)}


def role(objects: list[dict[str, Any]], suffix: str) -> dict[str, Any]:
    return by_name(objects)[f"cco-channel-collection-operator-{suffix}"]


def triples(resources: set[str], verbs: set[str]) -> set[tuple[str, str, str]]:
    return {(GROUP, r, v) for r in resources for v in verbs}


# --- rendered, and where they aggregate -------------------------------------------------------


@pytest.mark.parametrize("variant", ["default", "namespace-scoped", "everything"])
def test_user_roles_aggregate_into_the_built_in_roles(chart, variant: str) -> None:
    # In both watch scopes: who may use ChannelCollections does not depend on what the
    # operator watches.
    objects = render(chart, VARIANTS[variant])
    roles = by_name(objects)
    assert set(roles) == {"cco-channel-collection-operator-view", "cco-channel-collection-operator-edit"}
    assert aggregated_to(role(objects, "view")) == {"view"}
    # Edit's writes reach admin too; never view, whose holders must not write.
    assert aggregated_to(role(objects, "edit")) == {"edit", "admin"}
    for r in roles.values():
        assert r["kind"] == "ClusterRole"
        assert r["metadata"]["labels"]["app.kubernetes.io/instance"] == "cco"
        # Plain rules: an aggregationRule would make the controller overwrite them.
        assert "aggregationRule" not in r
        assert "namespace" not in r["metadata"]


def test_user_roles_can_be_turned_off(chart) -> None:
    on = render(chart, {})
    off = render(chart, {"rbac": {"aggregateToDefaultRoles": False}})
    assert user_roles(off) == []
    # Nothing else changes: the operator's own RBAC is the same either way.
    assert off == operator_rbac(on)


def test_no_user_roles_without_rbac(chart) -> None:
    assert user_roles(render(chart, {"rbac": {"create": False, "aggregateToDefaultRoles": True}})) == []


# --- what they grant --------------------------------------------------------------------------


def test_view_only_reads_collections_and_their_status(chart) -> None:
    view = role(render(chart, {}), "view")
    assert grants(view["rules"]) == triples({COLLECTIONS, STATUS}, READ)


def test_edit_writes_collections_but_not_their_status(chart) -> None:
    edit = role(render(chart, {}), "edit")
    granted = grants(edit["rules"])
    # The reads are repeated so that the role stands on its own.
    assert granted == triples({COLLECTIONS, STATUS}, READ) | triples({COLLECTIONS}, WRITE)
    # The status is the operator's report: only it writes there.
    assert {verb for _, resource, verb in granted if resource == STATUS} == READ


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_user_roles_grant_nothing_but_collections(chart, variant: str) -> None:
    for r in user_roles(render(chart, VARIANTS[variant])):
        # grants() refuses wildcards, resourceNames and nonResourceURLs.
        granted = grants(r["rules"])
        assert granted, r["metadata"]["name"]
        assert {(g, res) for g, res, _ in granted} <= {(GROUP, COLLECTIONS), (GROUP, STATUS)}
        assert not any(res == "secrets" for _, res, _ in granted)


# --- kept apart from the operator's RBAC ---------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_operator_role_is_never_aggregated(chart, variant: str) -> None:
    # Labelled for aggregation, the operator's role would hand every `edit` user its
    # rights (create Jobs, write any collection's status).
    objects = render(chart, VARIANTS[variant])
    bindings = of_kind(objects, "RoleBinding") + of_kind(objects, "ClusterRoleBinding")
    bound = {(b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings}
    for obj in objects:
        if (obj["kind"], obj["metadata"]["name"]) in bound:
            assert not aggregated_to(obj), f"{obj['kind']}/{obj['metadata']['name']}"
    # And nothing binds the user roles: the built-in roles pick them up by their labels.
    assert not bound & {("ClusterRole", name) for name in by_name(objects)}
