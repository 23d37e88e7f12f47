"""research.binding_probe's linear probe: it finds a linearly coded label, and not one that is absent."""

from __future__ import annotations

import torch

from research.binding_probe import probe_accuracy


def data(n: int, coded: bool, seed: int):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 6, (n,), generator=generator)
    features = torch.randn(n, 32, generator=generator)
    if coded:
        features[:, :6] += 5 * torch.nn.functional.one_hot(labels, 6)
    return features, labels


def test_a_linearly_coded_label_is_read_off_held_out_rows():
    assert probe_accuracy(*data(600, True, 0), *data(300, True, 1)) > 0.95


def test_a_label_the_features_do_not_hold_stays_near_chance():
    assert probe_accuracy(*data(600, False, 0), *data(300, False, 1)) < 0.3  # chance 1/6
