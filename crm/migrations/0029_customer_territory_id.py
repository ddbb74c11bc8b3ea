from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """Built without locking the customers against writes."""

    atomic = False

    dependencies = [
        ("crm", "0028_customer_by_change"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="customer",
            index=models.Index(fields=["territory", "id"], name="customer_territory_id"),
        ),
    ]
