"""Seed the cloud and region catalogue (F3).

Source regions are the seed document's table; every other public region is a target only.
Availability zones follow the public catalogue; Australia Central and Australia Central 2 are
restricted (a subscription must be allowed first). The sovereign clouds are kept apart.
"""

from django.db import migrations

CLOUDS = [
    ("public", "Azure public"),
    ("china", "Azure China (21Vianet)"),
    ("usgov", "Azure US Government"),
    ("germany", "Azure Germany"),
]

# name, display name, cloud, source region?, availability zones?, restricted?
REGIONS = [
    # Public cloud: the seed's source regions.
    ("australiacentral", "Australia Central", "public", True, False, True),
    ("australiacentral2", "Australia Central 2", "public", True, False, True),
    ("australiaeast", "Australia East", "public", True, True, False),
    ("australiasoutheast", "Australia Southeast", "public", True, False, False),
    ("brazilsouth", "Brazil South", "public", True, True, False),
    ("canadacentral", "Canada Central", "public", True, True, False),
    ("canadaeast", "Canada East", "public", True, False, False),
    ("centralindia", "Central India", "public", True, True, False),
    ("centralus", "Central US", "public", True, True, False),
    ("centraluseuap", "Central US EUAP", "public", True, False, False),
    ("eastasia", "East Asia", "public", True, True, False),
    ("eastus", "East US", "public", True, True, False),
    ("eastus2", "East US 2", "public", True, True, False),
    ("eastus2euap", "East US 2 EUAP", "public", True, True, False),
    ("francecentral", "France Central", "public", True, True, False),
    ("francesouth", "France South", "public", True, False, False),
    ("japaneast", "Japan East", "public", True, True, False),
    ("japanwest", "Japan West", "public", True, False, False),
    ("koreacentral", "Korea Central", "public", True, True, False),
    ("koreasouth", "Korea South", "public", True, False, False),
    ("northcentralus", "North Central US", "public", True, False, False),
    ("northeurope", "North Europe", "public", True, True, False),
    ("southcentralus", "South Central US", "public", True, True, False),
    ("southeastasia", "Southeast Asia", "public", True, True, False),
    ("southindia", "South India", "public", True, False, False),
    ("uksouth", "UK South", "public", True, True, False),
    ("ukwest", "UK West", "public", True, False, False),
    ("westcentralus", "West Central US", "public", True, False, False),
    ("westeurope", "West Europe", "public", True, True, False),
    ("westindia", "West India", "public", True, False, False),
    ("westus", "West US", "public", True, False, False),
    ("westus2", "West US 2", "public", True, True, False),
    # Public cloud: targets only.
    ("westus3", "West US 3", "public", False, True, False),
    ("brazilsoutheast", "Brazil Southeast", "public", False, False, False),
    ("germanywestcentral", "Germany West Central", "public", False, True, False),
    ("germanynorth", "Germany North", "public", False, False, False),
    ("switzerlandnorth", "Switzerland North", "public", False, True, False),
    ("switzerlandwest", "Switzerland West", "public", False, False, False),
    ("norwayeast", "Norway East", "public", False, True, False),
    ("norwaywest", "Norway West", "public", False, False, False),
    ("swedencentral", "Sweden Central", "public", False, True, False),
    ("polandcentral", "Poland Central", "public", False, True, False),
    ("italynorth", "Italy North", "public", False, True, False),
    ("spaincentral", "Spain Central", "public", False, True, False),
    ("southafricanorth", "South Africa North", "public", False, True, False),
    ("southafricawest", "South Africa West", "public", False, False, False),
    ("uaenorth", "UAE North", "public", False, True, False),
    ("uaecentral", "UAE Central", "public", False, False, False),
    ("qatarcentral", "Qatar Central", "public", False, True, False),
    ("israelcentral", "Israel Central", "public", False, True, False),
    ("mexicocentral", "Mexico Central", "public", False, True, False),
    ("jioindiawest", "Jio India West", "public", False, False, False),
    # Azure China.
    ("chinaeast", "China East", "china", True, False, False),
    ("chinaeast2", "China East 2", "china", True, False, False),
    ("chinanorth", "China North", "china", True, False, False),
    ("chinanorth2", "China North 2", "china", True, False, False),
    ("chinaeast3", "China East 3", "china", False, False, False),
    ("chinanorth3", "China North 3", "china", False, True, False),
    # Azure US Government (including DoD).
    ("usdodcentral", "US DoD Central", "usgov", True, False, False),
    ("usdodeast", "US DoD East", "usgov", True, False, False),
    ("usgovarizona", "US Gov Arizona", "usgov", True, False, False),
    ("usgovtexas", "US Gov Texas", "usgov", True, False, False),
    ("usgovvirginia", "US Gov Virginia", "usgov", True, True, False),
    ("usgoviowa", "US Gov Iowa", "usgov", False, False, False),
    # Azure Germany (closed to new sources in the seed's table: targets only).
    ("germanycentral", "Germany Central", "germany", False, False, False),
    ("germanynortheast", "Germany Northeast", "germany", False, False, False),
]


def seed(apps, schema_editor):
    Cloud = apps.get_model("galleries", "Cloud")
    Region = apps.get_model("galleries", "Region")
    clouds = {}
    for name, display in CLOUDS:
        clouds[name], _ = Cloud.objects.update_or_create(name=name, defaults={"display_name": display})
    for name, display, cloud, source, zones, restricted in REGIONS:
        Region.objects.update_or_create(
            name=name,
            defaults={
                "display_name": display,
                "cloud": clouds[cloud],
                "is_source": source,
                "has_zones": zones,
                "restricted": restricted,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("galleries", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
