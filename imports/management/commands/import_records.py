import json
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role, Territory, User
from imports.kinds import KINDS
from imports.models import DateOrder
from imports.runs import (
    customers_refresh_after_import,
    import_customer_ids,
    import_run,
)
from imports.services import (
    import_configure,
    import_upload,
)


def _messages(error: ValidationError) -> str:
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Import customers, contacts, invoices, visits or support cases from a CSV or XLSX file, "
        "with the columns mapped automatically (the web import's code path)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("kind", choices=list(KINDS))
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Check only; write nothing.")
        parser.add_argument("--json", action="store_true", help="Print the counts as JSON.")
        parser.add_argument("--default-owner", help="Username or email for unknown owners.")
        parser.add_argument("--default-territory", help="Territory name for unknown ones.")
        parser.add_argument("--date-format", choices=DateOrder.values, help="Default: detected.")
        parser.add_argument("--sheet", default="", help="XLSX sheet (default: the first).")
        parser.add_argument("--user", help="Who imports (default: the first admin).")

    def handle(self, *args, kind: str, file: str, **options) -> None:
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        user = self._user(options["user"])
        owner = self._owner(options["default_owner"]) if options["default_owner"] else None
        territory = None
        if options["default_territory"]:
            territory = Territory.objects.filter(name__iexact=options["default_territory"]).first()
            if territory is None:
                raise CommandError(f"No territory named {options['default_territory']!r}.")
        try:
            with path.open("rb") as handle:
                job = import_upload(
                    user=user,
                    kind=kind,
                    name=path.name,
                    chunks=iter(lambda: handle.read(1024 * 1024), b""),
                    size=path.stat().st_size,
                    sheet=options["sheet"],
                    max_bytes=settings.IMPORT_MAX_BYTES,
                )
            job = import_configure(
                job=job,
                mapping=job.mapping,
                date_order=options["date_format"] or job.date_order,
                default_owner=owner,
                default_territory=territory,
            )
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        result = import_run(job=job, dry_run=options["dry_run"])
        if not options["dry_run"]:
            customers_refresh_after_import(import_customer_ids(job))
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict(kind)))
        else:
            self.stdout.write(
                f"{result.rows} rows: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged, {result.rejected} rejected"
                + (f" (rejects: {result.rejects_path})" if result.rejects_path else "")
                + (" — dry run, nothing written" if options["dry_run"] else "")
            )

    def _user(self, username: str | None) -> User:
        users = User.objects.filter(is_active=True)
        user = (
            users.filter(username=username).first()
            if username
            else users.filter(role=Role.ADMIN).order_by("pk").first()
        )
        if user is None:
            raise CommandError("No such user; give --user USERNAME (an admin).")
        return user

    def _owner(self, text: str) -> User:
        owner = (
            User.objects.filter(username__iexact=text).first()
            or User.objects.filter(email__iexact=text).first()
        )
        if owner is None:
            raise CommandError(f"No user {text!r} for --default-owner.")
        return owner
