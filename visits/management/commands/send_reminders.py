from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from visits.reminders import pushes_send, reminders_send


class Command(BaseCommand):
    help = (
        "One pass of the reminders (what the beat runs every 5 minutes): each user's morning "
        "e-mail once their morning has come, and the notifications to their devices, never twice."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--at", help="Run as of this moment, ISO 8601 (e.g. 2026-12-08T07:05+01:00)."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go out; send nothing."
        )

    def handle(self, *args, at: str | None, dry_run: bool, **options) -> None:
        moment = timezone.now()
        if at:
            try:
                moment = parse_datetime(at.strip().replace(" ", "T"))
            except ValueError:
                moment = None
            if moment is None:
                raise CommandError(
                    f"--at must be a date and time like 2026-12-08T07:05, not {at!r}."
                )
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
        result = reminders_send(at=moment, dry_run=dry_run)
        verb = "would send" if dry_run else "sent"
        self.stdout.write(
            f"Morning e-mails: {result.due} due, {verb} {result.sent}"
            + ("" if dry_run else f", {result.empty} with nothing to say, {result.failed} failed")
        )
        pushed = pushes_send(at=moment, dry_run=dry_run)
        self.stdout.write(
            f"Notifications: {pushed.due} due, {verb} {pushed.sent}"
            + ("" if dry_run else f", {pushed.failed} reached no device")
        )
