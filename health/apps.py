from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "health"
    verbose_name = "Account health"

    def ready(self) -> None:
        from accounts.signals import hourly_cost_changed
        from core.figures import register_account_figures
        from core.refresh import register_deletion_follow_up
        from health.selectors import account_figures
        from health.services import hourly_cost_refresh_request, rollups_after_deletion

        register_deletion_follow_up(rollups_after_deletion)
        register_account_figures(account_figures)
        hourly_cost_changed.connect(hourly_cost_refresh_request, dispatch_uid="health.hourly_cost")
