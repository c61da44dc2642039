"""The default mapping and blueprints ship inside the package and equal the user-facing copies."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from importlib import resources
from pathlib import Path

import pytest

import azure_port_pipeline
import azure_port_pipeline.mapping.defaults as defaults_module
from azure_port_pipeline.mapping import (
    DEFAULT_BLUEPRINTS_NAME,
    DEFAULT_MAPPING_NAME,
    MappingConfigError,
    PortAppConfig,
    default_blueprints,
    load_blueprints,
    load_default_mapping,
    load_mapping,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(azure_port_pipeline.__file__).resolve().parent
USER_COPIES = {
    "azure.yaml": REPO / "mapping" / "azure.yaml",
    "blueprints.json": REPO / "mapping" / "blueprints.json",
}


@pytest.mark.parametrize("name", sorted(USER_COPIES))
def test_user_facing_copy_is_byte_identical_to_the_package_copy(name: str) -> None:
    packaged = resources.files("azure_port_pipeline.mapping.defaults").joinpath(name)
    assert USER_COPIES[name].read_bytes() == packaged.read_bytes(), (
        f"mapping/{name} and azure_port_pipeline/mapping/defaults/{name} differ: "
        "the package copy is what an install loads; copy one onto the other"
    )


def test_package_data_declares_the_defaults() -> None:
    """What setuptools puts in a wheel: every data file of defaults/ must match a glob."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["azure_port_pipeline.mapping.defaults"]
    data = [p.name for p in (PACKAGE / "mapping" / "defaults").iterdir() if p.suffix != ".py"]
    data = [name for name in data if name != "__pycache__"]
    assert sorted(data) == sorted(USER_COPIES)
    for name in data:
        assert any(fnmatch.fnmatch(name, glob) for glob in globs), name


def test_defaults_load_from_the_package() -> None:
    config = load_default_mapping()
    assert config.source == DEFAULT_MAPPING_NAME
    from_repo = load_mapping(USER_COPIES["azure.yaml"])
    assert [(e.key, e.kind) for e in config.entries] == [(e.key, e.kind) for e in from_repo.entries]
    blueprints = default_blueprints()
    assert blueprints == load_blueprints(USER_COPIES["blueprints.json"])
    assert {"azureSubscription", "azureResourceGroup", "azureCloudResource"} <= {
        b["identifier"] for b in blueprints
    }
    blueprints.clear()  # a fresh list per call: callers may change theirs
    assert default_blueprints()


def test_defaults_load_through_importlib_resources_only(tmp_path: Path) -> None:
    """An install without the repository: the package tree alone, no top-level `mapping/`."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__")
    (site / "azure_port_pipeline").mkdir(parents=True)
    for name in ("__init__.py", "entities.py"):
        shutil.copy(PACKAGE / name, site / "azure_port_pipeline" / name)
    shutil.copytree(PACKAGE / "mapping", site / "azure_port_pipeline" / "mapping", ignore=ignore)
    script = textwrap.dedent(
        """
        import json
        import azure_port_pipeline
        from azure_port_pipeline.mapping import default_blueprints, load_default_mapping

        config = load_default_mapping()
        print(json.dumps({
            "package": azure_port_pipeline.__file__,
            "keys": [entry.key for entry in config.entries],
            "source": config.source,
            "blueprints": [b["identifier"] for b in default_blueprints()],
        }))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert Path(out["package"]).resolve().is_relative_to(site.resolve())
    assert out["source"] == DEFAULT_MAPPING_NAME
    assert out["keys"] == [entry.key for entry in load_default_mapping().entries]
    assert out["blueprints"] == [b["identifier"] for b in default_blueprints()]


def test_invalid_default_mapping_names_the_package_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "azure.yaml"
    broken.write_text("resources:\n  - kind: subscription\n    selector: {query: '.x |'}\n")
    monkeypatch.setattr(defaults_module, "default_mapping_file", lambda: broken)
    with pytest.raises(MappingConfigError) as info:
        load_default_mapping()
    assert info.value.source == DEFAULT_MAPPING_NAME
    assert str(info.value).startswith(f"{DEFAULT_MAPPING_NAME}: resources[0] (kind 'subscription')")

    monkeypatch.setattr(defaults_module, "default_mapping_file", lambda: tmp_path / "gone.yaml")
    with pytest.raises(MappingConfigError, match=r"defaults/azure\.yaml: cannot read mapping"):
        load_default_mapping()


def test_unreadable_default_blueprints_name_the_package_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults_module, "default_blueprints_file", lambda: tmp_path / "gone.json")
    with pytest.raises(
        ValueError, match=f"^{re.escape(DEFAULT_BLUEPRINTS_NAME)}: cannot read blueprints"
    ):
        default_blueprints()


def test_invalid_mapping_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("resources:\n  - kind: subscription\n    selektor: {}\n")
    with pytest.raises(
        MappingConfigError, match=rf"^{re.escape(str(path))}: resources\[0\]"
    ) as info:
        load_mapping(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read blueprints"),
        ("{not json", "cannot read blueprints"),
        ('{"identifier": "x"}', "expected a list of blueprints, each with an identifier"),
        ('{"other": []}', "expected a list of blueprints, each with an identifier"),
        ('[{"identifier": "a"}, {"title": "no id"}]', "expected a list of blueprints"),
        ('"text"', "expected a list of blueprints"),
    ],
)
def test_load_blueprints_errors_name_the_file(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "blueprints.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}: {message}"):
        load_blueprints(path)


def test_load_blueprints_accepts_a_list_or_an_object(tmp_path: Path) -> None:
    listed, wrapped = tmp_path / "a.json", tmp_path / "b.json"
    listed.write_text('[{"identifier": "a"}]')
    wrapped.write_text('{"blueprints": [{"identifier": "a"}]}')
    assert load_blueprints(listed) == load_blueprints(str(wrapped)) == [{"identifier": "a"}]


def test_port_app_config_entries_accept_the_yaml_name_too() -> None:
    entries = load_default_mapping().entries
    flags = {
        "delete_dependent_entities": True,
        "create_missing_related_entities": True,
        "enable_merge_entity": True,
        "entity_deletion_threshold": 0.9,
    }
    by_name = PortAppConfig(entries=entries, **flags)
    by_yaml_key = PortAppConfig(resources=entries, **flags)
    assert by_name.entries == by_yaml_key.entries == entries
    assert by_name.entry("storage_accounts").kind == "Microsoft.Storage/storageAccounts"
    with pytest.raises(KeyError, match="no mapping entry with key 'nope'"):
        by_name.entry("nope")
