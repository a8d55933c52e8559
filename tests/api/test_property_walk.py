"""No property of the API is accepted and silently ignored (F24, issue 12 item 9).

The walk reads every writable property of the real ``azure-mgmt-compute`` models for the newest
api-version — ``Gallery``, ``GalleryImage``, ``GalleryImageVersion`` and every model nested in them —
and sends each one, alone on top of a minimal valid body, to create a new resource. Each must be
either

- stored and returned: 201, and the created resource read back has the value that was sent; or
- refused: 400 ``InvalidParameter`` whose ``target`` is the property's path (or the path of the
  object holding it, for a whole feature the portal does not implement).

Accepted-and-dropped fails the walk with the property's path. The SDK release installed here
(azure-mgmt-compute 39, TypeSpec-generated) describes its models with ``rest_field`` visibilities
instead of the older ``_attribute_map``/``_validation`` pair: a field whose only visibility is
``read`` is what ``_validation[...]["readonly"]`` used to mark, and is skipped (servers fill those in).
"""

from __future__ import annotations

import copy
import enum
import json
import re
import typing

import pytest
from azure.mgmt.compute import models as sdk
from azure.mgmt.compute.models import _models as sdk_models

from accounts import tokens
from galleries import services
from galleries.api import arm_versions

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
FUTURE = "2031-01-02T03:04:05Z"


# --- The SDK's models -----------------------------------------------------------------------------------


def _model_base():
    from azure.mgmt.compute._utils.model_base import Model

    return Model


def _unwrap(hint):
    """Optional[X] / Union[str, SomeEnum] → the model or enum if there is one, else the plain type."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        special = [a for a in args if isinstance(a, type) and issubclass(a, _model_base() | enum.Enum)]
        return _unwrap(special[0] if special else args[0])
    return hint


def writable_leaves(cls, path: str = "", seen: tuple = ()) -> list[tuple[str, object]]:
    """(path, type) of every property of ``cls`` a client may send, nested models walked."""
    cls()  # the model computes its field table on first instantiation
    hints = typing.get_type_hints(cls, globalns=vars(sdk_models), localns={"_models": sdk})
    out = []
    for attr, field in cls._attr_to_rest_field.items():
        if field._visibility == ["read"]:
            continue  # read-only: the server's to fill in
        name = field._rest_name
        where = f"{path}.{name}" if path else name
        kind = _unwrap(hints[attr])
        model = _model_base()
        if isinstance(kind, type) and issubclass(kind, model):
            if kind not in seen:
                out += writable_leaves(kind, where, seen + (kind,))
        elif typing.get_origin(kind) is list:
            (item,) = typing.get_args(kind)
            item = _unwrap(item)
            if isinstance(item, type) and issubclass(item, model):
                if item not in seen:
                    out += writable_leaves(item, f"{where}[0]", seen + (item,))
            else:
                out.append((where, list[item]))
        else:
            out.append((where, kind))
    return out


def test_the_walk_sees_the_properties_it_is_about():
    """A guard on the walk itself: it finds the properties issue 12 named, and no read-only one."""
    versions = dict(writable_leaves(sdk.GalleryImageVersion))
    assert "properties.safetyProfile.blockDeletionBeforeEndOfLife" in versions
    assert "properties.safetyProfile.allowDeletionOfReplicatedLocations" in versions
    assert "properties.safetyProfile.reportedForPolicyViolation" not in versions
    assert "properties.publishingProfile.publishedDate" not in versions
    assert "properties.description" in dict(writable_leaves(sdk.Gallery))
    assert "properties.features[0].name" in dict(writable_leaves(sdk.GalleryImage))


# --- Bodies ---------------------------------------------------------------------------------------------

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list:
    return [name if name else int(index) for name, index in _STEP.findall(path)]


def get_path(value, path: str):
    for step in _steps(path):
        if isinstance(step, int):
            if not isinstance(value, list) or len(value) <= step:
                return None
        elif not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def set_path(body: dict, path: str, value) -> None:
    steps = _steps(path)
    here = body
    for step, after in zip(steps, steps[1:], strict=False):
        empty = [] if isinstance(after, int) else {}
        if isinstance(step, int):
            while len(here) <= step:
                here.append(copy.deepcopy(empty))
        elif step not in here:
            here[step] = empty
        here = here[step]
    last = steps[-1]
    if isinstance(last, int):
        while len(here) <= last:
            here.append(None)
    here[last] = value


def sample(kind) -> object:
    """Some well-formed value of ``kind`` (what the property holds when the walk has no better one)."""
    if typing.get_origin(kind) is list:
        return [sample(typing.get_args(kind)[0])]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return list(kind)[-1].value
    return {bool: True, int: 2, float: 2.5, dict: {"walked": "yes"}}.get(kind, "walked")


def _region_name(value) -> str:
    return str(value).replace(" ", "").lower()


#: Values the portal implements, per path: the walk sends these instead of ``sample`` so that an
#: implemented property gets past its rules and its round trip is checked.
VALUES: dict[str, object] = {
    "tags": {"walked": "yes"},
    "location": "westeurope",
    "properties.description": "Walked description",
    "properties.eula": "Walked licence",
    "properties.privacyStatementUri": "https://example.com/privacy",
    "properties.releaseNoteUri": "https://example.com/notes",
    "properties.osType": "Linux",
    "properties.osState": "Generalized",
    "properties.hyperVGeneration": "V2",
    "properties.endOfLifeDate": FUTURE,
    "properties.identifier.publisher": "Walker",
    "properties.identifier.offer": "WalkOffer",
    "properties.identifier.sku": "WalkSku",
    "properties.recommended.vCPUs.min": 1,
    "properties.recommended.vCPUs.max": 8,
    "properties.recommended.memory.min": 2,
    "properties.recommended.memory.max": 64,
    "properties.disallowed.diskTypes": ["Standard_LRS"],
    "properties.publishingProfile.targetRegions[0].name": "westeurope",
    "properties.publishingProfile.targetRegions[0].regionalReplicaCount": 2,
    "properties.publishingProfile.targetRegions[0].storageAccountType": "Premium_LRS",
    "properties.publishingProfile.targetRegions[0].excludeFromLatest": True,
    "properties.publishingProfile.replicaCount": 2,
    "properties.publishingProfile.excludeFromLatest": True,
    "properties.publishingProfile.endOfLifeDate": FUTURE,
    "properties.publishingProfile.storageAccountType": "Premium_LRS",
    "properties.storageProfile.osDiskImage.hostCaching": "ReadOnly",
    "properties.safetyProfile.allowDeletionOfReplicatedLocations": True,
    "properties.safetyProfile.blockDeletionBeforeEndOfLife": False,
}

#: Values compared other than by equality: (sent, returned) → same?
SAME: dict[str, typing.Callable] = {
    "properties.publishingProfile.targetRegions[0].name": lambda a, b: _region_name(a) == _region_name(b),
    "location": lambda a, b: _region_name(a) == _region_name(b),
}


def _same(path: str, sent, got) -> bool:
    if path in SAME:
        return SAME[path](sent, got)
    if isinstance(sent, str) and isinstance(got, str) and sent.startswith("/subscriptions/"):
        return sent.lower() == got.lower()  # ARM ids are case-insensitive
    return sent == got


# --- The walk -------------------------------------------------------------------------------------------


@pytest.fixture
def walk(client, user, caller, subscription, rg, gallery, definition, image, make_blob):
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}
    os_snapshot = services.create_snapshot(caller, rg, "os-snap", blob=make_blob(), os_type="Linux")
    data_snapshot = services.create_snapshot(caller, rg, "data-snap", blob=make_blob(virtual_mib=1))
    galleries = (
        f"/subscriptions/{subscription.guid}/resourceGroups/{rg.name}/providers/Microsoft.Compute/galleries"
    )
    n = {"i": 0}

    def version_storage(path: str) -> dict | None:
        """Properties of a disk that only mean something with snapshots as the source."""
        if path.startswith("properties.storageProfile.osDiskImage.source"):
            return {"osDiskImage": {"source": {"id": os_snapshot.arm_id}}}
        if path.startswith("properties.storageProfile.dataDiskImages"):
            return {
                "osDiskImage": {"source": {"id": os_snapshot.arm_id}},
                "dataDiskImages": [{"lun": 1, "hostCaching": "None", "source": {"id": data_snapshot.arm_id}}],
            }
        if path == "properties.storageProfile.source.id":
            return {"source": {"id": image.arm_id}}
        return None

    resources = {
        "Gallery": (
            lambda i: f"{galleries}/walk{i}",
            lambda i: {"location": "westeurope"},
        ),
        "GalleryImage": (
            lambda i: f"{galleries}/{gallery.name}/images/walk{i}",
            lambda i: {
                "location": "westeurope",
                "properties": {
                    "osType": "Linux",
                    "osState": "Generalized",
                    "identifier": {"publisher": "P", "offer": "O", "sku": f"S{i}"},
                },
            },
        ),
        "GalleryImageVersion": (
            lambda i: f"{galleries}/{gallery.name}/images/{definition.name}/versions/1.0.{i}",
            lambda i: {
                "location": "westeurope",
                "properties": {
                    "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
                    "storageProfile": {"source": {"id": image.arm_id}},
                },
            },
        ),
    }

    def send(kind: str, path: str, value_type) -> str | None:
        """Create a resource with ``path`` set; None if honoured, else what went wrong."""
        n["i"] += 1
        url, base = resources[kind]
        body = base(n["i"])
        storage = version_storage(path) if kind == "GalleryImageVersion" else None
        if storage is not None:
            body["properties"]["storageProfile"] = storage
        elif path.startswith("properties.purchasePlan."):  # a plan is its three names together
            body["properties"]["purchasePlan"] = {"name": "plan", "publisher": "pub", "product": "prod"}
        if get_path(body, path) is None:
            set_path(body, path, VALUES.get(path, sample(value_type)))
        sent = get_path(body, path)
        r = client.put(
            f"{url(n['i'])}?api-version={NEWEST}", json.dumps(body), content_type="application/json", **bearer
        )
        if r.status_code == 400:
            error = r.json()["error"]
            target = error.get("target") or ""
            named = target == path or path.startswith(f"{target}.") or path.startswith(f"{target}[")
            if error["code"] == "InvalidParameter" and named and target not in ("", "properties"):
                return None  # refused, by name
            return f"{path}: refused without naming it: {error}"
        if r.status_code not in (200, 201):
            return f"{path}: answered {r.status_code}: {r.content[:300]!r}"
        got = get_path(client.get(f"{url(n['i'])}?api-version={NEWEST}", **bearer).json(), path)
        if not _same(path, sent, got):
            return f"{path}: accepted and dropped (sent {sent!r}, read back {got!r})"
        return None

    return send


@pytest.mark.parametrize("model", ["Gallery", "GalleryImage", "GalleryImageVersion"])
def test_every_writable_property_is_stored_and_returned_or_refused_by_name(walk, model):
    leaves = writable_leaves(getattr(sdk, model))
    assert len(leaves) > 5
    problems = [problem for path, kind in leaves if (problem := walk(model, path, kind))]
    assert not problems, "\n".join(problems)
