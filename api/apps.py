from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from api import (
            schema,  # noqa: F401 (registers the schema's token scheme)
            webhooks,
        )
        from core import events

        events.flags_changed.connect(webhooks.on_flags_changed, dispatch_uid="webhook-flags")
        events.visit_logged.connect(webhooks.on_visit_logged, dispatch_uid="webhook-visit")
        events.import_finished.connect(webhooks.on_import_finished, dispatch_uid="webhook-import")
        events.asks_changed.connect(webhooks.on_asks_changed, dispatch_uid="webhook-asks")
