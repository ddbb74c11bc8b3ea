"""Account health's models, moved from crm with their tables (crm_*) unchanged: state only."""

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import core.bounds
from core.content_types import content_types_moved_from_crm


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0003_single_line_fields"),
        ("crm", "0017_move_derived_models_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DigestRun",
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
                        ("up_to", models.DateTimeField()),
                        ("emails_sent", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "crm_digestrun",
                        "ordering": ["-up_to"],
                    },
                ),
                migrations.CreateModel(
                    name="Segment",
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
                        (
                            "tier",
                            models.CharField(
                                choices=[("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")],
                                max_length=1,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("prospect", "Prospect"),
                                    ("active", "Active"),
                                    ("dormant", "Dormant"),
                                    ("lost", "Lost"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "owner",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "territory",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.territory",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_segment",
                    },
                ),
                migrations.CreateModel(
                    name="AccountMetrics",
                    fields=[
                        ("revenue", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("gross_margin", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("discount", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("visit_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("support_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("late_payment_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        (
                            "customer",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                primary_key=True,
                                related_name="metrics",
                                serialize=False,
                                to="crm.customer",
                            ),
                        ),
                        ("as_of", models.DateField()),
                        ("last_visit_on", models.DateField(null=True)),
                        ("days_since_visit", models.IntegerField()),
                        ("cadence_days", models.PositiveSmallIntegerField()),
                        ("next_due_on", models.DateField()),
                        (
                            "days_overdue",
                            models.IntegerField(help_text="Negative: days left until due."),
                        ),
                        ("cost_to_serve", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("profit", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("visits_done", models.PositiveIntegerField()),
                        ("visit_minutes", models.PositiveBigIntegerField()),
                        ("support_minutes", models.PositiveBigIntegerField()),
                        (
                            "average_days_late",
                            models.DecimalField(decimal_places=2, max_digits=8, null=True),
                        ),
                        ("oldest_unpaid_days_late", models.IntegerField(null=True)),
                        ("is_neglected", models.BooleanField()),
                        ("is_unprofitable", models.BooleanField()),
                        ("is_late_payer", models.BooleanField()),
                        (
                            "follow_up_overdue_on",
                            models.DateField(
                                help_text="The follow-up date asked for at the last visit, passed with nothing since.",
                                null=True,
                            ),
                        ),
                        ("computed_at", models.DateTimeField()),
                    ],
                    options={
                        "verbose_name_plural": "account metrics",
                        "db_table": "crm_accountmetrics",
                        "indexes": [
                            models.Index(fields=["profit"], name="crm_account_profit_912609_idx"),
                            models.Index(
                                fields=["days_overdue"], name="crm_account_days_ov_9975f3_idx"
                            ),
                            models.Index(
                                fields=["cost_to_serve"], name="crm_account_cost_to_ff953e_idx"
                            ),
                            models.Index(fields=["revenue"], name="crm_account_revenue_792a98_idx"),
                            models.Index(
                                condition=models.Q(("is_neglected", True)),
                                fields=["-days_overdue"],
                                name="metrics_neglected_worst",
                            ),
                            models.Index(
                                models.OrderBy(
                                    models.F("oldest_unpaid_days_late"),
                                    descending=True,
                                    nulls_last=True,
                                ),
                                condition=models.Q(("is_late_payer", True)),
                                name="metrics_late_payer_worst",
                            ),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="HealthSettings",
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
                        (
                            "cost_per_km",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0.50"), max_digits=8
                            ),
                        ),
                        (
                            "support_hourly_cost",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("45.00"), max_digits=8
                            ),
                        ),
                        (
                            "annual_cost_of_capital",
                            models.DecimalField(
                                decimal_places=4,
                                default=Decimal("0.1000"),
                                help_text="Yearly rate charged on money customers owe late (0.10 = 10%).",
                                max_digits=5,
                            ),
                        ),
                        (
                            "late_unpaid_days",
                            models.PositiveSmallIntegerField(
                                default=60,
                                help_text="An unpaid invoice this many days past due makes a late payer.",
                            ),
                        ),
                        (
                            "late_average_days",
                            models.PositiveSmallIntegerField(
                                default=30,
                                help_text="Amount-weighted average days late above this makes a late payer.",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "health settings",
                        "verbose_name_plural": "health settings",
                        "db_table": "crm_healthsettings",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("id", 1)), name="health_settings_single_row"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="SegmentFigures",
                    fields=[
                        (
                            "segment",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                primary_key=True,
                                related_name="figures",
                                serialize=False,
                                to="health.segment",
                            ),
                        ),
                        ("accounts", models.PositiveIntegerField()),
                        (
                            "active",
                            models.PositiveIntegerField(help_text="Active accounts with metrics."),
                        ),
                        ("covered", models.PositiveIntegerField()),
                        ("overdue", models.PositiveIntegerField()),
                        ("overdue_days", models.PositiveBigIntegerField()),
                        ("unprofitable", models.PositiveIntegerField()),
                        ("late_payers", models.PositiveIntegerField()),
                        ("follow_ups_overdue", models.PositiveIntegerField()),
                        ("visits_done", models.PositiveIntegerField()),
                        ("visit_minutes", models.PositiveBigIntegerField()),
                        ("unprofitable_minutes", models.PositiveBigIntegerField()),
                        ("revenue", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("gross_margin", models.DecimalField(decimal_places=2, max_digits=16)),
                        (
                            "discount",
                            models.DecimalField(db_default=0, decimal_places=2, max_digits=16),
                        ),
                        ("cost_to_serve", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("profit", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("open_neglected", models.PositiveIntegerField()),
                        ("open_unprofitable", models.PositiveIntegerField()),
                        ("open_late_payer", models.PositiveIntegerField()),
                    ],
                    options={
                        "db_table": "crm_segmentfigures",
                    },
                ),
                migrations.CreateModel(
                    name="SegmentBand",
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
                        (
                            "measure",
                            models.CharField(
                                choices=[
                                    ("profit", "Profit"),
                                    ("cost", "Cost to serve (accounts with revenue)"),
                                    ("margin", "Net margin ratio (accounts with revenue)"),
                                ],
                                max_length=8,
                            ),
                        ),
                        ("band", models.IntegerField()),
                        ("accounts", models.PositiveIntegerField()),
                        ("total", models.DecimalField(decimal_places=6, max_digits=20)),
                        (
                            "segment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="bands",
                                to="health.segment",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_segmentband",
                    },
                ),
                migrations.CreateModel(
                    name="SegmentMember",
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
                        (
                            "segment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="members",
                                to="health.segment",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_segmentmember",
                    },
                ),
                migrations.CreateModel(
                    name="SegmentMonth",
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
                        ("month", models.DateField()),
                        ("revenue", models.DecimalField(decimal_places=2, max_digits=16)),
                        ("gross_margin", models.DecimalField(decimal_places=2, max_digits=16)),
                        (
                            "discount",
                            models.DecimalField(db_default=0, decimal_places=2, max_digits=16),
                        ),
                        ("cost_to_serve", models.DecimalField(decimal_places=2, max_digits=16)),
                        (
                            "segment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="months",
                                to="health.segment",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_segmentmonth",
                    },
                ),
                migrations.CreateModel(
                    name="SegmentWeek",
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
                        ("week", models.DateField(help_text="The Monday.")),
                        (
                            "planned",
                            models.PositiveIntegerField(help_text="Done or still planned."),
                        ),
                        ("done", models.PositiveIntegerField()),
                        (
                            "segment",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="weeks",
                                to="health.segment",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_segmentweek",
                    },
                ),
                migrations.CreateModel(
                    name="AccountFlag",
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
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("neglected", "Neglected"),
                                    ("unprofitable", "Unprofitable"),
                                    ("late_payer", "Late payer"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "inputs",
                            models.JSONField(
                                help_text="The figures behind the flag, as of `as_of`."
                            ),
                        ),
                        ("as_of", models.DateField()),
                        ("opened_at", models.DateTimeField()),
                        (
                            "raised_at",
                            models.DateTimeField(
                                help_text="Opened, or raised again after an acknowledgement."
                            ),
                        ),
                        ("resolved_at", models.DateTimeField(blank=True, null=True)),
                        ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "acknowledged_reason",
                            models.CharField(
                                blank=True,
                                max_length=300,
                                validators=[core.bounds.validate_single_line],
                            ),
                        ),
                        ("acknowledged_until", models.DateField(blank=True, null=True)),
                        (
                            "acknowledged_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="flags",
                                to="crm.customer",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_accountflag",
                        "ordering": ["-raised_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["kind", "resolved_at"], name="crm_account_kind_adffdd_idx"
                            ),
                            models.Index(
                                fields=["raised_at"], name="crm_account_raised__510875_idx"
                            ),
                            models.Index(
                                fields=["customer", "kind", "resolved_at"],
                                name="crm_account_custome_f3980f_idx",
                            ),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("resolved_at__isnull", True)),
                                fields=("customer", "kind"),
                                name="flag_one_open_per_customer_and_kind",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="AccountMonth",
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
                        ("revenue", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("gross_margin", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("discount", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("visit_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("support_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("late_payment_cost", models.DecimalField(decimal_places=2, max_digits=14)),
                        ("month", models.DateField(help_text="First day of the month.")),
                        ("visits_done", models.PositiveIntegerField()),
                        (
                            "customer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="months",
                                to="crm.customer",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "crm_accountmonth",
                        "indexes": [
                            models.Index(
                                fields=["month", "customer"], name="crm_account_month_0c9c57_idx"
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("customer", "month"), name="account_month_unique"
                            )
                        ],
                    },
                ),
                migrations.AddConstraint(
                    model_name="segment",
                    constraint=models.UniqueConstraint(
                        fields=("territory", "owner", "tier", "status"),
                        name="segment_unique",
                        nulls_distinct=False,
                    ),
                ),
                migrations.AddConstraint(
                    model_name="segmentband",
                    constraint=models.UniqueConstraint(
                        fields=("segment", "measure", "band"), name="segment_band_unique"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="segmentmonth",
                    constraint=models.UniqueConstraint(
                        fields=("segment", "month"), name="segment_month_unique"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="segmentweek",
                    constraint=models.UniqueConstraint(
                        fields=("segment", "week"), name="segment_week_unique"
                    ),
                ),
            ],
        ),
        content_types_moved_from_crm(
            "health",
            [
                "healthsettings",
                "accountmetrics",
                "accountflag",
                "digestrun",
                "accountmonth",
                "segment",
                "segmentmember",
                "segmentfigures",
                "segmentmonth",
                "segmentweek",
                "segmentband",
            ],
        ),
    ]
