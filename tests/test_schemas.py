"""The checked-in JSON Schemas under schemas/ match the pydantic contracts."""

from pathlib import Path

import pytest

from driftline.commands.schema import CONTRACT_NAMES, contract_models, render

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_checked_in_schema_is_current(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.exists(), f"{path} missing: run `driftline schema --write schemas`"
    assert path.read_text() == render(name), (
        f"{path} is stale: run `driftline schema --write schemas` and commit the result"
    )


def test_no_orphan_schema_files() -> None:
    on_disk = {p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json")}
    assert on_disk == set(CONTRACT_NAMES)


def test_the_names_are_the_contracts() -> None:
    assert list(contract_models()) == list(CONTRACT_NAMES)
