"""examples/ must be accepted by the API server: built-in kinds against the Kubernetes
schema (kubernetes-validate), ChannelCollections against the CRD's openAPIV3Schema and
its CEL rules."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable

import jsonschema
import kubernetes_validate
import pytest
import yaml

from conftest import ROOT

EXAMPLES = ROOT / "examples"
KUSTOMIZATION = EXAMPLES / "kustomization.yaml"
CRD = yaml.safe_load((ROOT / "crds" / "channelcollection.yaml").read_text())


def example_objects() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name == KUSTOMIZATION.name:
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return out


OBJECTS = example_objects()
COLLECTIONS = [(name, obj) for name, obj in OBJECTS if obj["kind"] == "ChannelCollection"]
BUILTIN = [(name, obj) for name, obj in OBJECTS if obj["kind"] != "ChannelCollection"]


def test_examples_cover_namespace_secrets_and_collections() -> None:
    assert {obj["kind"] for _, obj in OBJECTS} == {"Namespace", "Secret", "ChannelCollection"}
    assert len(COLLECTIONS) >= 2  # one on an interval, one on a cron schedule
    assert {("interval" in o["spec"], "schedule" in o["spec"]) for _, o in COLLECTIONS} == {
        (True, False),
        (False, True),
    }


def test_kustomization_applies_everything_but_the_secret_placeholders() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    files = {p.name for p in EXAMPLES.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert "secrets.yaml" not in resources
    assert set(resources) == files - {"secrets.yaml"}


@pytest.mark.parametrize(("name", "obj"), BUILTIN, ids=[n for n, _ in BUILTIN])
@pytest.mark.parametrize("kube_version", ["1.25", "1.33"])
def test_builtin_example_validates(name: str, obj: dict[str, Any], kube_version: str) -> None:
    kubernetes_validate.validate(obj, kube_version, strict=True)


# --- the CRD's schema as JSON Schema ----------------------------------------------------------


def crd_version() -> dict[str, Any]:
    (version,) = CRD["spec"]["versions"]
    return version


def strict_json_schema(node: Any) -> Any:
    """The openAPIV3Schema as a JSON Schema that, like `kubectl apply --validate=strict`,
    rejects unknown fields (the API server would otherwise prune them silently)."""
    if isinstance(node, list):
        return [strict_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("nullable"):
        out.pop("nullable")
        if "type" in out:
            out["type"] = [out["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def collection_schema() -> dict[str, Any]:
    schema = strict_json_schema(crd_version()["schema"]["openAPIV3Schema"])
    # apiVersion, kind and metadata are checked by the API server itself.
    schema["properties"]["apiVersion"] = {"const": f"{CRD['spec']['group']}/{crd_version()['name']}"}
    schema["properties"]["kind"] = {"const": CRD["spec"]["names"]["kind"]}
    schema["properties"]["metadata"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}},
    }
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata", "spec"})
    return schema


# --- the CRD's CEL rules ----------------------------------------------------------------------
# jsonschema cannot run CEL, so each rule the CRD carries is mirrored here; a rule the test
# does not know fails the test, so a new rule cannot go unchecked.


def go_duration_seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"([0-9]+)(s|m|h)", value)
    assert "".join(n + u for n, u in parts) == value, f"not a duration: {value}"
    return sum(int(n) * units[u] for n, u in parts)


CEL_RULES: dict[str, Callable[[Any], bool]] = {
    "(has(self.interval) && !has(self.schedule)) || (!has(self.interval) && has(self.schedule))": (
        lambda spec: ("interval" in spec) != ("schedule" in spec)
    ),
    "!has(self.timeZone) || has(self.schedule)": lambda spec: "timeZone" not in spec or "schedule" in spec,
    "duration(self) >= duration('1m')": lambda interval: go_duration_seconds(interval) >= 60,
    "(has(self.session) && !has(self.sessions)) || (!has(self.session) && has(self.sessions))": (
        lambda spec: ("session" in spec) != ("sessions" in spec)
    ),
    "self.all(a, self.exists_one(b, b.secretRef.name == a.secretRef.name && b.secretRef.key == a.secretRef.key))": (
        lambda sessions: all(
            sum(1 for b in sessions if b["secretRef"] == a["secretRef"]) == 1 for a in sessions
        )
    ),
    "!has(self.destination) || (has(self.destination.s3) && !has(self.destination.directory)) || (!has(self.destination.s3) && has(self.destination.directory))": (
        lambda media: "destination" not in media or (("s3" in media["destination"]) != ("directory" in media["destination"]))
    ),
    "self.kinds.all(k, self.kinds.exists_one(j, j == k))": lambda media: len(set(media["kinds"])) == len(media["kinds"]),
    "!has(self.destination) || !has(self.destination.directory) || !has(self.destination.directory.subPath) || !self.destination.directory.subPath.matches('^/|(^|/)[.][.](/|$)')": (
        lambda media: not re.search(
            r"^/|(^|/)[.][.](/|$)", media.get("destination", {}).get("directory", {}).get("subPath", "")
        )
    ),
}


def cel_violations(obj: dict[str, Any]) -> list[str]:
    """Messages of the CRD's CEL rules that `obj` breaks."""
    violations = []

    def walk(schema: dict[str, Any], value: Any) -> None:
        for rule in schema.get("x-kubernetes-validations", []):
            check = CEL_RULES.get(rule["rule"])
            assert check is not None, f"CEL rule not mirrored in this test: {rule['rule']}"
            if not check(value):
                violations.append(rule["message"])
        if isinstance(value, dict):
            for key, prop in schema.get("properties", {}).items():
                if key in value:
                    walk(prop, value[key])
        if isinstance(value, list) and "items" in schema:
            for item in value:
                walk(schema["items"], item)

    walk(crd_version()["schema"]["openAPIV3Schema"], obj)
    return violations


def validate_collection(obj: dict[str, Any]) -> list[str]:
    """Every reason the API server would refuse `obj` (empty when it would accept it)."""
    validator = jsonschema.Draft7Validator(collection_schema())
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]
    return errors or cel_violations(obj)


@pytest.mark.parametrize(("name", "obj"), COLLECTIONS, ids=[n for n, _ in COLLECTIONS])
def test_collection_example_validates_against_the_crd(name: str, obj: dict[str, Any]) -> None:
    assert validate_collection(obj) == []


def test_collection_example_uses_the_example_secrets() -> None:
    secrets = {obj["metadata"]["name"]: obj for _, obj in BUILTIN if obj["kind"] == "Secret"}
    for _, obj in COLLECTIONS:
        spec = obj["spec"]
        for entry in spec["sessions"] if "sessions" in spec else [spec["session"]]:
            session = entry["secretRef"]
            assert session["key"] in secrets[session["name"]]["stringData"]
            credentials = entry.get("apiCredentials", spec["apiCredentials"])["secretRef"]["name"]
            assert {"api_id", "api_hash"} <= secrets[credentials]["stringData"].keys()
        s3 = spec.get("media", {}).get("destination", {}).get("s3", {})
        if "credentialsSecret" in s3:
            keys = secrets[s3["credentialsSecret"]]["stringData"].keys()
            assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= keys
        database = spec.get("database", {"secretRef": {"name": "channel-collection-database", "key": "DATABASE_URL"}})
        assert database["secretRef"]["key"] in secrets[database["secretRef"]["name"]]["stringData"]
        assert obj["metadata"]["namespace"] == "telegram"


def mutated(change: Callable[[dict[str, Any]], None], name: str = "news") -> dict[str, Any]:
    (example,) = [obj for _, obj in COLLECTIONS if obj["metadata"]["name"] == name]
    obj = copy.deepcopy(example)
    change(obj)
    return obj


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda o: o["spec"].update(schedule="0 3 * * *"), "exactly one of spec.interval and spec.schedule"),
        (lambda o: o["spec"].pop("interval"), "exactly one of spec.interval and spec.schedule"),
        (lambda o: o["spec"].update(timeZone="Europe/Berlin"), "spec.timeZone only applies to spec.schedule"),
        (lambda o: o["spec"].update(interval="30s"), "spec.interval must be at least 1m"),
        (lambda o: o["spec"].update(interval="10 minutes"), "does not match"),
        (lambda o: o["spec"].update(channels=[]), "should be non-empty"),
        (lambda o: o["spec"].update(channels=["not a channel!"]), "does not match"),
        (lambda o: o["spec"].update(concurrencyPolicy="Allow"), "is not one of"),
        (lambda o: o["spec"].update(chanels=["@durov"]), "Additional properties are not allowed"),
        (lambda o: o["spec"]["session"]["secretRef"].pop("key"), "'key' is a required property"),
        (lambda o: o["spec"].update(backoffLimit=100), "is greater than the maximum"),
    ],
)
def test_bad_collections_are_refused(change, expected: str) -> None:
    errors = validate_collection(mutated(change))
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda o: o["spec"].update(session={"secretRef": {"name": "telegram-session", "key": "session"}}),
            "exactly one of spec.session and spec.sessions",
        ),
        (lambda o: o["spec"].pop("sessions"), "exactly one of spec.session and spec.sessions"),
        (lambda o: o["spec"].update(sessions=[]), "should be non-empty"),
        (
            lambda o: o["spec"]["sessions"].append(copy.deepcopy(o["spec"]["sessions"][0])),
            "spec.sessions must not list the same session Secret key twice",
        ),
        (
            lambda o: o["spec"].update(sessions=[o["spec"]["sessions"][0]] * 21),
            "is too long",
        ),
    ],
)
def test_bad_sharded_collections_are_refused(change, expected: str) -> None:
    errors = validate_collection(mutated(change, "busy"))
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda o: o["spec"]["media"]["destination"].update(directory={"persistentVolumeClaim": "media"}),
            "spec.media.destination must set exactly one of s3 and directory",
        ),
        (lambda o: o["spec"]["media"]["kinds"].append("photo"), "spec.media.kinds must not list a kind twice"),
        (
            lambda o: o["spec"]["media"].update(destination={"directory": {"persistentVolumeClaim": "m", "subPath": "../x"}}),
            "spec.media.destination.directory.subPath must be a relative path without '..'",
        ),
        (lambda o: o["spec"]["media"].update(maxFileSize="50MB"), "does not match"),
        (lambda o: o["spec"]["media"].update(kinds=["gif"]), "is not one of"),
        (lambda o: o["spec"]["media"]["destination"]["s3"].pop("bucket"), "'bucket' is a required property"),
    ],
)
def test_bad_media_collections_are_refused(change, expected: str) -> None:
    errors = validate_collection(mutated(change, "with-media"))
    assert any(expected in e for e in errors), errors


# --- no real secrets in the repository ------------------------------------------------------


@pytest.mark.parametrize("path", sorted(set(EXAMPLES.glob("*.yaml")) - {KUSTOMIZATION}), ids=lambda p: p.name)
def test_secrets_are_placeholders_only(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc or doc["kind"] != "Secret":
            continue
        assert "data" not in doc, "use stringData with placeholders, never encoded values"
        for key, value in doc["stringData"].items():
            assert "REPLACE" in value, f"{doc['metadata']['name']}.{key} must be a placeholder"
