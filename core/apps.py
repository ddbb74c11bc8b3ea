from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Cadence"

    def ready(self) -> None:

        checks.register(site_url_check, checks.Tags.compatibility, deploy=False)


def site_url_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Links in e-mails need the site's address; without it they would point nowhere."""
    if settings.DEBUG or settings.CADENCE_SITE_URL.startswith(("https://", "http://")):
        return []
    return [
        checks.Error(
            "CADENCE_SITE_URL is not set: the digest e-mails could not link to the accounts.",
            hint="Set CADENCE_SITE_URL to the address people use, e.g. https://cadence.example.com",
            id="cadence.E001",
        )
    ]
