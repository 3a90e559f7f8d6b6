"""Service definitions: a site's file replaces the shipped one of the same name, whatever it is called."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from pgrestore.core import services
from pgrestore.errors import ConfigError


def _site_copy(tmp_path, file_name: str, timeout: int) -> None:
    doc = yaml.safe_load((resources.files("pgrestore.services") / "keycloak.yaml").read_text())
    doc.setdefault("timeouts", {})["restore-dump"] = timeout
    (tmp_path / file_name).write_text(yaml.safe_dump(doc))


@pytest.mark.parametrize("file_name", ["00-keycloak.yaml", "keycloak.yaml", "zz-keycloak.yaml"])
def test_a_site_definition_replaces_the_shipped_one_whatever_its_file_name(tmp_path, monkeypatch, file_name):
    _site_copy(tmp_path, file_name, 4321)
    monkeypatch.setenv("PGRESTORE_SERVICES_DIR", str(tmp_path))
    assert services.load("keycloak").timeouts["restore-dump"] == 4321


def test_two_site_files_for_one_service_are_refused_naming_both(tmp_path, monkeypatch):
    _site_copy(tmp_path, "a.yaml", 1000)
    _site_copy(tmp_path, "b.yaml", 2000)
    monkeypatch.setenv("PGRESTORE_SERVICES_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match=r"'keycloak' is defined twice .*a\.yaml and b\.yaml"):
        services.load_all()


def test_without_a_site_folder_the_shipped_definitions_load(monkeypatch):
    monkeypatch.delenv("PGRESTORE_SERVICES_DIR", raising=False)
    assert {"keycloak", "spire", "hsm", "sls"} <= set(services.load_all())
