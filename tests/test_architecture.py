"""The layer rule of docs/architecture.md: apps import only downward, with no cycles."""

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _contract() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
    )


def test_every_app_of_ours_is_placed_in_a_layer():
    ours = {app for app in settings.INSTALLED_APPS if (ROOT / app / "__init__.py").exists()}
    contract = _contract()
    layered = {
        name.strip() for layer in contract["contracts"][0]["layers"] for name in layer.split("|")
    }
    assert ours | {"config"} == set(contract["root_packages"]) == layered


def test_no_app_imports_from_an_app_above_it():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    for package in _contract()["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    services = tmp_path / "crm" / "services.py"
    services.write_text(services.read_text() + "\nfrom health.models import AccountFlag  # noqa\n")

    result = _lint(tmp_path)

    assert result.returncode != 0
    assert "crm.services -> health.models" in result.stdout


def _module_cycles(root) -> set[tuple[str, str]]:
    """Pairs of our modules that import each other, directly or through others (grimp, the
    graph import-linter reads; imports inside functions count)."""
    packages = _contract()["root_packages"]
    script = (
        "import grimp, json, sys\n"
        f"packages = {packages!r}\n"
        "graph = grimp.build_graph(*packages)\n"
        "cycles = sorted({tuple(sorted((m, n))) for m in graph.modules\n"
        "    for n in graph.find_modules_directly_imported_by(m)\n"
        "    if n.split('.')[0] in packages and graph.chain_exists(importer=n, imported=m)})\n"
        "print(json.dumps(cycles))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    return {tuple(pair) for pair in json.loads(result.stdout)}


def test_no_two_modules_import_each_other():
    assert _module_cycles(ROOT) == set()


def test_a_planted_import_cycle_is_found(tmp_path):
    for package in _contract()["root_packages"]:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    services = tmp_path / "imports" / "runs.py"
    services.write_text(
        services.read_text() + "\n\ndef _later():\n    import imports.tasks  # noqa\n"
    )
    assert ("imports.runs", "imports.tasks") in _module_cycles(tmp_path)


def test_crm_and_visits_read_health_only_through_core_figures():
    """crm and visits sit below health: they may not reach its tables through the customer's
    reverse relations (`metrics__profit`, `select_related("metrics")`, `customer.metrics`),
    which the import contract cannot see. They read core.figures' annotations."""
    from django.apps import apps

    relations = {
        field.related_query_name()
        for model in apps.get_app_config("health").get_models()
        for field in model._meta.get_fields()
        if getattr(field, "related_model", None) is not None
        and field.related_model._meta.label == "crm.Customer"
        and field.concrete
        and not field.related_query_name().endswith("+")
    }
    assert "metrics" in relations
    sources = [
        path
        for folder in ("crm", "visits")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
    ] + list((ROOT / "templates" / "visits").rglob("*.html"))
    found = []
    for path in sources:
        text = path.read_text()
        for name in relations:
            for pattern in (f"{name}__", f'"{name}"', f".{name}.", f"__{name}"):
                if pattern in text:
                    found.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not found, "health's tables read from below it: " + ", ".join(found)
