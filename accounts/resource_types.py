"""The ARM type → model map, so a generic Resource row can be turned into its concrete model."""

from django.apps import apps

_MODELS = {
    "Microsoft.Resources/subscriptions": "accounts.Subscription",
    "Microsoft.Resources/resourceGroups": "accounts.ResourceGroup",
    "Microsoft.Compute/images": "galleries.ManagedImage",
    "Microsoft.Compute/snapshots": "galleries.Snapshot",
    "Microsoft.Compute/galleries": "galleries.Gallery",
    "Microsoft.Compute/galleries/images": "galleries.GalleryImage",
    "Microsoft.Compute/galleries/images/versions": "galleries.GalleryImageVersion",
}


def model_for_type(arm_type: str):
    return apps.get_model(_MODELS[arm_type])
