"""The schema files and the evolution gate: no drift from the models, no unreadable old data."""

from __future__ import annotations

import argparse
import shutil
from enum import StrEnum
from pathlib import Path

import pytest
from pydantic import Field

from omnichannel.contracts.avro_schema import avro_schema
from omnichannel.contracts.cli import add_contracts_parser, run_contracts
from omnichannel.contracts.common import Contract, Money, UtcDatetime
from omnichannel.contracts.registry import CONTRACTS
from omnichannel.contracts.schema_files import (
    DEFAULT_FOLDER,
    SchemaFileError,
    check_evolution,
    current_file,
    release,
    released_files,
    schema_text,
    write_schemas,
)


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_committed_schema_equals_what_the_model_generates(name: str) -> None:
    """Models and schemas cannot drift apart: `omni contracts write` after changing a model."""
    committed = current_file(DEFAULT_FOLDER, name).read_text(encoding="utf-8")
    assert committed == schema_text(avro_schema(CONTRACTS[name]))


def test_the_schema_folder_holds_only_the_contracts_avsc_files() -> None:
    assert sorted(path.stem for path in DEFAULT_FOLDER.glob("*.avsc")) == sorted(CONTRACTS)
    assert [path for path in DEFAULT_FOLDER.rglob("*") if path.suffix == ".py"] == []


@pytest.mark.parametrize("name", list(CONTRACTS))
def test_every_contract_is_released(name: str) -> None:
    assert released_files(DEFAULT_FOLDER, name)[0].name == "v1.avsc"


def test_the_evolution_gate_passes_on_the_repository() -> None:
    assert check_evolution() == []


class Size(StrEnum):
    """Sizes of a widget."""

    SMALL = "small"
    LARGE = "large"


def released_widget() -> type[Contract]:
    class Widget(Contract):
        """A widget, as released."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")
        size: Size = Field(description="Its size.")
        price: Money = Field(description="Its price.")

    return Widget


def with_new_optional_fields() -> type[Contract]:
    class Widget(Contract):
        """A widget, grown compatibly."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")
        size: Size = Field(description="Its size.")
        price: Money = Field(description="Its price.")
        colour: str | None = Field(default=None, description="New, optional.")
        note: str = Field(default="n/a", description="New, with a default.")
        discount: Money | None = Field(default=None, description="New, optional amount.")

    return Widget


def with_new_required_field() -> type[Contract]:
    class Widget(Contract):
        """A widget with a field old data cannot fill."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")
        size: Size = Field(description="Its size.")
        price: Money = Field(description="Its price.")
        made_at: UtcDatetime = Field(description="New and required.")

    return Widget


def with_changed_type() -> type[Contract]:
    class Widget(Contract):
        """A widget whose quantity became text."""

        widget_id: str = Field(description="Its id.")
        quantity: str = Field(description="How many, as text now.")
        size: Size = Field(description="Its size.")
        price: Money = Field(description="Its price.")

    return Widget


def with_removed_enum_symbol() -> type[Contract]:
    class Size(StrEnum):  # the same Avro enum, one symbol fewer
        """Sizes of a widget, one removed."""

        SMALL = "small"

    class Widget(Contract):
        """A widget that lost a size."""

        widget_id: str = Field(description="Its id.")
        quantity: int = Field(description="How many.")
        size: Size = Field(description="Its size.")
        price: Money = Field(description="Its price.")

    return Widget


@pytest.fixture
def released_folder(tmp_path: Path) -> Path:
    """A schema folder where Widget's first version is written and released."""
    contracts = {"Widget": released_widget()}
    write_schemas(tmp_path, contracts)
    assert release("Widget", tmp_path, contracts) == tmp_path / "released" / "Widget" / "v1.avsc"
    return tmp_path


def evolve(folder: Path, model: type[Contract]) -> list[str]:
    """Write the new model's schema, as a developer would, and run the gate."""
    contracts = {"Widget": model}
    write_schemas(folder, contracts)
    return check_evolution(folder, contracts)


def test_a_compatible_change_passes(released_folder: Path) -> None:
    assert evolve(released_folder, with_new_optional_fields()) == []


def test_a_new_required_field_is_reported_by_both_checks(released_folder: Path) -> None:
    problems = evolve(released_folder, with_new_required_field())
    assert any(
        "(Avro checker): reader_field_missing_default_value: made_at" in problem
        for problem in problems
    )
    assert any("(fastavro, filled sample)" in problem for problem in problems)
    assert all(problem.startswith("Widget: current schema cannot read") for problem in problems)
    assert all("v1.avsc" in problem for problem in problems)


def test_a_changed_type_is_reported(released_folder: Path) -> None:
    problems = evolve(released_folder, with_changed_type())
    assert any(
        "(Avro checker)" in problem
        and "reader type: string not compatible with writer type: long" in problem
        for problem in problems
    )
    assert any("(fastavro" in problem for problem in problems)


def test_a_removed_enum_symbol_is_reported(released_folder: Path) -> None:
    problems = evolve(released_folder, with_removed_enum_symbol())
    assert any("(Avro checker): missing_enum_symbols: {'large'}" in problem for problem in problems)
    assert any("(fastavro, sparse sample)" in problem for problem in problems)
    assert not any("(fastavro, filled sample)" in problem for problem in problems)


def test_every_released_version_is_checked(released_folder: Path) -> None:
    contracts = {"Widget": with_new_optional_fields()}
    write_schemas(released_folder, contracts)
    release("Widget", released_folder, contracts)
    problems = evolve(released_folder, with_new_required_field())
    assert {"v1.avsc", "v2.avsc"} <= {word for problem in problems for word in problem.split()}


def test_drift_between_model_and_file_is_reported(released_folder: Path) -> None:
    problems = check_evolution(released_folder, {"Widget": with_new_optional_fields()})
    assert problems == [
        f"{released_folder / 'Widget.avsc'} differs from the Widget model: "
        "run `omni contracts write`"
    ]


def test_a_missing_file_a_foreign_file_and_a_vanished_contract_are_reported(
    released_folder: Path,
) -> None:
    class Gadget(Contract):
        """Another contract."""

        gadget_id: str = Field(description="Its id.")

    (released_folder / "helper.py").write_text("")
    problems = check_evolution(released_folder, {"Gadget": Gadget})
    assert problems == [
        f"{released_folder / 'helper.py'}: only .avsc files belong in {released_folder}",
        f"{released_folder / 'Gadget.avsc'} is missing: run `omni contracts write`",
        f"{released_folder / 'released' / 'Widget'}: released contract Widget is no longer "
        "in the registry",
    ]


def test_a_registry_name_must_be_the_record_name(tmp_path: Path) -> None:
    assert check_evolution(tmp_path, {"Gadget": released_widget()}) == [
        "contract registered as Gadget generates record Widget"
    ]


def test_write_removes_files_of_contracts_no_longer_registered(released_folder: Path) -> None:
    (released_folder / "Gone.avsc").write_text("{}")
    write_schemas(released_folder, {"Widget": released_widget()})
    assert sorted(path.name for path in released_folder.glob("*.avsc")) == ["Widget.avsc"]


def test_release_numbers_versions_and_refuses_stale_or_unchanged_schemas(
    released_folder: Path,
) -> None:
    grown = {"Widget": with_new_optional_fields()}
    with pytest.raises(SchemaFileError, match="missing or stale: run `omni contracts write`"):
        release("Widget", released_folder, grown)
    write_schemas(released_folder, grown)
    assert release("Widget", released_folder, grown).name == "v2.avsc"
    with pytest.raises(SchemaFileError, match=r"unchanged since v2\.avsc"):
        release("Widget", released_folder, grown)
    with pytest.raises(SchemaFileError, match="no contract named Gizmo"):
        release("Gizmo", released_folder, grown)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="omni")
    add_contracts_parser(parser.add_subparsers(dest="command", required=True))
    return run_contracts(parser.parse_args(argv))


def test_cli_write_check_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(tmp_path)
    assert run("contracts", "--folder", folder, "check") == 1
    assert run("contracts", "--folder", folder, "write") == 0
    assert run("contracts", "--folder", folder, "check") == 0
    assert run("contracts", "--folder", folder, "release", "OrderEvent") == 0
    assert (tmp_path / "released" / "OrderEvent" / "v1.avsc").is_file()
    assert run("contracts", "--folder", folder, "release", "OrderEvent") == 1
    assert "unchanged since v1.avsc" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "released")
    assert run("contracts", "--folder", folder, "check") == 0


def test_an_unreadable_released_file_is_reported(released_folder: Path) -> None:
    (released_folder / "released" / "Widget" / "v2.avsc").write_text('{"type": "record"}')
    problems = check_evolution(released_folder, {"Widget": released_widget()})
    assert len(problems) == 1
    assert problems[0].startswith(
        "Widget: current schema cannot read data written with v2.avsc: not a valid schema"
    )
