"""One owner per name: the schema's enums and keys (which JSON schema cannot import) equal the package's lists."""

from __future__ import annotations

from m1repro import workflow as wf
from m1repro.cfgview import SCHEMA
from m1repro.curate.schema import SET_NAMES
from m1repro.io import read_yaml
from m1repro.records import EVAL_SOURCES
from m1repro.report.tables import TABLE2_ROW_NAMES
from m1repro.resources import DATASET_SIZES


def schema() -> dict:
    return read_yaml(SCHEMA)["properties"]


def test_dataset_names_have_one_owner():
    enum = schema()["eval"]["properties"]["datasets"]["items"]["enum"]
    assert tuple(enum) == EVAL_SOURCES == wf.DATASET_NAMES
    assert set(DATASET_SIZES) == set(EVAL_SOURCES)


def test_set_names_have_one_owner():
    curate = schema()["curate"]["properties"]
    assert tuple(curate["sets"]["properties"]) == SET_NAMES == wf.SET_NAMES
    assert set(curate["released"]["properties"]) == {*SET_NAMES, "m23k"}
    runs = schema()["train"]["properties"]["runs"]["additionalProperties"]["properties"]
    assert set(runs["data"]["enum"]) == {*SET_NAMES, "m23k"}


def test_table2_rows_have_one_owner():
    runs = schema()["train"]["properties"]["runs"]["additionalProperties"]["properties"]
    assert set(runs["ablation_row"]["enum"]) == set(TABLE2_ROW_NAMES)
