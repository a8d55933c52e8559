"""The Django forms of the directory pages (issue 13): they read what was typed into Python values and
nothing more. Every rule is the directory service's (``accounts.directory``): no field is required
here and text stays text, so a refusal always carries the service's message, shown next to the field
its ``target`` names (the fields are named as the service's targets: ``displayName``, ``clientId``…)."""

from __future__ import annotations

from django import forms


def text(label: str, *, required_attr: bool = True, **attrs) -> forms.CharField:
    """A text field the service validates (the browser's ``required`` is a hint only)."""
    if required_attr:
        attrs.setdefault("required", True)
    attrs.setdefault("size", 40)
    return forms.CharField(label=label, required=False, widget=forms.TextInput(attrs=attrs))


class DirectoryForm(forms.Form):
    """A form of the directory pages; ``tenant`` fills the placeholders that name its domain."""

    def __init__(self, data=None, *, tenant=None, **kwargs):
        super().__init__(data, **kwargs)
        self.tenant = tenant
        for field in self.fields.values():
            hint = field.widget.attrs.get("placeholder", "")
            if tenant is not None and "{domain}" in hint:
                field.widget.attrs["placeholder"] = hint.replace("{domain}", tenant.primary_domain)


class UserForm(DirectoryForm):
    username = text("Username", placeholder="ana@{domain}")
    displayName = text("Display name", required_attr=False)
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"required": True, "autocomplete": "new-password"}),
    )
    isAdmin = forms.BooleanField(label="Tenant administrator", required=False)


class GroupForm(DirectoryForm):
    displayName = text("Name", maxlength=120)
    description = text("Description", required_attr=False, size=60)


class MemberForm(DirectoryForm):
    member = text("Add member", placeholder="ana@{domain}, a guest's username, or an app's client id")


class AppForm(DirectoryForm):
    displayName = text("Name", maxlength=120)
    multiTenant = forms.TypedChoiceField(
        label="Who can use it",
        choices=[
            ("0", "This tenant only (single tenant)"),
            ("1", "Any tenant whose administrator consents (multi-tenant)"),
        ],
        coerce=lambda value: value == "1",
        empty_value=False,
        required=False,
        initial="0",
        widget=forms.RadioSelect,
    )


class SecretForm(DirectoryForm):
    description = text("Description", required_attr=False, maxlength=120)
    expires = text("Expires after (days)", size=6, inputmode="numeric")

    def clean_expires(self):
        """A whole number of days when it is one; otherwise the text, for the service to refuse."""
        raw = self.cleaned_data["expires"]
        try:
            return int(raw)
        except ValueError:
            return raw


class ConsentForm(DirectoryForm):
    clientId = text("Client id of a multi-tenant app", placeholder="00000000-0000-0000-0000-000000000000")


class InviteForm(DirectoryForm):
    username = text("Username of a user of another tenant", placeholder="bob@fabrikam.com")


class PartnerFlagsForm(DirectoryForm):
    inbound = forms.BooleanField(
        label="Inbound: its guests and apps may be given access here", required=False, initial=True
    )
    outbound = forms.BooleanField(
        label="Outbound: our users and apps may be given access there", required=False, initial=True
    )


class PartnerForm(PartnerFlagsForm):
    partner = text("Domain or tenant id", placeholder="fabrikam.com")
    field_order = ["partner", "inbound", "outbound"]


class RoleAssignmentForm(forms.Form):
    """Add role assignment: a role of those that mean something at the scope (the picker starts on
    ``DEFAULT_ROLE``) and the principal as typed; the service finds the principal and checks both."""

    #: The least privileged role (read only), never Owner.
    DEFAULT_ROLE = "reader"

    # the id first keeps the picker's markup as it was (``<select name="role" id="id_role" required>``)
    role = forms.CharField(
        label="Role", required=False, widget=forms.Select(attrs={"id": "id_role", "required": True})
    )
    principal = text(
        "Assign to (user, group or service principal)",
        placeholder="ana@contoso.com, a group name, or an app's client id",
    )

    def __init__(self, data=None, *, roles=(), **kwargs):
        kwargs.setdefault("initial", {"role": self.DEFAULT_ROLE})
        super().__init__(data, **kwargs)
        self.fields["role"].widget.choices = [(r.key, r.name) for r in roles]


def describe_errors(form: forms.BaseForm) -> None:
    """Point each refused field's ``aria-describedby`` at its message (``<name>-error``)."""
    if form.is_bound:
        for name in form.errors:
            if name in form.fields:
                form.fields[name].widget.attrs["aria-describedby"] = f"{name}-error"
