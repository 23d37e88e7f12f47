"""research.motion_probe's classifier: it finds a linear signal and finds none where there is none."""

from __future__ import annotations

import torch

from research.motion_probe import linear_accuracy


def test_a_linearly_coded_class_is_read_back_and_noise_is_not():
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (1000,), generator=generator)
    noise = torch.randn(1000, 16, generator=generator)
    coded = noise.clone()
    coded[:, :5] += 5 * torch.nn.functional.one_hot(labels, 5)  # each class moves its own direction
    assert linear_accuracy(coded, labels) > 0.95
    assert linear_accuracy(noise, labels) < 0.35  # chance is 0.2
