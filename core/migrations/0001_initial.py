"""Pending refreshes and one-time form keys, moved from crm with their tables: state only."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.content_types import content_types_moved_from_crm


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
        content_types_moved_from_crm("core", ["pendingrefresh", "formsubmission"]),
    ]
