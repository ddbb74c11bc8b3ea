"""Invoices in another currency count at their issue date's rate, in the house currency; a
currency without a rate is refused, never summed as if it were the house currency."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.models import ExchangeRate, Invoice
from crm.services import invoice_save
from health.models import AccountMetrics, AccountMonth
from health.services import accounts_refresh
from tests.imports.test_import import counts, run

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 11, 20)


@pytest.fixture
def rates(world, settings):
    settings.CADENCE_CURRENCY = "EUR"
    ExchangeRate.objects.create(currency="USD", on_date=dt.date(2026, 1, 1), rate=Decimal("0.9"))
    ExchangeRate.objects.create(currency="USD", on_date=dt.date(2026, 6, 1), rate=Decimal("0.8"))
    return world


def revenue(account) -> Decimal:
    accounts_refresh(customer_ids=[account.pk], as_of=AS_OF)
    return AccountMetrics.objects.get(customer=account).revenue


def test_a_usd_invoice_adds_exactly_its_converted_amount(rates):
    account = rates.north_customer
    invoice_save(
        invoice=Invoice(
            customer=account,
            number="EU-1",
            issued_on=dt.date(2026, 7, 1),
            due_on=dt.date(2026, 7, 31),
            amount=Decimal("1000.00"),
        )
    )
    before = revenue(account)
    usd = invoice_save(
        invoice=Invoice(
            customer=account,
            number="US-1",
            issued_on=dt.date(2026, 7, 1),
            due_on=dt.date(2026, 7, 31),
            amount=Decimal("1234.56"),
            cost_of_goods=Decimal("234.56"),
            currency="usd",
        )
    )
    assert (usd.currency, usd.exchange_rate) == ("USD", Decimal("0.8"))
    assert revenue(account) - before == Decimal("987.65")  # 1,234.56 at 0.8, to the cent
    accounts_refresh(customer_ids=[account.pk], as_of=AS_OF)
    july = AccountMonth.objects.get(customer=account, month=dt.date(2026, 7, 1))
    assert july.revenue == Decimal("1987.65") and july.gross_margin == Decimal("1800.00")


def test_a_currency_without_a_rate_is_refused(rates):
    with pytest.raises(ValidationError, match="No exchange rate for GBP on or before 2026-07-01"):
        invoice_save(
            invoice=Invoice(
                customer=rates.north_customer,
                number="GB-1",
                issued_on=dt.date(2026, 7, 1),
                due_on=dt.date(2026, 7, 31),
                amount=Decimal("10"),
                currency="GBP",
            )
        )
    with pytest.raises(ValidationError, match="No exchange rate for USD"):
        invoice_save(
            invoice=Invoice(
                customer=rates.north_customer,
                number="US-0",
                issued_on=dt.date(2025, 12, 31),  # before the first USD rate
                due_on=dt.date(2026, 1, 31),
                amount=Decimal("10"),
                currency="USD",
            )
        )
    assert not Invoice.objects.exists()


INVOICES = """\
Invoice Number,Customer Code,Invoice Date,Due Date,Amount,Currency
IM-1,{code},2026-03-01,2026-03-31,100.00,EUR
IM-2,{code},2026-03-01,2026-03-31,100.00,USD
IM-3,{code},2026-07-01,2026-07-31,100.00,USD
IM-4,{code},2026-07-01,2026-07-31,100.00,GBP
"""


def test_imported_invoices_are_converted_or_rejected_with_the_reason(rates):
    text = INVOICES.format(code=rates.north_customer.code)
    job, _ = run(rates, "invoices", text)
    assert counts(job) == (3, 0, 0, 1), job.reject_samples
    assert "no exchange rate for GBP on or before 2026-07-01" in job.reject_samples[0]["reason"]
    assert dict(Invoice.objects.values_list("number", "exchange_rate")) == {
        "IM-1": Decimal("1"),
        "IM-2": Decimal("0.9"),
        "IM-3": Decimal("0.8"),
    }
    assert revenue(rates.north_customer) == Decimal("270.00")
    again, _ = run(rates, "invoices", text)
    assert counts(again) == (0, 0, 3, 1)


def test_exchange_rates_import_and_the_account_page_shows_both_amounts(client, rates):
    job, _ = run(rates, "exchange_rates", "Currency,Valid From,Rate\nGBP,2026-01-01,1.15\n")
    assert counts(job) == (1, 0, 0, 0), job.reject_samples
    invoice_save(
        invoice=Invoice(
            customer=rates.north_customer,
            number="GB-2",
            issued_on=dt.date(2026, 7, 1),
            due_on=dt.date(2026, 7, 31),
            amount=Decimal("100.00"),
            currency="GBP",
        )
    )
    client.force_login(rates.rep_north)
    url = reverse("crm:customer_detail", args=[rates.north_customer.pk]) + "?tab=invoices"
    page = client.get(url).text
    assert "100.00 GBP" in page and "115.00 EUR" in page
