"""Each node's settings in one place: its config's defaults, the tuned values its file under weights/ holds,
keyword overrides as the graphs and tests pass them, and docs/architecture.md naming every config and file."""

from __future__ import annotations

import json
import logging
import pickle
from dataclasses import fields, replace
from pathlib import Path

import pytest

from audio.logmel import LogMelConfig
from nodes.confidence import ConfidenceConfig
from nodes.config import WEIGHTS, configure
from nodes.decoder.node import DecoderConfig, RNNTDecoder
from nodes.endpoint_rule import EndpointParams
from nodes.endpointer import FINAL, LEARNED, SPECULATIVE, EndPointer, EndpointerConfig
from nodes.features import LogMelFeatures
from nodes.nlu.node import IntentParser, NLUConfig
from nodes.rescorer import LatticeRescorer, RescorerConfig
from nodes.vad import VADConfig, VoiceActivityDetector
from nodes.wake_gate import WakeGateConfig, WakeWordGate
from tests.conftest import ROOT

TUNED = [WakeGateConfig, RescorerConfig, ConfidenceConfig, NLUConfig]
"""The configs whose values a benchmark tunes into a JSON file under weights/."""
CONFIGS = [*TUNED, DecoderConfig, EndpointerConfig, EndpointParams, VADConfig, LogMelConfig]


@pytest.mark.parametrize("cls", TUNED, ids=lambda c: c.__name__)
def test_a_tuned_config_takes_the_shipped_files_values_over_its_defaults(cls):
    assert cls.FILE.parent == WEIGHTS and cls.FILE.exists()
    saved = json.loads(cls.FILE.read_text())
    loaded, defaults = cls.load(), cls()
    for name in cls.TUNED:
        value = saved[name]  # the benchmark writes every tuned field
        assert getattr(loaded, name) == (tuple(value) if isinstance(value, list) else value), name
    for f in fields(cls):  # the rest of the file (what the tuning measured) is not a setting
        if f.name not in cls.TUNED:
            assert getattr(loaded, f.name) == getattr(defaults, f.name), f.name
    assert loaded != defaults  # the shipped values are tuned, so the comparison says something


@pytest.mark.parametrize("cls", TUNED, ids=lambda c: c.__name__)
def test_without_a_readable_file_a_config_keeps_its_defaults(cls, tmp_path, caplog):
    assert cls.load(tmp_path / "missing.json") == cls()
    broken = tmp_path / "broken.json"
    broken.write_text('{"threshold1": ')
    with caplog.at_level(logging.WARNING, logger="nodes.config"):
        assert cls.load(broken) == cls()
    assert "ignoring" in caplog.text


def test_shipped_values_as_the_nodes_read_them():
    def shipped(cls) -> dict:
        return json.loads(Path(cls.FILE).read_text())

    gate = WakeGateConfig.load()
    assert (gate.threshold1, gate.threshold2) == tuple(shipped(WakeGateConfig)[k] for k in ("threshold1", "threshold2"))
    rescorer, tuned = RescorerConfig.load(), shipped(RescorerConfig)
    assert (rescorer.lm_weight, rescorer.length_bonus, rescorer.catalog_penalty) == (
        tuned["lm_weight"],
        tuned["length_bonus"],
        tuned["catalog_penalty"],
    )
    confidence = shipped(ConfidenceConfig)
    assert ConfidenceConfig.load().temperature == confidence["temperature"]
    assert len(ConfidenceConfig.load().weights) == len(confidence["weights"])
    assert NLUConfig.load().threshold == confidence["threshold"]
    assert NLUConfig.FILE == ConfidenceConfig.FILE  # one threshold, on the calibration's scale: one file


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_configs_are_frozen_picklable_and_document_every_field(cls):
    import inspect

    config = cls.load() if cls in TUNED else cls()
    assert pickle.loads(pickle.dumps(config)) == config  # nodes are built inside Ray actors
    with pytest.raises(AttributeError):
        config.__setattr__(fields(cls)[0].name, None)
    source = inspect.getsource(cls)
    for f in fields(cls):
        after = source.split(f"\n    {f.name}: ", 1)[1].split("\n", 2)[1]
        assert after.strip().startswith('"""'), f"{cls.__name__}.{f.name} has no docstring"


def test_configure_names_an_unknown_setting():
    assert configure(VADConfig(), {"threads": 2}) == VADConfig(threads=2)
    with pytest.raises(TypeError, match=r"VADConfig has no thread .*threads"):
        configure(VADConfig(), {"thread": 2})


def test_the_wake_gate_takes_its_file_a_config_and_overrides():
    tuned = WakeGateConfig.load()
    gate = WakeWordGate(threshold1=0.3)
    assert gate.config == replace(tuned, threshold1=0.3) and (gate.t1, gate.t2) == (0.3, tuned.threshold2)
    gate = WakeWordGate(WakeGateConfig(threshold2=0.7), refractory_s=0.5, verify_delay_ms=200.0)
    assert (gate.t1, gate.t2) == (WakeGateConfig().threshold1, 0.7)  # a config given is not loaded over
    assert (gate.refractory, gate.verify_delay, gate.max_frames) == (50, 20, 1000)
    with pytest.raises(TypeError, match="threshold3"):
        WakeWordGate(threshold3=1.0)
    with pytest.raises(FileNotFoundError):
        WakeWordGate(stage1=str(WEIGHTS / "none.pt"))


def test_the_rescorer_takes_its_file_a_config_and_overrides():
    tuned = RescorerConfig.load()
    node = LatticeRescorer(length_bonus=0.0, deadline_ms=None)
    assert (node.lm_weight, node.nbest, node.alternatives) == (tuned.lm_weight, tuned.nbest, tuned.alternatives)
    assert node.length_bonus == 0.0 and node.deadline_ms is None and node.catalog_penalty == tuned.catalog_penalty
    assert node.confidence == ConfidenceConfig.load()
    plain = LatticeRescorer(RescorerConfig(), confidence=ConfidenceConfig(temperature=3.0))
    assert (plain.lm_weight, plain.length_bonus, plain.catalog_penalty) == (0.3, 0.5, None)
    assert plain.confidence.temperature == 3.0 and plain.deadline_ms == 300.0
    no_lm = LatticeRescorer(lm_weight=0.0, ilm_weight=0.5, catalog_penalty=1.0)
    assert no_lm.ilm_weight == 0.0 and no_lm.ilm is None and no_lm.catalog_penalty is None  # nothing to judge with


def test_the_nlu_takes_its_threshold_from_the_confidence_file_or_an_override():
    assert IntentParser().threshold == NLUConfig.load().threshold > 0
    assert IntentParser(threshold=0.5).threshold == 0.5
    assert IntentParser(NLUConfig()).threshold == 0.0


def test_an_end_pointer_takes_its_kinds_rule_and_overrides_of_it():
    assert EndPointer().params == FINAL and EndPointer(kind="speculative").params == SPECULATIVE
    node = EndPointer(kind="speculative", silence_s=0.9, forward_errors=True)
    assert node.params == replace(SPECULATIVE, silence_s=0.9) and node.kind == "speculative" and node.forward_errors
    eoq = EndPointer(EndpointerConfig(rule=LEARNED["final"]), no_speech_s=3.0)
    assert eoq.params == replace(LEARNED["final"], no_speech_s=3.0) and eoq.kind == "final"
    assert eoq.eoq is not None  # the shipped weights/endpointer_eoq.json
    with pytest.raises(FileNotFoundError, match=r"none\.json"):
        EndPointer(kind="speculative", rule=LEARNED["speculative"], eoq_weights=str(WEIGHTS / "none.json"))
    with pytest.raises(ValueError, match="kind"):
        EndPointer(kind="eager")
    with pytest.raises(TypeError, match="silence"):
        EndPointer(silence=1.0)
    assert pickle.loads(pickle.dumps(node)).params == node.params


def test_the_decoder_features_and_vad_take_a_config_and_overrides():
    decoder = RNNTDecoder(beam=4, context=["meg bauer"])
    assert decoder.config == DecoderConfig(beam=4) and decoder.search.beam == 4 and decoder.phrases == ("meg bauer",)
    assert RNNTDecoder(DecoderConfig(nbest=3)).nbest == 3
    assert LogMelFeatures(n_mels=40).logmel.config == LogMelConfig(n_mels=40)
    assert LogMelFeatures(LogMelConfig(fmax=7000.0), n_mels=40).config == LogMelConfig(n_mels=40, fmax=7000.0)
    assert VoiceActivityDetector(threads=1).config == VADConfig()


def test_the_architecture_doc_names_every_config_and_its_file():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for cls in CONFIGS:
        assert f"`{cls.__name__}`" in doc, cls.__name__
    for cls in TUNED:
        assert f"`weights/{cls.FILE.name}`" in doc, cls.FILE.name
