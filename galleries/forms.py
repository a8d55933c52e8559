"""The Django forms of the galleries pages (issue 13): they read what was typed into Python values and
nothing more. Every rule on those values is the service's (``galleries.services``): a field that
takes text the service validates stays text here (numbers, choices, names), so a refusal always
carries the service's message, shown next to its field by ``portal.core.generic``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django import forms

from portal.core.sizes import format_size

from .models import DiskType, GalleryImage, HyperVGeneration, OsState, OsType, SecurityType
from .services.checks import end_of_life_on

#: Rows offered for data disks on the managed-image form.
DATA_DISK_ROWS = 4
NAME_HINT = "Letters, digits, hyphens, underscores and periods; start with a letter or digit."
#: The Hyper-V generation every create form starts from: the same for definitions, managed images
#: and snapshots, so the defaults together make a version the service accepts.
DEFAULT_GENERATION = HyperVGeneration.V1
#: The definition form's security types. Empty: as Azure's portal does, Trusted launch supported for a
#: V2 definition and Standard for V1 (the only choice V1 has there). Standard is no feature at all.
SECURITY_BY_GENERATION = "by-generation"
SECURITY_CHOICES = [
    (SECURITY_BY_GENERATION, "As the generation suggests (V2: Trusted launch supported; V1: Standard)"),
    ("Standard", "Standard"),
    *SecurityType.choices,
]


def parse_tags(text: str) -> dict:
    """The tags textarea: one ``key=value`` per line; blank lines ignored. Only the shape is checked
    here; the rules on names and values are ``validate_tags``'s."""
    tags: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise forms.ValidationError(
                f"Line {n} ('{line.strip()[:40]}') is not key=value; write one tag per line."
            )
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in tags:
            raise forms.ValidationError(f"Line {n}: the tag '{key}' is given twice; give each tag once.")
        tags[key] = value
    return tags


def format_tags(tags: dict | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in (tags or {}).items())


def end_of_life_day(value: str):
    """A date input (YYYY-MM-DD) → the moment the one end-of-life rule gives that day
    (``services.end_of_life_on``); empty → None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise forms.ValidationError(f"'{value}' is not a date; use YYYY-MM-DD.") from None
    return end_of_life_on(day)


def number_or_text(value: str):
    """A whole number when the text is one; otherwise the text itself, for the service to refuse
    with its message. Empty → None (not given)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


class TagsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "cols": 50, "placeholder": "environment=production"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "One name=value per line.")
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return format_tags(value) if isinstance(value, dict) else value

    def to_python(self, value):
        return parse_tags(super().to_python(value))


class DateField(forms.CharField):
    """End-of-life dates: a day, read by the one end-of-life rule (the service refuses dates in the past)."""

    widget = forms.DateInput(attrs={"type": "date"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return value.astimezone(UTC).date().isoformat() if isinstance(value, datetime) else value

    def to_python(self, value):
        return end_of_life_day(super().to_python(value))


class NumberField(forms.CharField):
    widget = forms.NumberInput

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value):
        return number_or_text(super().to_python(value))


def text(label: str, **kwargs) -> forms.CharField:
    kwargs.setdefault("required", False)
    return forms.CharField(label=label, strip=False, **kwargs)


def choice(label: str, choices, **kwargs) -> forms.CharField:
    """A select whose value the service validates (a forged value gets the service's message)."""
    kwargs.setdefault("required", False)
    return forms.CharField(label=label, widget=forms.Select(choices=choices), **kwargs)


def _values(choices) -> list[tuple[str, str]]:
    return [(c.value, c.value) for c in choices]


def group_choices(groups) -> list[tuple[str, str]]:
    return [("", "Choose…")] + [
        (str(g.pk), f"{g.subscription.display_name} / {g.name} ({g.location.display_name})") for g in groups
    ]


def blob_choices(blobs, empty: str = "Choose…") -> list[tuple[str, str]]:
    return [("", empty)] + [
        (str(b.pk), f"{b.container}/{b.name} ({format_size(b.size_bytes)})") for b in blobs
    ]


class DefaultsForm(forms.Form):
    """A field a request does not send takes its initial value (the default the page shows), as a
    client that posts only some fields expects; a field sent empty stays empty."""

    def __init__(self, data=None, *args, **kwargs):
        super().__init__(data, *args, **kwargs)
        if data is not None:
            missing = {
                name: self.get_initial_for_field(field, name)
                for name, field in self.fields.items()
                if name not in data and self.get_initial_for_field(field, name) not in (None, "")
            }
            if missing:
                self.data = data.copy()
                for name, value in missing.items():
                    self.data[name] = value


class GroupForm(DefaultsForm):
    """A create form in a resource group: ``groups`` are those the user may create the type in."""

    resourceGroup = forms.CharField(label="Resource group", required=False)

    def __init__(self, *args, groups=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resourceGroup"].widget = forms.Select(choices=group_choices(groups))


class GalleryForm(GroupForm):
    name = text(
        "Name",
        max_length=80,
        help_text="Letters and digits; periods and underscores only in the middle; "
        "unique in the subscription.",
    )
    location = choice("Location", ())
    description = text("Description", widget=forms.Textarea(attrs={"rows": 3, "cols": 50}))
    tags = TagsField()

    def __init__(self, *args, regions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].widget.choices = [("", "The resource group's location")] + [
            (r.name, f"{r.display_name} ({r.cloud.display_name})") for r in regions
        ]


class GalleryEditForm(forms.Form):
    description = text("Description", widget=forms.Textarea(attrs={"rows": 3, "cols": 50}))
    tags = TagsField()


KEEP_DEPLOYED_CHOICES = (
    ("true", "Keep them, and the regions their deployments run in"),
    ("false", "Let them go: end of life and trimming apply as to any version"),
)


class DefinitionEditForm(forms.Form):
    """What may change on a definition (``services.DEFINITION_MUTABLE``)."""

    min_vcpus = NumberField(label="Minimum vCPUs")
    max_vcpus = NumberField(label="Maximum vCPUs")
    min_memory_gb = NumberField(label="Minimum memory (GB)")
    max_memory_gb = NumberField(label="Maximum memory (GB)")
    description = text("Description", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    release_note_uri = text("Release notes URI", widget=forms.URLInput)
    end_of_life_date = DateField(
        label="End-of-life date",
        help_text="Optional; must be in the future. The definition is removed after it.",
    )
    lifecycle_policy = choice("Lifecycle policy", GalleryImage.LifecyclePolicy.choices)
    lifecycle_keep_deployed = choice(
        "Versions that deployments came from",
        KEEP_DEPLOYED_CHOICES,
        help_text="What the daily lifecycle clean-up does with a version that an existing VM or scale set came "
        "from.",
    )
    tags = TagsField()

    def clean_lifecycle_policy(self):
        return self.cleaned_data["lifecycle_policy"] or None

    def clean_lifecycle_keep_deployed(self):
        raw = self.cleaned_data["lifecycle_keep_deployed"]
        return {"true": True, "false": False}.get(raw, raw or None)  # else: the service refuses


#: An image definition's identifier and OS: first on the create form, never changed afterwards.
DEFINITION_IDENTITY = ("publisher", "offer", "sku", "os_type", "os_state", "hyper_v_generation")


class DefinitionForm(DefaultsForm, DefinitionEditForm):
    name = text("Name", help_text=NAME_HINT)
    publisher = text("Publisher")
    offer = text("Offer")
    sku = text("SKU", help_text="Publisher, offer and SKU together must be unique in the gallery.")
    os_type = choice("OS type", _values(OsType), initial=OsType.LINUX)
    os_state = choice("OS state", _values(OsState), initial=OsState.GENERALIZED)
    hyper_v_generation = choice("Hyper-V generation", _values(HyperVGeneration), initial=DEFAULT_GENERATION)
    security_type = choice(
        "Security type",
        SECURITY_CHOICES,
        initial=SECURITY_BY_GENERATION,
        help_text="Trusted launch needs Hyper-V generation V2. It cannot change after creation.",
    )
    disallowed_disk_types = forms.MultipleChoiceField(
        label="Disallowed disk types",
        required=False,
        choices=_values(DiskType),
        widget=forms.CheckboxSelectMultiple,
    )
    eula = text("EULA", widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    privacy_statement_uri = text("Privacy statement URI", widget=forms.URLInput)
    plan_name = text("Plan name")
    plan_publisher = text("Plan publisher")
    plan_product = text("Plan product")

    field_order = ["name", *DEFINITION_IDENTITY, "security_type"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lifecycle_policy"].initial = GalleryImage.LifecyclePolicy.NONE
        self.fields["lifecycle_keep_deployed"].initial = "true"

    def clean(self):
        """The security type becomes the ARM ``features`` list the service takes (its rules: V2 only,
        values it implements); "Standard" is none."""
        data = super().clean()
        security = data.pop("security_type", "") or SECURITY_BY_GENERATION
        if security == SECURITY_BY_GENERATION:
            v2 = str(data.get("hyper_v_generation") or "").upper() == HyperVGeneration.V2
            security = SecurityType.TRUSTED_LAUNCH_SUPPORTED if v2 else "Standard"
        data["features"] = [] if security == "Standard" else [{"name": "SecurityType", "value": security}]
        return data

    def clean_disallowed_disk_types(self):
        return list(self.cleaned_data["disallowed_disk_types"])


class DiskSourceForm(GroupForm):
    """Managed images and snapshots: made from the finished VHDs of the chosen resource group."""

    name = text("Name", help_text=NAME_HINT)
    os_type = choice("OS type", _values(OsType))
    hyper_v_generation = choice("Hyper-V generation", _values(HyperVGeneration), initial=DEFAULT_GENERATION)
    tags = TagsField()


class ManagedImageForm(DiskSourceForm):
    os_blob = forms.CharField(label="OS disk VHD", required=False)

    field_order = ["resourceGroup", "name", "os_blob", "os_type", "hyper_v_generation"]

    def __init__(self, *args, blobs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["os_type"].initial = OsType.LINUX
        self.fields["os_blob"].widget = forms.Select(choices=blob_choices(blobs))
        for i in range(DATA_DISK_ROWS):
            self.fields[f"data_{i}_lun"] = forms.CharField(
                required=False,
                widget=forms.NumberInput(
                    attrs={"min": 0, "max": 63, "aria-label": f"LUN of data disk {i + 1}"}
                ),
            )
            self.fields[f"data_{i}_blob"] = forms.CharField(
                required=False,
                widget=forms.Select(
                    choices=blob_choices(blobs, "—"), attrs={"aria-label": f"VHD of data disk {i + 1}"}
                ),
            )

    def disk_rows(self) -> list[dict]:
        return [
            {"i": i, "lun": self[f"data_{i}_lun"], "blob": self[f"data_{i}_blob"]}
            for i in range(DATA_DISK_ROWS)
        ]

    def clean(self):
        data = super().clean()
        if not data.get("os_blob"):
            self.add_error("os_blob", "Choose the VHD of the OS disk.")
        used = []
        for i in range(DATA_DISK_ROWS):
            lun, blob = (data.get(f"data_{i}_lun") or "").strip(), data.get(f"data_{i}_blob")
            if lun or blob:
                if not blob:
                    self.add_error(f"data_{i}_blob", "Choose the VHD of this data disk, or clear its LUN.")
                used.append(i)
        data["used_rows"] = used
        return data


class SnapshotForm(DiskSourceForm):
    blob = forms.CharField(label="VHD", required=False)
    os_state = choice("OS state", _values(OsState), initial=OsState.GENERALIZED)

    field_order = ["resourceGroup", "name", "blob", "os_type", "os_state", "hyper_v_generation"]

    def __init__(self, *args, blobs=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["blob"].widget = forms.Select(choices=blob_choices(blobs))
        self.fields["os_type"].widget.choices = [("", "None (a data disk)"), *_values(OsType)]

    def clean(self):
        data = super().clean()
        if not data.get("blob"):
            self.add_error("blob", "Choose the VHD to take the snapshot of.")
        return data


# --- The target-region editor (a formset) ---------------------------------------------------------


class TargetRegionForm(forms.Form):
    """One row of the version's target-region editor: text the service validates (region name,
    replica count, storage type) and the replica advisor's planned load (VMs, scale sets)."""

    region = forms.CharField(required=False)
    replicas = forms.CharField(required=False)
    storage = forms.CharField(required=False)
    exclude = forms.BooleanField(required=False)
    vms = forms.CharField(required=False)
    scalesets = forms.CharField(required=False)


#: At most this many rows are read (more than any cloud has regions).
MAX_TARGET_ROWS = 100
REGION_PREFIX = "t"
TargetRegionFormSet = forms.formset_factory(
    TargetRegionForm, extra=0, max_num=MAX_TARGET_ROWS, absolute_max=MAX_TARGET_ROWS, validate_max=True
)
_ROW_KEY = re.compile(rf"^{REGION_PREFIX}-(\d+)-region$")


def target_region_formset(data=None, rows: int = 0):
    """The editor's rows (fields ``t-<i>-<field>``). Bound: a POST that carries no management form
    (a client posting only the rows) has its rows counted from its ``t-<i>-region`` keys, in index
    order. Unbound (``rows``): only the management form of a page that shows that many rows."""
    if data is None:
        return TargetRegionFormSet(prefix=REGION_PREFIX, initial=[{} for _ in range(rows)])
    if f"{REGION_PREFIX}-TOTAL_FORMS" not in data:
        indexes = sorted(int(m.group(1)) for key in data for m in [_ROW_KEY.match(key)] if m)
        counted = {f"{REGION_PREFIX}-TOTAL_FORMS": str(len(indexes)), f"{REGION_PREFIX}-INITIAL_FORMS": "0"}
        for new, old in enumerate(indexes):
            for name in TargetRegionForm.base_fields:
                value = data.get(f"{REGION_PREFIX}-{old}-{name}")
                if value is not None:
                    counted[f"{REGION_PREFIX}-{new}-{name}"] = value
        data = counted
    return TargetRegionFormSet(data, prefix=REGION_PREFIX)
