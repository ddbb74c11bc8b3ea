"""Pending refreshes and one-time form keys, moved from crm with their tables: state only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ["pendingrefresh", "formsubmission"]


def _content_types_here(apps, schema_editor):
    """Keep these models' content types (and the permissions and admin history that point
    at them) by moving them to this app instead of leaving stale ones under crm."""
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="crm", model__in=MOVED).exclude(
        model__in=content_type.objects.filter(app_label="core").values("model")
    ).update(app_label="core")


def _content_types_back(apps, schema_editor):
    content_type = apps.get_model("contenttypes", "ContentType")
    content_type.objects.filter(app_label="core", model__in=MOVED).update(app_label="crm")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0017_move_derived_models_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PendingRefresh",
                    fields=[
                        (
                            "customer",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                primary_key=True,
                                related_name="+",
                                serialize=False,
                                to="crm.customer",
                            ),
                        ),
                        ("requested_at", models.DateTimeField()),
                    ],
                    options={
                        "db_table": "crm_pendingrefresh",
                    },
                ),
                migrations.CreateModel(
                    name="FormSubmission",
                    fields=[
                        ("key", models.UUIDField(primary_key=True, serialize=False)),
                        ("submitted_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_formsubmission",
                    },
                ),
            ],
        ),
        migrations.RunPython(_content_types_here, _content_types_back, elidable=True),
    ]
