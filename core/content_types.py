"""For the migrations that moved models out of crm with their tables (docs/architecture.md)."""

from django.db import migrations


def content_types_moved_from_crm(app_label: str, models: list[str]) -> migrations.RunPython:
    """Keep the moved models' content types, and so the permissions and admin history that
    point at them, by giving them their new app instead of leaving stale ones under crm."""

    def forwards(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        content_type.objects.filter(app_label="crm", model__in=models).exclude(
            model__in=content_type.objects.filter(app_label=app_label).values("model")
        ).update(app_label=app_label)

    def backwards(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        content_type.objects.filter(app_label=app_label, model__in=models).update(app_label="crm")

    return migrations.RunPython(forwards, backwards, elidable=True)
