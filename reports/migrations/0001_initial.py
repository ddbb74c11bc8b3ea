"""The review worklist's action log, moved from crm with its table (crm_reviewaction): state only."""

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
                    name="ReviewAction",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("at", models.DateTimeField(auto_now_add=True)),
                        (
                            "action",
                            models.CharField(
                                choices=[
                                    ("reassign", "Reassign"),
                                    ("tier", "Change tier"),
                                    ("cadence", "Change cadence"),
                                    ("remote", "Remote cadence"),
                                    ("acknowledge", "Acknowledge flag"),
                                ],
                                max_length=32,
                            ),
                        ),
                        ("details", models.JSONField(default=dict)),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="review_actions",
                                to="crm.customer",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_reviewaction",
                        "ordering": ["-at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["customer", "at"], name="crm_reviewa_custome_c939a2_idx"
                            )
                        ],
                    },
                ),
            ],
        ),
        content_types_moved_from_crm("reports", ["reviewaction"]),
    ]
