"""The forms of "Deploy a custom template" (issue 15): step 1 reads a template (pasted or uploaded) and
optionally a parameters file; step 2 is a Django form built from the template's ``parameters`` —
one field per parameter, typed as the declaration says (learn.microsoft.com/azure/azure-resource-manager/
templates/parameters): string → text, securestring → password, int → integer with minValue/maxValue,
bool → checkbox, allowedValues → a select, object/secureObject/array → a JSON text area. A literal
``defaultValue`` fills the field; an expression default is shown and, left empty, is the engine's to
evaluate. ``metadata.description`` is the help text.

Only the shape is checked here; the rules (types, allowed values, lengths) are the engine's
(``galleries.arm.params``), whose ``InvalidTemplate`` the page shows on the parameter's field."""

from __future__ import annotations

import json

from django import forms
from django.utils import timezone

from galleries.api import deploying
from portal.core import inputs
from portal.core.errors import ServiceError

#: The prefix of a parameter's form field (``p_<parameter>``): no clash with the page's own fields.
PREFIX = "p_"
#: The most a pasted or uploaded template or parameters file may hold (the API's body limit is larger;
#: a page is for templates a person writes).
MAX_BYTES = 4 * 1024 * 1024
SECURE = {"securestring", "secureobject"}
JSON_TYPES = {"object": dict, "secureobject": dict, "array": list}


def default_name() -> str:
    """The Azure portal's default: ``Microsoft.Template-<yyyymmddHHMMSS>`` (UTC)."""
    return "Microsoft.Template-" + timezone.now().strftime("%Y%m%d%H%M%S")


def read_json(text: str, what: str) -> object:
    """``text`` as JSON through the kernel's one reader for request bodies (``inputs.parse_json``: its
    depth, size and character rules, so no input reaches a ``RecursionError``); a refusal is the form's
    error, naming ``what``."""
    try:
        return inputs.parse_json(text, limit=MAX_BYTES)
    except ServiceError as exc:
        raise forms.ValidationError(exc.message.replace("The request body", f"The {what}", 1)) from None


def _file_text(upload, what: str) -> str:
    if upload.size > MAX_BYTES:
        raise forms.ValidationError(f"The {what} file is larger than {MAX_BYTES // (1024 * 1024)} MiB.")
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise forms.ValidationError(f"The {what} file is not UTF-8 text.") from None


class TemplateSourceForm(forms.Form):
    """Step 1: the template (pasted or a file) and, optionally, a parameters file (pasted or a file)."""

    template = forms.CharField(
        label="Template (JSON)",
        required=False,
        max_length=MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 18, "class": "code", "spellcheck": "false"}),
        help_text="Paste an ARM template (deploymentTemplate.json), or choose a file below.",
    )
    template_file = forms.FileField(label="…or a template file", required=False)
    parameters = forms.CharField(
        label="Parameters file (JSON, optional)",
        required=False,
        max_length=MAX_BYTES,
        widget=forms.Textarea(attrs={"rows": 6, "class": "code", "spellcheck": "false"}),
        help_text='A parameters file ({"parameters": {"name": {"value": …}}}): its values fill the form.',
    )
    parameters_file = forms.FileField(label="…or a parameters file", required=False)

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        template_text = data.get("template") or ""
        if data.get("template_file"):
            try:
                template_text = _file_text(data["template_file"], "template")
            except forms.ValidationError as exc:
                self.add_error("template_file", exc)
                return data
        if not template_text.strip():
            self.add_error("template", "Paste a template or choose a template file.")
            return data
        try:
            template = read_json(template_text, "template")
        except forms.ValidationError as exc:
            self.add_error("template_file" if data.get("template_file") else "template", exc)
            return data
        if not isinstance(template, dict):
            self.add_error("template", "The template must be a JSON object.")
            return data
        if not isinstance(template.get("parameters", {}), dict):
            self.add_error("template", "The template's 'parameters' must be an object.")
            return data
        data["template_json"] = template
        field = "parameters_file" if data.get("parameters_file") else "parameters"
        try:
            text = (
                _file_text(data["parameters_file"], "parameters")
                if data.get("parameters_file")
                else data.get("parameters") or ""
            )
            data["values"] = supplied(read_json(text, "parameters file")) if text.strip() else {}
        except forms.ValidationError as exc:
            self.add_error(field, exc)
        return data


def supplied(document) -> dict:
    """The values of a parameters file (the whole file or its ``parameters`` object): name → value."""
    if isinstance(document, dict) and isinstance(document.get("parameters"), dict):
        document = document["parameters"]
    if not isinstance(document, dict):
        raise forms.ValidationError(
            'The parameters file must be an object: {"parameters": {"name": {"value": …}}}.'
        )
    out = {}
    for name, entry in document.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise forms.ValidationError(
                f"The parameter '{name}' of the parameters file must be {{\"value\": …}}."
            )
        out[name] = entry["value"]
    return out


def is_expression(value) -> bool:
    """``[…]`` is an ARM expression; ``[[…`` is a literal starting with ``[``."""
    return (
        isinstance(value, str)
        and value.startswith("[")
        and value.endswith("]")
        and not value.startswith("[[")
    )


def _shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class JSONField(forms.CharField):
    """An object or array as JSON text."""

    widget = forms.Textarea(attrs={"rows": 4, "class": "code", "spellcheck": "false"})

    def __init__(self, *, kind: type, **kwargs):
        self.kind = kind
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value)
        if not text:
            return None
        parsed = read_json(text, "value")
        if not isinstance(parsed, self.kind):
            raise forms.ValidationError(f"Expected a JSON {'object' if self.kind is dict else 'array'}.")
        return parsed


def parameter_field(declaration: dict, value=None, has_value: bool = False) -> forms.Field:
    """The form field of one declared parameter (``value``: from a parameters file)."""
    kind = str(declaration.get("type", "string")).lower()
    default = declaration.get("defaultValue")
    has_default = "defaultValue" in declaration
    literal = has_default and not is_expression(default)
    required = not has_default
    description = ""
    metadata = declaration.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("description"), str):
        description = metadata["description"]
    hints = [description] if description else []
    if has_default and not literal:
        hints.append(f"Default: {default} (evaluated at deployment when left empty).")
    initial = value if has_value else (default if literal else None)
    allowed = declaration.get("allowedValues")
    common = {"required": required, "help_text": " ".join(hints)}
    if isinstance(allowed, list) and allowed and kind not in ("array", "bool"):
        choices = [(_shown(a), _shown(a)) for a in allowed]
        if not required:
            choices = [("", "(default)" if not literal else "—"), *choices]

        def coerce(text, allowed=allowed):
            return next(a for a in allowed if _shown(a) == text)

        return forms.TypedChoiceField(
            choices=choices,
            coerce=coerce,
            empty_value=None,
            initial=None if initial is None else _shown(initial),
            **common,
        )
    if kind == "int":
        return forms.IntegerField(
            min_value=declaration.get("minValue") if isinstance(declaration.get("minValue"), int) else None,
            max_value=declaration.get("maxValue") if isinstance(declaration.get("maxValue"), int) else None,
            initial=initial if isinstance(initial, int) else None,
            **common,
        )
    if kind == "bool":
        return forms.BooleanField(required=False, initial=initial is True, help_text=common["help_text"])
    if kind in JSON_TYPES:
        field = JSONField(
            kind=JSON_TYPES[kind],
            initial=None if initial is None else json.dumps(initial, indent=2),
            **common,
        )
        if kind == "secureobject":
            field.widget.attrs["autocomplete"] = "off"
        return field
    lengths = {}
    if isinstance(declaration.get("minLength"), int):
        lengths["min_length"] = declaration["minLength"]
    if isinstance(declaration.get("maxLength"), int):
        lengths["max_length"] = declaration["maxLength"]
    if kind == "securestring":
        return forms.CharField(
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            strip=False,
            **lengths,
            **common,
        )
    return forms.CharField(
        initial=initial if isinstance(initial, str) else None, strip=False, **lengths, **common
    )


class ParametersForm(forms.Form):
    """Step 2: the deployment's name and one field per template parameter (``p_<name>``)."""

    deployment_name = forms.CharField(
        label="Deployment name",
        max_length=64,
        help_text="Letters, digits, '-', '_', '.', '(' and ')'; at most 64 characters.",
    )
    mode = forms.ChoiceField(
        label="Deployment mode",
        choices=[("Incremental", "Incremental"), ("Complete", "Complete")],
        initial="Incremental",
        required=False,  # ARM's default when absent
        help_text="Complete deletes the group's resources the template does not name.",
    )
    template = forms.CharField(widget=forms.HiddenInput, max_length=MAX_BYTES)

    def __init__(self, data=None, *, template: dict, values: dict | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.template = template
        self.declared = template.get("parameters") or {}
        given = {k.lower(): v for k, v in (values or {}).items()}
        for name, declaration in self.declared.items():
            if not isinstance(declaration, dict):
                continue  # the engine names it (InvalidTemplate)
            field = parameter_field(declaration, given.get(name.lower()), name.lower() in given)
            field.label = name
            self.fields[PREFIX + name] = field

    def clean_deployment_name(self):
        """The API's rule (``deploying.check_name``), shown on the field."""
        try:
            return deploying.check_name(self.cleaned_data["deployment_name"])
        except ServiceError as exc:
            raise forms.ValidationError(exc.message) from None

    def field_of(self, parameter: str) -> str | None:
        """The form field of a parameter (any case), or None."""
        for name in self.declared:
            if name.lower() == parameter.lower() and PREFIX + name in self.fields:
                return PREFIX + name
        return None

    def body(self) -> dict:
        """The ARM request body of the deployment (``Deployment``): what was entered, empty fields left to
        the template's defaults."""
        parameters = {}
        for name in self.declared:
            key = PREFIX + name
            if key not in self.fields:
                continue
            value = self.cleaned_data.get(key)
            field = self.fields[key]
            if isinstance(field, forms.BooleanField):
                parameters[name] = {"value": bool(value)}
            elif value is None or value == "":
                continue
            else:
                parameters[name] = {"value": value}
        return {
            "properties": {
                "template": self.template,
                "parameters": parameters,
                "mode": self.cleaned_data.get("mode") or "Incremental",
            }
        }


def template_text(template: dict) -> str:
    return json.dumps(template, separators=(",", ":"))
