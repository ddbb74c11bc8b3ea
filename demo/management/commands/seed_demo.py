from django.core.management.base import BaseCommand, CommandError

from demo.generator import (
    ACCOUNTS_PER_REP,
    DEMO_PASSWORD,
    DemoDataExists,
    demo_data_exists,
    demo_data_seed,
    demo_usernames,
)


class Command(BaseCommand):
    help = "Create demo territories, users and customers with a year of visits, invoices and cases."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--customers", type=int, default=2_000, help="How many (default 2000).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--accounts-per-rep",
            type=int,
            default=ACCOUNTS_PER_REP,
            help=f"About how many accounts each salesperson holds (default {ACCOUNTS_PER_REP}); "
            "the team grows with the book, never below sales1-8.",
        )
        parser.add_argument(
            "--reset", action="store_true", help="Delete ALL existing Cadence data first."
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Seed only when the database holds no Cadence data; otherwise do nothing.",
        )

    def handle(
        self,
        *args,
        customers: int,
        seed: int,
        accounts_per_rep: int,
        reset: bool,
        if_empty: bool,
        **options,
    ) -> None:
        if customers < 0:
            raise CommandError("--customers must be 0 or more.")
        if not 1 <= accounts_per_rep <= 100_000:
            raise CommandError("--accounts-per-rep must be between 1 and 100,000.")
        if if_empty and demo_data_exists():
            self.stdout.write("The database already holds data; not seeding.")
            return
        try:
            report = demo_data_seed(
                customers=customers,
                seed=seed,
                accounts_per_rep=accounts_per_rep,
                reset=reset,
                progress=lambda message: self.stdout.write(f"  {message}"),
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc)) from exc
        counts = ", ".join(
            f"{count:,} {name.replace('_', ' ')}" for name, count in report.counts.items()
        )
        self.stdout.write(self.style.SUCCESS(f"Seeded {counts} in {report.seconds:.1f} s."))
        self.stdout.write(
            f"Demo logins (password '{DEMO_PASSWORD}', demo only): {', '.join(demo_usernames())}"
        )
