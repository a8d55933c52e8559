"""Image definitions (F6): create, update, delete."""

from __future__ import annotations

from accounts.activity import Caller, change
from accounts.services import in_future, name_taken, new_resource, require_enabled, touch, validate_tags
from portal.core import limits
from portal.core.errors import ServiceError

from ..models import (
    DiskType,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    HyperVGeneration,
    OsState,
    OsType,
    SecurityType,
    UsageCounter,
)
from ..regions import resolve_region
from ..usage import reserve
from .checks import (
    CHILD_NAME,
    IDENTIFIER_VALUE,
    MAX_INT32,
    arm_op,
    check_choice,
    check_count,
    check_name,
    check_url,
    delete_when_empty,
    immutable_changes,
)

# --- Image definitions (F6) --------------------------------------------------------------------------

DEFINITION_PATHS = {
    "publisher": "properties.identifier.publisher",
    "offer": "properties.identifier.offer",
    "sku": "properties.identifier.sku",
    "os_type": "properties.osType",
    "os_state": "properties.osState",
    "hyper_v_generation": "properties.hyperVGeneration",
    "description": "properties.description",
    "eula": "properties.eula",
    "privacy_statement_uri": "properties.privacyStatementUri",
    "release_note_uri": "properties.releaseNoteUri",
    "end_of_life_date": "properties.endOfLifeDate",
    "min_vcpus": "properties.recommended.vCPUs.min",
    "max_vcpus": "properties.recommended.vCPUs.max",
    "min_memory_gb": "properties.recommended.memory.min",
    "max_memory_gb": "properties.recommended.memory.max",
    "disallowed_disk_types": "properties.disallowed.diskTypes",
    "plan_name": "properties.purchasePlan.name",
    "plan_publisher": "properties.purchasePlan.publisher",
    "plan_product": "properties.purchasePlan.product",
    "lifecycle_policy": "properties.lifecyclePolicy",
    "lifecycle_keep_deployed": "properties.lifecycleKeepDeployed",
    "features": "properties.features",
    "location": "location",
    "tags": "tags",
}
DEFINITION_MUTABLE = {
    "lifecycle_policy",
    "lifecycle_keep_deployed",
    "min_vcpus",
    "max_vcpus",
    "min_memory_gb",
    "max_memory_gb",
    "description",
    "end_of_life_date",
    "release_note_uri",
    "tags",
}


#: Image features Azure documents for a definition (learn.microsoft.com, "Store and share images in an
#: Azure Compute Gallery", image definitions; azure-cli ``--features`` help) that the portal does not
#: implement yet: refused by name (F23), never stored and ignored.
LATER_FEATURES = (
    "IsAcceleratedNetworkSupported",
    "DiskControllerTypes",
    "IsHibernateSupported",
    "IsSecureBootSupported",
    "IsMeasuredBootSupported",
)
#: SecurityType values Azure has that the portal does not implement yet (confidential VMs, F23).
LATER_SECURITY_TYPES = (
    "ConfidentialVM",
    "ConfidentialVMSupported",
    "TrustedLaunchAndConfidentialVmSupported",
)
#: What the portal implements, for the messages.
IMPLEMENTED_FEATURES = "the SecurityType feature with the value TrustedLaunchSupported or TrustedLaunch"


def _clean_features(value) -> list[dict]:
    """``properties.features`` → ``[{"name": "SecurityType", "value": …}]`` (Azure's spelling), or a
    refusal naming ``properties.features[i]``: a feature or value the portal does not implement is
    "not supported yet" (F23), not stored and ignored."""
    path = DEFINITION_PATHS["features"]
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ServiceError.invalid(path, f"'{path}' must be a list of {{name, value}} objects.")
    out: list[dict] = []
    for i, item in enumerate(value):
        at = f"{path}[{i}]"
        if not isinstance(item, dict):
            raise ServiceError.invalid(at, f"'{at}' must be an object with a name and a value.")
        for key in sorted(k for k, v in item.items() if k not in ("name", "value") and v is not None):
            if key == "startsAtVersion":
                raise ServiceError.invalid(
                    f"{at}.startsAtVersion",
                    f"'{at}.startsAtVersion' is not supported yet (F23): a feature here applies to every "
                    "version of the definition.",
                )
            raise ServiceError.invalid(f"{at}.{key}", f"'{at}.{key}' is not a property of an image feature.")
        name, val = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name or not isinstance(val, str) or not val:
            raise ServiceError.invalid(at, f"'{at}' needs a name and a value, both text.")
        if name.lower() != "securitytype":
            known = next((f for f in LATER_FEATURES if f.lower() == name.lower()), None)
            what = (
                f"The image feature '{known}'"
                if known
                else f"'{limits.quote(name)}' is no image feature Azure has; it"
            )
            raise ServiceError.invalid(
                at,
                f"{what} ({at}) is not supported yet (F23): the portal implements only {IMPLEMENTED_FEATURES}.",
            )
        if any(f["name"] == "SecurityType" for f in out):
            raise ServiceError.invalid(at, f"The SecurityType feature is listed twice ({at}).")
        if val.lower() == "standard":
            raise ServiceError.invalid(
                at,
                f"SecurityType 'Standard' ({at}) is no feature value: a standard definition has no SecurityType "
                "feature (az leaves '--features SecurityType=Standard' out of the request for the same reason).",
            )
        later = next((v for v in LATER_SECURITY_TYPES if v.lower() == val.lower()), None)
        if later:
            raise ServiceError.invalid(
                at,
                f"SecurityType '{later}' ({at}) is not supported yet (F23): the portal implements only "
                f"{IMPLEMENTED_FEATURES}.",
            )
        value_ = check_choice(val, SecurityType, at, "SecurityType")
        out.append({"name": "SecurityType", "value": value_})
    return out


def _check_security_generation(features: list[dict], generation: str) -> None:
    """A Trusted launch (or Trusted-launch-supported) image is a generation 2 image: Azure's security
    types need UEFI boot, which only V2 has (learn.microsoft.com, "Trusted launch for Azure virtual
    machines": "Azure offers trusted launch as a seamless way to improve the security of generation 2
    VMs")."""
    for i, feature in enumerate(features):
        if feature["name"] == "SecurityType" and generation != HyperVGeneration.V2:
            raise ServiceError.invalid(
                DEFINITION_PATHS["hyper_v_generation"],
                f"An image definition with SecurityType '{feature['value']}' "
                f"({DEFINITION_PATHS['features']}[{i}]) must be Hyper-V generation V2, not {generation}: "
                "trusted launch needs a generation 2 (UEFI) image.",
            )


def _clean_definition_fields(values: dict, *, new: bool) -> dict:
    """Validate the definition's properties; ``values`` holds only the keys being set."""
    P = DEFINITION_PATHS
    out = dict(values)
    for key, limit in (("publisher", limits.PUBLISHER), ("offer", limits.OFFER), ("sku", limits.SKU)):
        if key in values:
            v = values[key]
            if not isinstance(v, str) or not v:
                raise ServiceError.invalid(P[key], f"The {key} is required (part of the image identifier).")
            v = limits.text(v, limit, P[key], key)
            if not IDENTIFIER_VALUE.fullmatch(v):
                raise ServiceError.invalid(
                    P[key],
                    f"The {key} '{limits.quote(v)}' is invalid: use letters, digits, hyphens, underscores and "
                    "periods.",
                )
    if "os_type" in values:
        out["os_type"] = check_choice(values["os_type"], OsType, P["os_type"], "OS type")
    if "os_state" in values:
        out["os_state"] = check_choice(values["os_state"], OsState, P["os_state"], "OS state")
    if "hyper_v_generation" in values:
        out["hyper_v_generation"] = check_choice(
            values["hyper_v_generation"], HyperVGeneration, P["hyper_v_generation"], "Hyper-V generation"
        )
    for key, what in (
        ("privacy_statement_uri", "privacy statement URI"),
        ("release_note_uri", "release notes URI"),
    ):
        if key in values:
            out[key] = check_url(values[key] or "", P[key], what)
    if "end_of_life_date" in values:
        out["end_of_life_date"] = in_future(values["end_of_life_date"], P["end_of_life_date"])
    for key, what in (
        ("min_vcpus", "minimum recommended vCPUs"),
        ("max_vcpus", "maximum recommended vCPUs"),
        ("min_memory_gb", "minimum recommended memory (GB)"),
        ("max_memory_gb", "maximum recommended memory (GB)"),
    ):
        if key in values:
            out[key] = check_count(values[key], P[key], what, 1, MAX_INT32)
    if "disallowed_disk_types" in values:
        types = values["disallowed_disk_types"] or []
        if not isinstance(types, list | tuple):
            raise ServiceError.invalid(P["disallowed_disk_types"], "Disallowed disk types must be a list.")
        cleaned = [check_choice(t, DiskType, P["disallowed_disk_types"], "disk type") for t in types]
        if len(set(cleaned)) != len(cleaned):
            raise ServiceError.invalid(
                P["disallowed_disk_types"], "A disk type is listed twice in the disallowed disk types."
            )
        out["disallowed_disk_types"] = cleaned
    for key, limit in (
        ("description", limits.DESCRIPTION),
        ("eula", limits.EULA),
        ("plan_name", limits.PURCHASE_PLAN),
        ("plan_publisher", limits.PURCHASE_PLAN),
        ("plan_product", limits.PURCHASE_PLAN),
    ):
        if key in values:
            what = {"eula": "EULA", "description": "description"}.get(key, key.replace("_", " "))
            out[key] = limits.text(values[key], limit, P[key], what)
    if values.get("lifecycle_policy") is not None:
        out["lifecycle_policy"] = check_choice(
            values["lifecycle_policy"],
            GalleryImage.LifecyclePolicy,
            P["lifecycle_policy"],
            "lifecycle policy",
        )
    elif "lifecycle_policy" in values:
        out.pop("lifecycle_policy")
    if values.get("lifecycle_keep_deployed") is not None:
        if not isinstance(values["lifecycle_keep_deployed"], bool):
            raise ServiceError.invalid(
                P["lifecycle_keep_deployed"],
                "Whether the lifecycle keeps versions that deployments came from is true or false.",
            )
    elif "lifecycle_keep_deployed" in values:
        out.pop("lifecycle_keep_deployed")
    if "tags" in values:
        out["tags"] = validate_tags(values["tags"])
    if "features" in values:
        out["features"] = _clean_features(values["features"])
    plan = [values.get(k) for k in ("plan_name", "plan_publisher", "plan_product")]
    if new and any(plan) and not all(plan):
        missing = [k for k, v in zip(("name", "publisher", "product"), plan, strict=True) if not v][0]
        raise ServiceError.invalid(
            f"properties.purchasePlan.{missing}",
            "A purchase plan needs its name, publisher and product together.",
        )
    return out


def _same_value(current, new) -> bool:
    """Equal as ARM compares them: strings and lists of strings ignore case."""
    if isinstance(current, str) and isinstance(new, str):
        return current.casefold() == new.casefold()
    if isinstance(current, list | tuple) and isinstance(new, list | tuple):
        return sorted(str(x).casefold() for x in current) == sorted(str(x).casefold() for x in new)
    return current == new


def _check_min_max(obj: GalleryImage) -> None:
    for low, high, what in (
        ("min_vcpus", "max_vcpus", "vCPUs"),
        ("min_memory_gb", "max_memory_gb", "memory"),
    ):
        lo, hi = getattr(obj, low), getattr(obj, high)
        if lo is not None and hi is not None and lo > hi:
            raise ServiceError.invalid(
                DEFINITION_PATHS[low],
                f"The minimum recommended {what} ({lo}) is greater than the maximum ({hi}).",
            )


def create_definition(
    caller: Caller,
    gallery: Gallery,
    name: str,
    *,
    publisher: str,
    offer: str,
    sku: str,
    os_type: str,
    os_state: str,
    location=None,
    tags=None,
    **props,
) -> GalleryImage:
    arm_id = f"{gallery.arm_id}/images/{name}"
    with change(caller, arm_op(GalleryImage, "write"), scope=gallery, arm_id=arm_id) as ch:
        unknown = set(props) - set(DEFINITION_PATHS)
        if unknown:
            raise ServiceError.invalid(
                sorted(unknown)[0], f"'{sorted(unknown)[0]}' is not a property of an image definition."
            )
        check_name(
            name,
            CHILD_NAME,
            "image definition",
            "use letters, digits, hyphens, underscores and periods; start with a letter or digit and do not "
            "end with a period or hyphen.",
        )
        values = _clean_definition_fields(
            {
                "publisher": publisher,
                "offer": offer,
                "sku": sku,
                "os_type": os_type,
                "os_state": os_state,
                "tags": tags,
                **props,
            },
            new=True,
        )
        _check_security_generation(
            values.get("features") or [],
            values.get("hyper_v_generation") or GalleryImage._meta.get_field("hyper_v_generation").default,
        )
        region = resolve_region(location, "location") if location else gallery.location
        subscription = gallery.subscription
        require_enabled(subscription)
        if name_taken(gallery, GalleryImage.ARM_TYPE, name):
            raise ServiceError.conflict(
                f"The gallery '{gallery.name}' already has an image definition named '{name}'.", "name"
            )
        clash = GalleryImage.objects.filter(
            identifier_key=GalleryImage.make_identifier_key(
                gallery.pk, values["publisher"], values["offer"], values["sku"]
            )
        ).first()
        if clash:
            raise ServiceError.conflict(
                f"The image definition '{clash.name}' in this gallery already has publisher '{clash.publisher}', "
                f"offer '{clash.offer}' and SKU '{clash.sku}'; each definition needs its own combination.",
                "properties.identifier",
            )
        reserve(subscription, region, UsageCounter.Kind.DEFINITIONS)
        tags = values.pop("tags")
        definition = new_resource(
            GalleryImage,
            caller,
            parent=gallery,
            arm_id=arm_id,
            name=name,
            location=region,
            tags=tags,
            hidden=True,
            identifier_key=GalleryImage.make_identifier_key(
                gallery.pk, values["publisher"], values["offer"], values["sku"]
            ),
            **values,
        )
        _check_min_max(definition)
        ch.conflict_message = (
            f"The gallery '{gallery.name}' already has an image definition named '{name}' or with "
            "the same publisher, offer and SKU."
        )
        ch.resource = definition
        definition.save()
    return definition


def update_definition(caller: Caller, definition: GalleryImage, **changes) -> GalleryImage:
    with change(caller, arm_op(GalleryImage, "write"), resource=definition):
        for key, value in immutable_changes(
            changes, DEFINITION_PATHS, DEFINITION_MUTABLE, "an image definition"
        ):
            if key == "location":
                same = resolve_region(value).pk == definition.location_id
            else:
                cleaned = _clean_definition_fields({key: value}, new=False).get(key, value)
                same = _same_value(getattr(definition, key), cleaned)
            if not same and key == "features":
                raise ServiceError.immutable(
                    DEFINITION_PATHS[key],
                    f"The features ('{DEFINITION_PATHS[key]}') of an image definition cannot change after "
                    "creation: Azure changes them only when 'properties.allowUpdateImage' is true (api-version "
                    "2024-03-03 and later), which is not supported yet (F23).",
                )
            if not same:
                raise ServiceError.immutable(
                    DEFINITION_PATHS[key],
                    f"The property '{DEFINITION_PATHS[key]}' of an image definition cannot change after creation; only "
                    "the recommended vCPUs and memory, description, end-of-life date, release notes URI and tags can.",
                )
        mutable = {k: v for k, v in changes.items() if k in DEFINITION_MUTABLE}
        if "end_of_life_date" in mutable and mutable["end_of_life_date"] == definition.end_of_life_date:
            mutable.pop("end_of_life_date")  # re-sending the current value is not a change
        for key, value in _clean_definition_fields(mutable, new=False).items():
            setattr(definition, key, value)
        _check_min_max(definition)
        touch(definition, caller)
        definition.save()
    return definition


def delete_definition(caller: Caller, definition: GalleryImage) -> None:
    versions = GalleryImageVersion.objects.filter(definition=definition)
    delete_when_empty(
        caller, definition, versions, "image definition", "version(s)", UsageCounter.Kind.DEFINITIONS
    )
