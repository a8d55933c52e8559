"""The choice lists of the galleries' models (OS type and state, Hyper-V generation, storage and
disk SKUs), below every model module so each can use them."""

from django.db import models


class OsType(models.TextChoices):
    WINDOWS = "Windows"
    LINUX = "Linux"


class OsState(models.TextChoices):
    GENERALIZED = "Generalized"
    SPECIALIZED = "Specialized"


class HyperVGeneration(models.TextChoices):
    V1 = "V1"
    V2 = "V2"


class SecurityType(models.TextChoices):
    """The values of an image definition's ``SecurityType`` feature this portal implements (the rest,
    ConfidentialVM and friends, are F23). ``Standard`` is no feature at all: az drops
    ``--features SecurityType=Standard`` before sending (azure-cli ``COMPATIBLE_SECURITY_TYPE_VALUE``)."""

    TRUSTED_LAUNCH_SUPPORTED = "TrustedLaunchSupported", "Trusted launch supported"
    TRUSTED_LAUNCH = "TrustedLaunch", "Trusted launch"


class StorageAccountType(models.TextChoices):
    STANDARD_LRS = "Standard_LRS"
    STANDARD_ZRS = "Standard_ZRS"
    PREMIUM_LRS = "Premium_LRS"


class HostCaching(models.TextChoices):
    """ARM's ``HostCaching`` of a gallery image's disk (``GalleryDiskImage.hostCaching``): the caching of
    the disk a VM made from the image gets."""

    NONE = "None"
    READ_ONLY = "ReadOnly"
    READ_WRITE = "ReadWrite"


class DiskType(models.TextChoices):
    """Managed disk SKUs a definition may disallow (F6) and a deployment may ask for (F10)."""

    STANDARD_LRS = "Standard_LRS"
    STANDARD_SSD_LRS = "StandardSSD_LRS"
    PREMIUM_LRS = "Premium_LRS"
    ULTRA_SSD_LRS = "UltraSSD_LRS"
    STANDARD_SSD_ZRS = "StandardSSD_ZRS"
    PREMIUM_ZRS = "Premium_ZRS"
    PREMIUM_V2_LRS = "PremiumV2_LRS"
