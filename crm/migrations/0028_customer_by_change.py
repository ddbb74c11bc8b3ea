from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """Built without locking the customers against writes (a plain CREATE INDEX would hold
    every edit and import for its seconds on a large book)."""

    atomic = False

    dependencies = [
        ("crm", "0027_text_limits"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(fields=["updated_at", "id"], name="customer_by_change"),
        ),
    ]
