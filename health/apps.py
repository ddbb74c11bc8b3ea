from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Account health"

    def ready(self) -> None:
        from core.refresh import register_deletion_follow_up
        from health.services import rollups_after_deletion

        register_deletion_follow_up(rollups_after_deletion)
