import datetime as dt
import json as jsonlib

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from health.models import AccountFlag, FlagKind
from health.selectors import open_flag_counts
from health.services import health_refresh_everything


class Command(BaseCommand):
    help = (
        "Refresh every account's health metrics, flags, monthly figures and the managers' "
        "rollups now (what the nightly job does)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--as-of", help="YYYY-MM-DD (default: today)")
        parser.add_argument(
            "--full",
            action="store_true",
            help="Recompute every figure and month from the rows, as after data was changed "
            "outside Cadence (the nightly job brings closed months forward instead).",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")
        parser.add_argument(
            "--list", action="store_true", help="Print one JSON line per open flag."
        )

    def handle(self, *args, as_of: str | None, **options) -> None:
        try:
            day = dt.date.fromisoformat(as_of) if as_of else timezone.localdate()
        except ValueError as exc:
            raise CommandError(f"--as-of must be a date like 2026-11-30, not {as_of!r}.") from exc
        result = health_refresh_everything(as_of=day, full=options["full"])
        if options["json"]:
            self.stdout.write(
                _json(
                    {
                        "as_of": day.isoformat(),
                        "opened": {kind: result.opened[kind] for kind in FlagKind.values},
                        "resolved": {kind: result.resolved[kind] for kind in FlagKind.values},
                        "open": open_flag_counts(),
                    }
                )
            )
        if options["list"]:
            flags = (
                AccountFlag.objects.filter(resolved_at__isnull=True)
                .select_related("customer")
                .order_by("customer__code", "kind")
            )
            for flag in flags.iterator(chunk_size=2000):
                self.stdout.write(
                    _json(
                        {"customer": flag.customer.code, "kind": flag.kind, "inputs": flag.inputs}
                    )
                )
        if not options["json"] and not options["list"]:
            self.stdout.write(
                f"As of {day}: {result.customers:,} accounts changed; opened "
                f"{dict(result.opened) or 0}, resolved {dict(result.resolved) or 0}; "
                f"open now {open_flag_counts()}."
            )


def _json(value) -> str:
    return jsonlib.dumps(value)
