"""Role assignments get a GUID ``name`` (their ARM name under Microsoft.Authorization/roleAssignments);
existing rows get random ones."""

import uuid

from django.db import migrations, models


def fill_names(apps, schema_editor):
    for model_name in ("UserRoleAssignment", "GroupRoleAssignment"):
        model = apps.get_model("accounts", model_name)
        for pk in model.objects.filter(name__isnull=True).values_list("pk", flat=True):
            model.objects.filter(pk=pk).update(name=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [("accounts", "0006_subscription_request")]

    operations = [
        migrations.AddField(
            model_name="userroleassignment", name="name", field=models.UUIDField(null=True, editable=False)
        ),
        migrations.AddField(
            model_name="grouproleassignment", name="name", field=models.UUIDField(null=True, editable=False)
        ),
        migrations.RunPython(fill_names, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="userroleassignment",
            name="name",
            field=models.UUIDField(
                default=uuid.uuid4,
                editable=False,
                help_text="The assignment's GUID: its ARM name (``…/providers/Microsoft.Authorization/roleAssignments/<name>``).",
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="grouproleassignment",
            name="name",
            field=models.UUIDField(
                default=uuid.uuid4,
                editable=False,
                help_text="The assignment's GUID: its ARM name (``…/providers/Microsoft.Authorization/roleAssignments/<name>``).",
                unique=True,
            ),
        ),
    ]
