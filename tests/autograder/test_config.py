"""Does autograder.toml mean what it says: unknown keys refused with the known ones, limits and the
models' allow-list as written, resident caps apart from the address space?
"""

from __future__ import annotations

import os

import pytest

from autograder.config import load_config
from autograder.errors import UsageError
from autograder.sandbox import Limits

GIB = 1024**3


def test_bad_configuration_is_a_usage_error_that_says_what_to_fix(tmp_path):
    (tmp_path / "autograder.toml").write_text("[limits]\ncell_timeout = 10\ncel_timeout = 5\n")
    with pytest.raises(UsageError, match=r"unknown key.*cel_timeout.*known keys"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text("[limits]\ncell_timeout = 120\nmemory_gb = 6\n")
    config = load_config(tmp_path)
    assert config.limits.cell_timeout == 120 and config.limits.memory_bytes == 6 * 1024**3
    assert os.environ.get("DLCOURSE_DATA") is None or "DLCOURSE_DATA" in config.env_passthrough


def test_the_models_table_replaces_or_extends_the_default_allow_list(tmp_path):
    from autograder.config import DEFAULT_MODELS

    assert load_config(tmp_path).models == DEFAULT_MODELS  # no autograder.toml
    (tmp_path / "autograder.toml").write_text(
        '[models]\noptimizers = ["SGD"]\n[models.add]\nlayers = ["Conv2D"]\n'
    )
    models = load_config(tmp_path).models
    assert models.optimizers == ("SGD",)
    assert models.layers == (*DEFAULT_MODELS.layers, "Conv2D") and models.losses == DEFAULT_MODELS.losses
    assert models.allows("optimizers", "sgd") and not models.allows("optimizers", "Adam")
    (tmp_path / "autograder.toml").write_text('[models.add]\nlayers = ["Lambda"]\n')
    with pytest.raises(UsageError, match=r"models.layers cannot allow Lambda: a Lambda layer runs code"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text('[models]\nlayer = ["Dense"]\n')
    with pytest.raises(UsageError, match=r"unknown key\(s\) layer in \[models\]"):
        load_config(tmp_path)
    (tmp_path / "autograder.toml").write_text('[models]\nlosses = "mse"\n')
    with pytest.raises(UsageError, match=r"models.losses must be a list of Keras names"):
        load_config(tmp_path)


def test_resident_caps_are_set_apart_from_the_address_space(tmp_path):
    (tmp_path / "autograder.toml").write_text(
        "[limits]\nmemory_gb = 8\nresident_gb = 1.5\nverifier_memory_gb = 4\nverifier_resident_gb = 0.5\n"
    )
    limits = load_config(tmp_path).limits
    assert (limits.memory_bytes, limits.resident_bytes) == (8 * GIB, 1.5 * GIB)
    verifier = limits.for_role("verifier")
    assert (verifier.memory_bytes, verifier.resident_bytes) == (4 * GIB, 0.5 * GIB)
    assert limits.worker_resident_bytes == 2 * GIB


def test_a_file_that_sets_only_memory_gb_keeps_it_as_the_resident_cap_too(tmp_path):
    (tmp_path / "autograder.toml").write_text("[limits]\nmemory_gb = 6\nverifier_memory_gb = 3\n")
    limits = load_config(tmp_path).limits
    assert limits.resident_bytes == 6 * GIB and limits.for_role("verifier").resident_bytes == 3 * GIB
    defaults = load_config(tmp_path / "none").limits  # no autograder.toml
    assert defaults.memory_bytes == 8 * GIB and defaults.worker_resident_bytes == 4 * GIB
    assert Limits(memory_bytes=GIB).resident_cap == GIB  # limits built in code: the cap follows memory
