import datetime as dt
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User
from core.bounds import (
    MAX_MONEY,
    MAX_TRAVEL_MINUTES,
    MAX_VISIT_KM,
    validate_plausible_date,
    validate_single_line,
)
from crm.models import Competitor, Contact, Customer
from visits.ask_selectors import ASK_SCOPES, ASK_STATES, ask_owner_choices
from visits.ask_services import MAX_ASKS_PER_VISIT, AskInput
from visits.models import (
    REMOTE_VISIT_KINDS,
    AskAnswerKind,
    AskKind,
    Outcome,
    QuoteOutcome,
    Rhythm,
    Visit,
    VisitKind,
)
from visits.rhythms import MAX_SERIES_MEETINGS
from visits.services import default_meeting_kind, meeting_is_remote, validate_meeting_times

DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# A new meeting starts at 9:00 unless said otherwise (the plan form's prefill, and a follow-up
# planned from the log form without a time, for the API too), for an hour.
MEETING_START = dt.time(9, 0)
MEETING_LENGTH = dt.timedelta(hours=1)
FOLLOW_UP_TIME = MEETING_START
MEETING_KINDS = [(k, label) for k, label in VisitKind.choices if k != VisitKind.EMAIL]
# Travel is asked for only where someone travels: on-site visits of field accounts.
TRAVEL_FIELDS = ("travel_minutes", "distance_km", "expenses")


def kinds_for(user: User, choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The kinds of contact `user` may plan or log: inside sales never go on site."""
    if user.is_inside_sales:
        return [(kind, label) for kind, label in choices if kind in REMOTE_VISIT_KINDS]
    return choices


def set_kinds(field: forms.ChoiceField, choices: list[tuple[str, str]]) -> None:
    """The kinds offered, and a refusal that names them (an API client sees the values)."""
    field.choices = choices
    field.error_messages["invalid_choice"] = (
        f"Choose one of: {', '.join(kind for kind, _ in choices)}."
    )


class ContactsField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, contact: Contact) -> str:
        return f"{contact.name} ({contact.title})" if contact.title else contact.name


class CustomerContactsMixin:
    """Limits the contacts field to the chosen customer's contacts."""

    def limit_contacts(self, customer: Customer | None) -> None:
        queryset = (
            customer.contacts.order_by("-is_primary", "name")
            if customer
            else Contact.objects.none()
        )
        self.fields["contacts"].queryset = queryset


class MeetingTimesForm(forms.Form):
    start = forms.DateTimeField(widget=DATETIME_WIDGET, validators=[validate_plausible_date])
    end = forms.DateTimeField(widget=DATETIME_WIDGET, validators=[validate_plausible_date])

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            try:
                validate_meeting_times(start, end)
            except ValidationError as error:
                self.add_error("end", error.message_dict["scheduled_end"])
        return cleaned


class PlanForm(CustomerContactsMixin, MeetingTimesForm):
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.none(),
        widget=forms.HiddenInput,
        error_messages={"required": "Choose a customer.", "invalid_choice": "Choose a customer."},
    )
    kind = forms.ChoiceField(choices=MEETING_KINDS, initial=VisitKind.ON_SITE)
    contacts = ContactsField(queryset=Contact.objects.none(), required=False)
    purpose = forms.CharField(max_length=300, required=False)
    # The drive there, if known (the day plan and "near me" fill it in); the log form
    # starts from it.
    travel_minutes = forms.IntegerField(
        min_value=0, max_value=MAX_TRAVEL_MINUTES, required=False, label="Travel (minutes)"
    )
    distance_km = forms.DecimalField(
        min_value=0, max_value=MAX_VISIT_KM, decimal_places=1, required=False, label="Distance (km)"
    )
    field_order = ["customer", "kind", "start", "end", "contacts", "purpose"]

    def __init__(self, *args, customers, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        set_kinds(self.fields["kind"], kinds_for(user, MEETING_KINDS))
        customer = self.chosen_customer()
        self.fields["kind"].initial = default_meeting_kind(customer, user)
        if meeting_is_remote(customer, user):
            del self.fields["travel_minutes"], self.fields["distance_km"]
        self.limit_contacts(customer)

    def travel(self) -> dict:
        """The travel to give the meeting: none for a call, whatever the form said."""
        data = self.cleaned_data
        if "travel_minutes" not in self.fields or data["kind"] in REMOTE_VISIT_KINDS:
            return {}
        return {
            "travel_minutes": data.get("travel_minutes") or 0,
            "distance_km": data.get("distance_km") or Decimal("0"),
        }

    def chosen_customer(self) -> Customer | None:
        raw = self.data.get("customer") if self.is_bound else self.initial.get("customer")
        if isinstance(raw, Customer):
            return raw
        try:
            return self.fields["customer"].queryset.get(pk=int(raw))
        except (TypeError, ValueError, Customer.DoesNotExist):
            return None


SERIES_SCOPES = [("this", "This meeting only"), ("following", "This and all following")]


class RescheduleForm(MeetingTimesForm):
    # Shown for a meeting of a booked series only; elsewhere it stays "this".
    scope = forms.ChoiceField(
        choices=SERIES_SCOPES, initial="this", required=False, widget=forms.RadioSelect
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        error_messages={"required": "Say why the meeting is cancelled."},
        validators=[validate_single_line],
    )
    scope = forms.ChoiceField(
        choices=SERIES_SCOPES, initial="this", required=False, widget=forms.RadioSelect
    )


class RhythmForm(forms.ModelForm):
    class Meta:
        model = Rhythm
        fields = [
            "name",
            "frequency",
            "interval",
            "ordinal",
            "weekday",
            "start_time",
            "duration_minutes",
            "kind",
        ]
        labels = {
            "name": "What the meeting is",
            "frequency": "Unit",
            "ordinal": "Which week of the month",
            "weekday": "Day",
            "start_time": "Time",
            "duration_minutes": "Minutes",
        }
        widgets = {"start_time": forms.TimeInput(attrs={"type": "time"})}


class SeriesBookForm(forms.Form):
    count = forms.IntegerField(
        label="Meetings to book",
        min_value=1,
        max_value=MAX_SERIES_MEETINGS,
        initial=4,
        error_messages={
            "min_value": f"Book between 1 and {MAX_SERIES_MEETINGS} meetings.",
            "max_value": f"Book between 1 and {MAX_SERIES_MEETINGS} meetings.",
        },
    )
    first = forms.DateField(
        label="From",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The first meeting is the rhythm's next day from this date (default: tomorrow).",
        validators=[validate_plausible_date],
    )


class AskForm(forms.Form):
    """One thing the customer asked for; a row left empty is no ask."""

    kind = forms.ChoiceField(choices=[("", "—"), *AskKind.choices], required=False)
    text = forms.CharField(
        max_length=500,
        required=False,
        label="What they asked for",
        validators=[validate_single_line],
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Me", label="Who answers"
    )
    due_on = forms.DateField(
        required=False,
        widget=DATE_WIDGET,
        validators=[validate_plausible_date],
        label="Answer by",
        help_text="Left empty: the kind's usual days.",
    )
    value = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=MAX_MONEY,
        decimal_places=2,
        label="Value (a quote)",
    )

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners

    def clean(self):
        cleaned = super().clean()
        text, kind = (cleaned.get("text") or "").strip(), cleaned.get("kind")
        if text and not kind:
            self.add_error("kind", "Choose what kind of ask this is.")
        if kind and not text and "text" not in self.errors:
            self.add_error("text", "Say what the customer asked for.")
        return cleaned

    def ask(self) -> AskInput | None:
        data = getattr(self, "cleaned_data", {})
        if not (data.get("text") or "").strip():
            return None
        return AskInput(
            kind=data["kind"],
            text=data["text"],
            owner=data.get("owner"),
            due_on=data.get("due_on"),
            value=data.get("value"),
        )


AskFormSet = forms.formset_factory(
    AskForm, extra=2, max_num=MAX_ASKS_PER_VISIT, validate_max=True, absolute_max=MAX_ASKS_PER_VISIT
)
ASKS_PREFIX = "asks"


def ask_formset_data(asks: list[dict]) -> dict:
    """A list of asks (the API's, the offline app's) as the log form's rows."""
    data = {
        f"{ASKS_PREFIX}-TOTAL_FORMS": str(len(asks)),
        f"{ASKS_PREFIX}-INITIAL_FORMS": "0",
    }
    for index, ask in enumerate(asks):
        for name in ("kind", "text", "owner", "due_on", "value"):
            if ask.get(name) is not None:
                data[f"{ASKS_PREFIX}-{index}-{name}"] = str(ask[name])
    return data


class LogForm(CustomerContactsMixin, forms.ModelForm):
    contacts = ContactsField(queryset=Contact.objects.none(), required=False, label="Contacts met")
    plan_follow_up = forms.BooleanField(
        required=False, label="Also plan the follow-up meeting on the follow-up date"
    )
    follow_up_time = forms.TimeField(
        required=False,
        initial=FOLLOW_UP_TIME,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        label="Follow-up meeting at",
    )

    class Meta:
        model = Visit
        fields = [
            "kind",
            "visited_at",
            "duration_minutes",
            "travel_minutes",
            "distance_km",
            "expenses",
            "contacts",
            "notes",
            "outcome",
            "next_step",
            "follow_up_on",
            "competitor",
        ]
        widgets = {
            "visited_at": DATETIME_WIDGET,
            "follow_up_on": DATE_WIDGET,
            "notes": forms.Textarea(attrs={"rows": 4}),
            # Suggests the known competitors (the page's datalist); anything else may be typed.
            "competitor": forms.TextInput(attrs={"list": "competitors", "autocomplete": "off"}),
        }
        # The plan form's labels for the same fields (PlanForm.travel_minutes, distance_km).
        labels = {
            "visited_at": "When",
            "duration_minutes": "Duration (minutes)",
            "travel_minutes": "Travel (minutes)",
            "distance_km": "Distance (km)",
        }

    def __init__(self, *args, customer: Customer, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["visited_at"].required = True
        self.fields["outcome"].choices = [("", "—"), *Outcome.choices]
        set_kinds(self.fields["kind"], kinds_for(user, list(VisitKind.choices)))
        if not self.is_bound and "kind" not in (kwargs.get("initial") or {}):
            self.initial["kind"] = default_meeting_kind(customer, user)
        # Remote-served accounts and inside sales: no one travelled, so nothing to ask.
        self.known_competitors = Competitor.objects.values_list("name", flat=True)
        self.remote = meeting_is_remote(customer, user)
        if self.remote:
            for name in TRAVEL_FIELDS:
                del self.fields[name]
        self.limit_contacts(customer)
        # The asks' rows: a form that sends none (an older client) records none.
        self.asks = AskFormSet(
            self.data if f"{ASKS_PREFIX}-TOTAL_FORMS" in self.data else None,
            prefix=ASKS_PREFIX,
            form_kwargs={"owners": ask_owner_choices(customer)},
        )

    def clean(self):
        cleaned = super().clean()
        if self.asks.is_bound and not self.asks.is_valid():
            self.add_error(None, "Check what the customer asked for (marked below).")
        if cleaned.get("plan_follow_up"):
            follow_up_on = cleaned.get("follow_up_on")
            if not follow_up_on:
                self.add_error("follow_up_on", "Set the follow-up date to plan the meeting.")
            # Left out (an API client, the offline app): the page's default. Emptied on the
            # page: asked for.
            at = cleaned.get("follow_up_time") or (
                None if "follow_up_time" in self.data else FOLLOW_UP_TIME
            )
            if follow_up_on and at is None:
                if "follow_up_time" not in self.errors:
                    self.add_error("follow_up_time", "Set the time of the follow-up meeting.")
            elif follow_up_on:
                start = timezone.make_aware(dt.datetime.combine(follow_up_on, at))
                if start <= timezone.now():
                    self.add_error("follow_up_on", "The follow-up meeting must be in the future.")
                cleaned["plan_follow_up_at"] = start
        return cleaned

    def nested_errors(self) -> dict[str, list[str]]:
        if not self.asks.is_bound:
            return {}
        errors = {
            f"asks[{index}].{name}": list(messages)
            for index, row in enumerate(self.asks.errors)
            for name, messages in row.items()
        }
        if self.asks.non_form_errors():
            errors["asks"] = list(self.asks.non_form_errors())
        return errors

    def service_arguments(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields if name in self.fields}
        data["contacts"] = list(self.cleaned_data["contacts"])
        data["plan_follow_up_at"] = self.cleaned_data.get("plan_follow_up_at")
        for text in ("notes", "outcome", "next_step", "competitor"):
            data[text] = data[text] or ""
        data["asks"] = (
            [ask for form in self.asks.forms if (ask := form.ask()) is not None]
            if self.asks.is_bound
            else []
        )
        return data


class RouteForm(forms.Form):
    """The day plan's question: which day, from where to where, and how much extra driving
    the rep will do for suggested stops. `lat`/`lng` are where the phone stands ("here")."""

    PLACES = [("home", "Home base"), ("office", "Office"), ("here", "Where I am")]
    MAX_DAYS_AHEAD = 90

    day = forms.DateField(widget=DATE_WIDGET, required=False)
    start = forms.ChoiceField(choices=PLACES, initial="home", label="Start at")
    end = forms.ChoiceField(choices=PLACES, initial="home", label="End at")
    opens = forms.TimeField(
        initial=dt.time(8, 30),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        label="Working from",
    )
    closes = forms.TimeField(
        initial=dt.time(17, 30),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        label="until",
    )
    detour = forms.IntegerField(
        min_value=0,
        max_value=240,
        initial=60,
        required=False,
        label="Extra driving for suggestions (minutes)",
    )
    stop_minutes = forms.IntegerField(
        min_value=10, max_value=240, initial=45, required=False, label="Minutes per suggested stop"
    )
    lat = forms.FloatField(min_value=-90, max_value=90, required=False, widget=forms.HiddenInput)
    lng = forms.FloatField(min_value=-180, max_value=180, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, places: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.places = places  # "home"/"office" -> Place or None
        default = "home" if places.get("home") else "office" if places.get("office") else "here"
        self.fields["start"].initial = self.fields["end"].initial = default

    def clean_day(self):
        day = self.cleaned_data.get("day") or timezone.localdate()
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError("Plan today or a day ahead, not a day gone by.")
        if day > today + dt.timedelta(days=self.MAX_DAYS_AHEAD):
            raise forms.ValidationError("Plan at most 90 days ahead.")
        return day

    def clean(self):
        cleaned = super().clean()
        here_needed = "here" in (cleaned.get("start"), cleaned.get("end"))
        here = (cleaned.get("lat"), cleaned.get("lng"))
        if here_needed and None in here:
            raise forms.ValidationError(
                "Cadence needs your position to start or end where you are: allow location, "
                "or choose your home base or office."
            )
        for name in ("start", "end"):
            choice = cleaned.get(name)
            if choice in ("home", "office") and self.places.get(choice) is None:
                missing = "home base" if choice == "home" else "territory office"
                self.add_error(name, f"You have no {missing} yet: choose another place.")
        opens = cleaned.get("opens") or self.fields["opens"].initial
        closes = cleaned.get("closes") or self.fields["closes"].initial
        if closes <= opens:
            self.add_error("closes", "The working day must end after it starts.")
        cleaned["opens"], cleaned["closes"] = opens, closes
        if cleaned.get("detour") is None:
            cleaned["detour"] = self.fields["detour"].initial
        if cleaned.get("stop_minutes") is None:
            cleaned["stop_minutes"] = self.fields["stop_minutes"].initial
        return cleaned


class HomeBaseForm(forms.Form):
    label = forms.CharField(
        max_length=120, required=False, validators=[validate_single_line], label="Name it"
    )
    lat = forms.FloatField(min_value=-90, max_value=90)
    lng = forms.FloatField(min_value=-180, max_value=180)


class AskFilterForm(forms.Form):
    """The asks list's filters; anything malformed falls back to the default."""

    scope = forms.ChoiceField(choices=list(ASK_SCOPES.items()), required=False)
    state = forms.ChoiceField(choices=list(ASK_STATES.items()), required=False)
    kind = forms.ChoiceField(choices=[("", "Any kind"), *AskKind.choices], required=False)

    def filters(self) -> dict:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "scope": data.get("scope") or "mine",
            "state": data.get("state") or "open",
            "kind": data.get("kind") or "",
        }


class AnswerForm(forms.Form):
    answer_kind = forms.ChoiceField(
        choices=[("", "—"), *AskAnswerKind.choices], label="What was done"
    )
    answer = forms.CharField(
        max_length=500, required=False, label="Details", validators=[validate_single_line]
    )
    value = forms.DecimalField(
        required=False,
        min_value=0,
        max_value=MAX_MONEY,
        decimal_places=2,
        label="The proposal's value",
    )


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(choices=QuoteOutcome.choices, widget=forms.RadioSelect)
    outcome_reason = forms.CharField(
        max_length=300, required=False, label="Why", validators=[validate_single_line]
    )
    competitor = forms.ModelChoiceField(
        queryset=Competitor.objects.order_by("name"),
        required=False,
        empty_label="—",
        label="Won by (a competitor)",
    )
