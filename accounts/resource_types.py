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
    "Microsoft.Compute/virtualMachines": "galleries.VirtualMachine",
    "Microsoft.Compute/virtualMachineScaleSets": "galleries.VirtualMachineScaleSet",
}


#: What the portal calls each type (as the Azure portal does).
TYPE_LABELS = {
    "Microsoft.Resources/subscriptions": "Subscription",
    "Microsoft.Resources/resourceGroups": "Resource group",
    "Microsoft.Compute/images": "Image",
    "Microsoft.Compute/snapshots": "Snapshot",
    "Microsoft.Compute/galleries": "Azure compute gallery",
    "Microsoft.Compute/galleries/images": "VM image definition",
    "Microsoft.Compute/galleries/images/versions": "VM image version",
    "Microsoft.Compute/virtualMachines": "Virtual machine",
    "Microsoft.Compute/virtualMachineScaleSets": "Virtual machine scale set",
}


def model_for_type(arm_type: str):
    return apps.get_model(_MODELS[arm_type])
