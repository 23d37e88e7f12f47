"""The shipped demo encoder knows what covers each patch: stage 0a's result, checked on held-out clips.

A linear probe is fitted on the frozen encoder's patch features of some clips and scored on the
object patches of others (a patch counts when one colour and shape cover most of it). The same
probe on a randomly initialised encoder of the same shape is the baseline: it shows that the
score comes from pretraining, not from the probe.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from demo_fixtures import DEMO_DIR, FRAMES, SEED

N_FIT, N_SCORE = 24, 12
#: Floors under what the shipped encoder scores (models/demo/README.md gives the stage 0a figures):
#: colour and shape of the object covering a patch, on clips the probe never saw.
COLOUR_FLOOR, SHAPE_FLOOR = 0.95, 0.9


def patch_data(model, processor, directory, n_clips: int):
    """(features (M, D), colour (M,), shape (M,), clip (M,)) of the object patches of n_clips held-out clips."""
    from crosslmm_cli.engine.options import FrameOptions
    from crosslmm_cli.synthetic import WorldConfig, read_clips, write_split
    from crosslmm_cli.synthetic.labels import patch_labels
    from crosslmm_cli.training.frame_cache import FrameLoader

    config = WorldConfig()
    files = write_split(directory, n_clips, SEED, "eval", config, n_novel=0, workers=2)
    loader = FrameLoader(processor.image_processor, FrameOptions(num_frames=FRAMES))
    features, colours, shapes, clips = [], [], [], []
    for number, (video, clip) in enumerate(read_clips(files.clips)):
        frames = loader.load(files.root / video)
        with torch.no_grad():
            encoded = model.get_video_features(loader.pixels(frames)[None])[0]  # (T, P, D)
        for index, t in enumerate(frames.timestamps):
            labels = patch_labels(clip, float(t), config)
            covered = (labels.colour[:, 1:].max(1) >= 0.5) & (labels.shape[:, 1:].max(1) >= 0.5)
            features.append(encoded[index][torch.from_numpy(covered)])
            colours.append(labels.colour[covered, 1:].argmax(1))
            shapes.append(labels.shape[covered, 1:].argmax(1))
            clips.append(np.full(int(covered.sum()), number))
    return (torch.cat(features).float(), torch.from_numpy(np.concatenate(colours)), torch.from_numpy(np.concatenate(shapes)),
            torch.from_numpy(np.concatenate(clips)))


def probe_accuracy(fit, score, classes: int) -> float:
    """research.binding_probe's linear probe, fitted on `fit`, scored on `score`."""
    from research.binding_probe import probe_accuracy as probe

    return probe(*fit, *score, classes=classes, lr=0.05)


@pytest.fixture(scope="module")
def scores(tmp_path_factory):
    from crosslmm_cli.checkpoints.loader import load_model
    from crosslmm_cli.modeling.modeling_crosslmm import CrossLMMForConditionalGeneration
    from crosslmm_cli.synthetic.labels import COLOUR_CLASSES, SHAPE_CLASSES

    trained, processor = load_model(DEMO_DIR, quantize="none", device="cpu")
    torch.manual_seed(0)
    untrained = CrossLMMForConditionalGeneration(trained.config).eval()
    out = {}
    for name, model in (("trained", trained), ("untrained", untrained)):
        x, colour, shape, clip = patch_data(model, processor, tmp_path_factory.mktemp(name), N_FIT + N_SCORE)
        fit, held = clip < N_FIT, clip >= N_FIT  # the probe is scored on clips it was not fitted on
        out[name] = {
            "colour": probe_accuracy((x[fit], colour[fit]), (x[held], colour[held]), len(COLOUR_CLASSES) - 1),
            "shape": probe_accuracy((x[fit], shape[fit]), (x[held], shape[held]), len(SHAPE_CLASSES) - 1),
            "patches": int(held.sum()),
        }
    return out


def test_the_encoder_tells_the_colour_and_shape_of_each_object_patch(scores):
    trained = scores["trained"]
    assert trained["patches"] >= 200, trained
    assert trained["colour"] >= COLOUR_FLOOR and trained["shape"] >= SHAPE_FLOOR, scores


def test_the_probe_alone_does_not_reach_it_on_an_untrained_encoder(scores):
    assert scores["untrained"]["shape"] < scores["trained"]["shape"] - 0.2, scores
