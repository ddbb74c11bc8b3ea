from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """Built without locking the visits against writes (millions of rows: a plain CREATE INDEX
    would hold every visit being logged for its seconds)."""

    atomic = False

    dependencies = [
        ("visits", "0015_rhythms_and_series"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="visit",
            index=models.Index(fields=["updated_at", "id"], name="visit_by_change"),
        ),
    ]
