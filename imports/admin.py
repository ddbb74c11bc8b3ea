from django.contrib import admin

from imports.models import ImportChange, ImportJob, MappingPreset


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "uploaded_at",
        "uploaded_by",
        "kind",
        "original_name",
        "status",
        "rows",
        "created",
        "updated",
        "unchanged",
        "rejected",
    )
    list_filter = ("kind", "status")
    readonly_fields = [f.name for f in ImportJob._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ImportChange)
class ImportChangeAdmin(admin.ModelAdmin):
    list_display = ("job", "object_id", "created")
    list_select_related = ("job",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MappingPreset)
class MappingPresetAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_by", "created_at")
    list_filter = ("kind",)
