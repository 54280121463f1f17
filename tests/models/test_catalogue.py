"""The catalogue (presets read from their declarations, no torch) equals the imported registry."""

from __future__ import annotations

from cnnlab.models import catalogue
from cnnlab.models.registry import list_models, model_families, model_info


def test_catalogue_equals_the_registry():
    assert catalogue.preset_infos() == [model_info(name) for name in list_models()]
    assert catalogue.families() == model_families()


def test_catalogue_filter_matches_the_registry_filter():
    for needle in ("mnist", "ResNet", "keras", "nothing-matches-this"):
        assert [i.name for i in catalogue.list_presets(needle)] == list_models(needle)
