"""The admins' import pages: upload, mapping and options, dry run, run with live progress,
rejects download, history and revert."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRefresh

from accounts.models import Role
from accounts.permissions import role_required
from core.http import HtmxHttpRequest
from imports.engine import media_path
from imports.forms import MappingForm, PresetChoiceForm, PresetForm, UploadForm
from imports.kinds import KINDS, has_dates, mapping_notes
from imports.models import ImportJob, ImportStatus
from imports.progress import progress_read
from imports.reverts import (
    import_revert_blockers,
    import_revert_queue,
)
from imports.runs import (
    import_give_up_if_stalled,
    import_is_stalled,
    import_queue,
)
from imports.selectors import data_overview
from imports.services import (
    import_configure,
    import_inspect_queue,
    import_store,
    preset_apply,
    preset_save,
)

HISTORY_ROWS = 50


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def import_list(request: HtmxHttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = import_store(
                user=request.user,
                kind=form.cleaned_data["kind"],
                name=upload.name,
                chunks=upload.chunks(),
                size=upload.size,
                sheet=form.cleaned_data["sheet"].strip(),
                max_bytes=settings.IMPORT_MAX_BYTES,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            import_inspect_queue(job)
            return redirect("imports:detail", pk=job.pk)
    history = ImportJob.objects.select_related("uploaded_by")[:HISTORY_ROWS]
    status = 400 if request.method == "POST" else 200
    return render(
        request, "imports/import_list.html", {"form": form, "history": history}, status=status
    )


def _detail_context(job: ImportJob, mapping_form: MappingForm | None = None) -> dict:
    editable = job.status in {ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED}
    kind = KINDS[job.kind]
    defaults = {
        "has_default_territory": job.default_territory_id is not None,
        "has_default_owner": job.default_owner_id is not None,
    }
    return {
        "mapping_notes": mapping_notes(kind, job.mapping, **defaults) if editable else [],
        "asks_date_order": has_dates(kind, job.mapping),
        "job": job,
        "progress": progress_read(job.pk) if job.is_busy else None,
        "stalled": import_is_stalled(job),
        "mapping_form": mapping_form or (MappingForm(job=job) if editable else None),
        "preset_form": PresetForm() if editable else None,
        "preset_choice": PresetChoiceForm(kind=job.kind) if editable else None,
        "revert_blockers": import_revert_blockers(job) if job.status == ImportStatus.DONE else [],
    }


@require_GET
@role_required(Role.ADMIN)
def import_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = import_give_up_if_stalled(get_object_or_404(ImportJob, pk=pk))
    if request.htmx and request.htmx.target == "progress":
        if not job.is_busy:
            # Finished: the whole page changes (counts, preview, rejects), not just the bar.
            return HttpResponseClientRefresh()
        return render(request, "imports/import_detail.html#progress", _detail_context(job))
    return render(request, "imports/import_detail.html", _detail_context(job))


@require_POST
@role_required(Role.ADMIN)
def import_mapping(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Save the mapping and options, then start the dry run or the import."""
    job = get_object_or_404(ImportJob, pk=pk)
    form = MappingForm(request.POST, job=job)
    if form.is_valid():
        try:
            import_configure(
                job=job,
                mapping=form.mapping(),
                date_order=form.cleaned_data["date_order"],
                default_owner=form.cleaned_data["default_owner"],
                default_territory=form.cleaned_data["default_territory"],
            )
            import_queue(job=job, dry_run=request.POST.get("action") != "run")
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        else:
            return redirect("imports:detail", pk=job.pk)
    # The page again with the message by the mapping: a form to correct, not a failed request.
    return render(request, "imports/import_detail.html", _detail_context(job, form))


@require_POST
@role_required(Role.ADMIN)
def import_preset(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Save the current mapping as a preset, or take a saved preset's mapping."""
    job = get_object_or_404(ImportJob, pk=pk)
    if "preset" in request.POST:
        choice = PresetChoiceForm(request.POST, kind=job.kind)
        if choice.is_valid():
            preset_apply(job=job, preset=choice.cleaned_data["preset"])
            messages.success(request, f"Mapping taken from preset {choice.cleaned_data['preset']}.")
        else:
            messages.error(request, "Choose a preset.")
        return redirect("imports:detail", pk=job.pk)
    form = PresetForm(request.POST)
    if form.is_valid():
        try:
            preset = preset_save(
                name=form.cleaned_data["preset_name"],
                kind=job.kind,
                mapping=job.mapping,
                user=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Mapping saved as preset “{preset.name}”.")
    else:
        messages.error(request, "Name the preset.")
    return redirect("imports:detail", pk=job.pk)


@require_GET
@role_required(Role.ADMIN)
def import_rejects(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(ImportJob, pk=pk)
    path = media_path(job.rejects_name) if job.rejects_name else None
    if path is None or not path.is_file():
        raise Http404("This import has no rejects file.")
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    return FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"{stem}-rejects.csv",
        content_type=f"text/csv; charset={_charset(job.rejects_encoding)}",
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def import_revert_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """GET: what the revert will undo, to confirm; POST: revert."""
    job = get_object_or_404(ImportJob, pk=pk)
    if request.method == "GET":
        context = _detail_context(job) | {"confirming_revert": True}
        return render(request, "imports/import_detail.html", context)
    try:
        import_revert_queue(job=job, user=request.user)
    except ValidationError as exc:
        messages.error(request, "Cannot revert: " + " ".join(exc.messages))
    else:
        messages.success(
            request, "Reverting: its new rows are removed and its updates undone in the background."
        )
    return redirect("imports:detail", pk=job.pk)


def _charset(encoding: str) -> str:
    """The rejects file's encoding as an HTTP charset."""
    return {"utf-8-sig": "utf-8", "cp1252": "windows-1252", "": "utf-8"}.get(encoding, encoding)


@require_GET
@role_required(Role.ADMIN)
def admin_home(request: HtmxHttpRequest) -> HttpResponse:
    """The admin's landing page: how much data there is, by kind and territory."""
    return render(request, "accounts/admin_home.html", {"overview": data_overview()})
