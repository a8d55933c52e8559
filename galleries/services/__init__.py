"""The service layer for images and galleries: every rule of F4–F8 and F15 lives here, once.

Pages, the API and Celery tasks all call these functions. Each refusal is a ``ServiceError`` with
an ARM code, the property path (``target``) and a message a person understands; each write runs in
one transaction through ``accounts.activity.change`` and leaves an activity-log entry.

One module per resource — ``galleries``, ``definitions``, ``versions``, ``latest``, ``uploads``
(VHD uploads and blobs), ``sources`` (managed images and snapshots) — over ``checks``, the shared
checks (names, choices, counts, target regions) that ``galleries.costs`` and
``galleries.deployments`` use as well. The per-subscription limits are ``galleries.usage`` and the
end of a version's deletion is ``galleries.replication``'s (both below this package). Callers use
``services.X``; every name they use is re-exported here.
"""

from ..regions import resolve_region
from ..replication import finish_version_deletion
from ..usage import reconcile_usage, usage
from .checks import (
    BLOB_NAME,
    CHILD_NAME,
    CHILD_NAME_RULE,
    CONTAINER_NAME,
    GALLERY_NAME,
    IDENTIFIER_VALUE,
    MAX_INT32,
    MAX_LUN,
    MAX_NAME,
    MAX_REPLICAS,
    PP,
    TARGET_REGIONS,
    VERSION_NAME,
    Target,
    TargetRegionSpec,
    arm_op,
    check_choice,
    check_count,
    check_luns,
    check_name,
    check_url,
    clean_targets,
    end_of_life_kept,
    end_of_life_on,
    get_resource,
)
from .definitions import (
    DEFINITION_MUTABLE,
    DEFINITION_PATHS,
    create_definition,
    delete_definition,
    update_definition,
)
from .galleries import GALLERY_PATHS, create_gallery, delete_gallery, update_gallery
from .latest import LATEST_FIRST, latest_by_region, latest_candidates, latest_version
from .sources import create_managed_image, create_snapshot, delete_managed_image, delete_snapshot
from .uploads import _hashers, discard_upload, register_blob, start_upload, upload_chunk
from .versions import (
    VERSION_MUTABLE,
    VERSION_PATHS,
    check_safety_profile,
    create_version,
    delete_version,
    parse_version_name,
    plan_targets,
    retry_failed_regions,
    source_region,
    update_version,
)

__all__ = [
    "BLOB_NAME",
    "CHILD_NAME",
    "CHILD_NAME_RULE",
    "CONTAINER_NAME",
    "DEFINITION_MUTABLE",
    "DEFINITION_PATHS",
    "GALLERY_NAME",
    "GALLERY_PATHS",
    "IDENTIFIER_VALUE",
    "LATEST_FIRST",
    "MAX_INT32",
    "MAX_LUN",
    "MAX_NAME",
    "MAX_REPLICAS",
    "PP",
    "TARGET_REGIONS",
    "VERSION_MUTABLE",
    "VERSION_NAME",
    "VERSION_PATHS",
    "Target",
    "TargetRegionSpec",
    "_hashers",
    "arm_op",
    "check_choice",
    "check_count",
    "check_luns",
    "check_name",
    "check_safety_profile",
    "check_url",
    "clean_targets",
    "create_definition",
    "create_gallery",
    "create_managed_image",
    "create_snapshot",
    "create_version",
    "delete_definition",
    "delete_gallery",
    "delete_managed_image",
    "delete_snapshot",
    "delete_version",
    "discard_upload",
    "end_of_life_kept",
    "end_of_life_on",
    "finish_version_deletion",
    "get_resource",
    "latest_by_region",
    "latest_candidates",
    "latest_version",
    "parse_version_name",
    "plan_targets",
    "reconcile_usage",
    "register_blob",
    "resolve_region",
    "retry_failed_regions",
    "source_region",
    "start_upload",
    "update_definition",
    "update_gallery",
    "update_version",
    "upload_chunk",
    "usage",
]
