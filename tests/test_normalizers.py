"""The normalizer axis and its controls: RunSpec's normalizer, the controls the catalogue derives from BN's
checks, the Lab that trains a control's normalizer in BN's place, and the advantage x normalizer table."""

from __future__ import annotations

import pytest

from bnclaims import formatting
from bnclaims.catalogue import CONTROLS_PROFILE, CatalogueError, Claim, declare, with_normalizer_controls
from bnclaims import figures
from bnclaims.evidence import named_for_normalizer, payload_for_normalizer
from bnclaims.formatting import bn_check, control_id, normalizer_of, normalizer_rows, specificity
from bnclaims.lab import SHARED_BASE_RECORDS, Lab
from bnclaims.settings import PROFILES, Settings
from bnclaims.spec import BATCH_STATISTICS_RECORDS, GROUP_NORM_GROUPS, RunSpec, SpecError


# ----------------------------------------------------------------------------------------------------
# RunSpec


def test_the_default_normalizer_leaves_every_existing_key_as_it_was():
    assert "normalizer" not in RunSpec().changed_fields()
    assert RunSpec(normalizer="batch").key() == RunSpec().key()
    assert RunSpec(normalizer="layer").key() != RunSpec().key() != RunSpec(normalizer="group").key()


def test_a_plain_model_has_one_key_whichever_control_asked_for_it():
    plain = RunSpec(batch_norm="none")
    assert {RunSpec(batch_norm="none", normalizer=n).key() for n in ("batch", "layer", "group")} == {plain.key()}
    assert RunSpec(normalizer="layer").replace(batch_norm="none") == plain


@pytest.mark.parametrize("changes, words", [
    ({"normalizer": "instance"}, "normalizer must be one of"),
    ({"normalizer": "layer", "bn_group": 8}, "bn_group needs batch normalization"),
    ({"normalizer": "group", "bn_noise": 0.1}, "bn_noise is noise after batch normalization"),
    ({"normalizer": "layer", "record": ("recalibrated",)}, "cannot record ['recalibrated']"),
    ({"normalizer": "group", "hidden": (100,)}, f"multiple of {GROUP_NORM_GROUPS}"),
])
def test_a_normalizer_without_batch_statistics_refuses_what_needs_them(changes, words):
    with pytest.raises(SpecError, match=None) as error:
        RunSpec(**changes)
    assert words in str(error.value)


def test_labels_name_the_normalizer():
    assert RunSpec(normalizer="layer").label().startswith("LN relu")
    assert RunSpec(normalizer="group", batch_norm="after").label().startswith("GN-after-act relu")
    assert RunSpec(batch_norm="none", normalizer="group").label().startswith("plain relu")


def test_the_model_puts_each_normalizer_where_the_talk_puts_bn():
    from bnclaims import backend
    from bnclaims.engines.model import build_model

    _, keras = backend.load(1, name="jax")
    expected = {"batch": keras.layers.BatchNormalization, "layer": keras.layers.LayerNormalization,
                "group": keras.layers.GroupNormalization}
    for normalizer, layer_class in expected.items():
        model = build_model(RunSpec(normalizer=normalizer, hidden=(64, 32)), 16, 10, seed=0)
        dense, normalization, activation = model.layers[:3]
        assert isinstance(dense, keras.layers.Dense) and not dense.use_bias
        assert type(normalization) is layer_class and isinstance(activation, keras.layers.Activation)
        assert sum(isinstance(layer, layer_class) for layer in model.layers) == 2


# ----------------------------------------------------------------------------------------------------
# The catalogue's controls


CLAIM = Claim(statement="allows larger learning rates", source="talk", metric="m", test="superiority",
              threshold=0.3, threshold_reason="reason", family="A1 rates")
PLAIN_ONLY = Claim(statement="the plain model fails", source="talk", metric="m", test="superiority", threshold=0.0,
                   threshold_reason="reason", family="A1 rates", exact_test=True, about="failure")


def test_each_bn_check_gets_a_layer_norm_and_a_group_norm_control():
    checks = declare({"test_rates": with_normalizer_controls({"A1.lr_sweep": CLAIM, "A1.plain": PLAIN_ONLY},
                                                             "A1.lr_sweep")})
    assert list(checks) == ["A1.lr_sweep", "A1.plain", "A1-LN.lr_sweep", "A1-GN.lr_sweep"]
    control = checks["A1-LN.lr_sweep"]
    assert control.claim.statement == "with LayerNorm in BN's place: allows larger learning rates"
    assert (control.claim.threshold, control.claim.test, control.claim.threshold_reason) == (0.3, "superiority", "reason")
    assert control.claim.profiles == (CONTROLS_PROFILE,) and not checks["A1.lr_sweep"].claim.profiles
    # Each control's family is corrected on its own: BN's family keeps its size.
    assert checks["A1.lr_sweep"].family_size == 2 and control.family_size == 1
    assert control.family == "A1 rates (LayerNorm)" and checks["A1-GN.lr_sweep"].family == "A1 rates (GroupNorm)"


def test_controls_of_checks_a_group_does_not_have_are_refused():
    with pytest.raises(CatalogueError, match="not checks of the group"):
        with_normalizer_controls({"A1.lr_sweep": CLAIM}, "A1.other")


@pytest.mark.parametrize("check_id", ["A1.lr_sweep", "TABLE-2.big_learning_rate", "A6.batch16_accuracy"])
def test_control_ids_round_trip(check_id):
    assert normalizer_of(check_id) == "batch" and bn_check(check_id) == check_id
    for normalizer in ("layer", "group"):
        control = control_id(check_id, normalizer)
        assert normalizer_of(control) == normalizer and bn_check(control) == check_id
        assert formatting.base_claim(control.split(".")[0]) == formatting.base_claim(check_id.split(".")[0])


def test_a_control_names_its_arms_and_notes_by_its_normalizer():
    assert named_for_normalizer("BN batch 16", "layer") == "LN batch 16"
    assert named_for_normalizer("largest rate per seed: BN [1.0], plain [0.3]", "group") == (
        "largest rate per seed: GN [1.0], plain [0.3]")
    assert named_for_normalizer("BN batch 16", "batch") == "BN batch 16"
    assert named_for_normalizer("BNX", "layer") == "BNX"   # a word, not a substring


def test_a_controls_figure_names_its_normalizer_in_its_title_labels_arms_and_cells():
    payload = {**figures.sweep("BN vs plain across learning rates", "learning rate", "BN accuracy",
                               {"BN": {0.1: [0.9, 0.91]}, "plain": {0.1: [0.8]}}, claim_id="A1"),
               "table": figures.table("BN's batches", ["arm", "n"], [["BN batch 16", 7], ["plain", 7]])}
    renamed = payload_for_normalizer(payload, "group")
    assert renamed["title"] == "GN vs plain across learning rates" and renamed["y_label"] == "GN accuracy"
    assert set(renamed["arms"]) == {"GN", "plain"} and renamed["arms"]["GN"] == {"x": [0.1], "y": [[0.9, 0.91]]}
    assert renamed["table"]["title"] == "GN's batches" and renamed["table"]["rows"] == [["GN batch 16", 7], ["plain", 7]]
    assert renamed["claim_id"] == "A1" and renamed["x_label"] == "learning rate"
    assert payload_for_normalizer(payload, "batch") is payload      # BN's own checks: untouched
    assert "BN" in str(payload)                                     # the original is not changed


def test_the_controls_profile_is_the_default_with_the_defaults_findings():
    controls, default = PROFILES[CONTROLS_PROFILE], PROFILES["default"]
    assert (controls.dataset, controls.seeds, controls.examples, controls.looks) == (
        default.dataset, default.seeds, default.examples, default.looks)
    assert controls.findings_from == "default"


def test_finding_profiles(tmp_path):
    resolve = lambda profile: Settings.resolve(profile=profile, cache_dir=str(tmp_path), root=tmp_path)
    assert resolve("controls").finding_profiles == ("controls", "default")
    assert resolve("default").finding_profiles == ("default",)


# ----------------------------------------------------------------------------------------------------
# The Lab


@pytest.fixture()
def lab(tmp_path):
    return Lab(Settings.resolve(seeds="2", cache_dir=str(tmp_path), root=tmp_path), say=lambda record: None)


def test_base_spec_puts_the_labs_normalizer_in_bns_place(lab):
    assert lab.base_spec().normalizer == "batch"
    lab.normalizer = "layer"
    assert lab.base_spec().normalizer == "layer" and lab.base_spec(activation="tanh").normalizer == "layer"
    assert lab.base_spec(batch_norm="none") == RunSpec(**{**lab.base_spec(batch_norm="none").to_dict()})
    assert lab.base_spec(batch_norm="none").normalizer == "batch"


def test_a_control_shares_only_the_probes_its_normalizer_has(lab):
    lab.normalizer = "layer"
    shared = lab.shared(lab.base_spec())
    assert set(shared.record) == set(SHARED_BASE_RECORDS["before"]) - set(BATCH_STATISTICS_RECORDS)
    assert shared.record    # the probes without batch statistics are still shared


def test_a_control_that_asks_for_bn_fails_loudly(lab):
    lab.normalizer = "group"
    with pytest.raises(ValueError, match="build its specs from Lab.base_spec"):
        lab.runs([RunSpec(dataset=lab.settings.dataset)])


def test_per_look_values_are_built_per_normalizer(lab):
    built = []
    value = lab.per_look(lambda: built.append(lab.normalizer) or len(built))
    assert value() == 1 and value() == 1
    lab.normalizer = "layer"
    assert value() == 2
    lab.normalizer = "batch"
    assert value() == 1 and built == ["batch", "layer"]


# ----------------------------------------------------------------------------------------------------
# The advantage x normalizer table


def record(check_id: str, outcome: str, statement: str = "s") -> dict:
    return {"check_id": check_id, "claim_id": check_id.split(".")[0], "outcome": outcome, "tier": "empirical",
            "statement": statement}


def test_no_control_no_table():
    assert normalizer_rows([record("A1.lr_sweep", "supported")]) == []
    assert formatting.normalizer_lines([record("A1.lr_sweep", "supported")]) == []


def test_each_cell_is_its_normalizers_outcome_and_the_sentence_compares_like_with_like():
    records = [record("A3.bn_worst_init", "supported"), record("A3.plain_worst_init", "supported"),
               record("A3-LN.bn_worst_init", "supported"), record("A3-GN.bn_worst_init", "refuted"),
               record("A6.batch16_accuracy", "supported"), record("A6-LN.batch16_accuracy", "inconclusive"),
               record("TABLE-3.too_big_weights", "supported", 'Comparison 3 "Too Big Weights": BN beats plain'),
               record("TABLE-3-LN.too_big_weights", "supported"), record("TABLE-3-GN.too_big_weights", "supported")]
    rows = {row["row"]: row for row in normalizer_rows(records)}
    assert list(rows) == ["A3", "A6", "TABLE-3"]
    assert rows["A3"]["cells"] == {"batch": "supported", "layer": "supported", "group": "refuted"}
    assert rows["A3"]["sentence"] == "specific to BN against GroupNorm (refuted there); shared with LayerNorm"
    assert rows["A6"]["cells"] == {"batch": "supported", "layer": "inconclusive", "group": "not run"}
    assert rows["A6"]["sentence"] == "undecided with LayerNorm"
    assert rows["TABLE-3"]["words"] == 'Comparison 3 "Too Big Weights"'
    assert rows["TABLE-3"]["sentence"] == "not specific to BN: supported with LayerNorm and GroupNorm too"
    markdown = "\n".join(formatting.normalizer_markdown(records))
    assert "| A3 allows us to be more careless about weight initialization | **supported** | **supported** | " \
           "**refuted** |" in markdown


def test_bn_is_compared_on_the_checks_its_controls_repeat():
    # A3's plain-only check is inconclusive: BN's cell is, but BN's check that LN repeats is supported.
    records = [record("A3.bn_worst_init", "supported"), record("A3.plain_worst_init", "inconclusive"),
               record("A3-LN.bn_worst_init", "refuted")]
    row, = normalizer_rows(records)
    assert row["cells"]["batch"] == "inconclusive"
    assert row["sentence"] == "specific to BN against LayerNorm (refuted there)"


@pytest.mark.parametrize("bn, controls, sentence", [
    ("refuted", {"layer": "supported", "group": "not run"},
     "refuted with BN; supported with LayerNorm: here a normalizer without batch statistics does what BN does not"),
    ("inconclusive", {"layer": "refuted", "group": "inconclusive"},
     "inconclusive with BN, and not supported with LayerNorm and GroupNorm either"),
    ("supported", {"layer": "refuted", "group": "refuted"}, "specific to BN against LayerNorm and GroupNorm (refuted there)"),
    ("supported", {"layer": "not run", "group": "not run"}, "no comparison: BN's checks or their controls did not run"),
])
def test_specificity(bn, controls, sentence):
    assert specificity(bn, controls) == sentence
