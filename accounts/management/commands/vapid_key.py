from django.core.management.base import BaseCommand

from accounts.push import vapid_key_new


class Command(BaseCommand):
    help = (
        "Print a new VAPID private key for CADENCE_VAPID_PRIVATE_KEY (Web Push). Changing the "
        "key later makes every device turn notifications on again."
    )

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"CADENCE_VAPID_PRIVATE_KEY={vapid_key_new()}")
