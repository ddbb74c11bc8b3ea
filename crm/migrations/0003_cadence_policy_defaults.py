from django.db import migrations

DEFAULTS = {"A": 14, "B": 30, "C": 60, "D": 90}


def add_defaults(apps, schema_editor):
    CadencePolicy = apps.get_model("crm", "CadencePolicy")
    for tier, days in DEFAULTS.items():
        CadencePolicy.objects.get_or_create(tier=tier, defaults={"days": days})


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_cadence")]

    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
