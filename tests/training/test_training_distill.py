"""Self-distillation: the teacher's cached targets are its real distributions, and the student learns them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from training_fixtures import colour_clip, tiny_checkpoint, write_video

from crosslmm_cli.checkpoints.loader import load_model
from crosslmm_cli.training.distill import DistillDataset, DistillItem, DistillSettings, distill
from crosslmm_cli.training.errors import TrainingSetupError
from crosslmm_cli.engine.options import FrameOptions as FrameSampling
from crosslmm_cli.training.frame_cache import FrameLoader
from crosslmm_cli.training.loop import LoopSettings
from crosslmm_cli.training.optim import OptimizerSettings
from crosslmm_cli.training.teacher import TeacherSettings, run_teacher, teacher_processor, topk_kl

PROMPTS = ("Describe the video.", "What happens in the video?")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    for index in range(8):
        rgb = tuple(int(v) for v in rng.integers(0, 255, 3))
        write_video(root / f"clip{index}.mp4", colour_clip(rgb, seed=index))
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    # A larger init scale than the default 0.02 makes the random model's answers depend on the video.
    return tiny_checkpoint(tmp_path_factory.mktemp("distill-model"), text_config={"initializer_range": 0.1})


@pytest.mark.parametrize("scale", [1.0, 3.0, 10.0])
def test_topk_kl_is_the_full_kl_when_k_covers_the_vocabulary(scale):
    # Float32 log-probabilities of magnitude m carry rounding errors of about m epsilons, so the
    # tolerance follows the dtype's precision and the logits' scale, against a float64 reference.
    eps = torch.finfo(torch.float32).eps
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        teacher = torch.randn(5, 11, generator=generator) * scale
        student = torch.randn(5, 11, generator=generator) * scale
        log_p64, log_q64 = teacher.double().log_softmax(-1), student.double().log_softmax(-1)
        full = (log_p64.exp() * (log_p64 - log_q64)).sum(-1)
        allowed = 8 * eps * (1 + log_q64.abs().amax(-1))
        values, ids = teacher.log_softmax(-1).topk(11, dim=-1)
        error = (topk_kl(student, ids, values).double() - full).abs()
        assert (error <= allowed).all(), (error / allowed).max()
        values3, ids3 = teacher.log_softmax(-1).topk(3, dim=-1)
        partial = topk_kl(student, ids3, values3).double()
        assert (partial >= -allowed).all() and (partial <= full + allowed).all()  # a coarser partition: never above
        assert torch.allclose(topk_kl(teacher, ids3, values3), torch.zeros(5), atol=8 * eps * scale)


def test_topk_kl_has_finite_gradients_when_k_covers_the_vocabulary():
    student = torch.randn(4, 7, generator=torch.Generator().manual_seed(1), requires_grad=True)
    values, ids = torch.randn(4, 7, generator=torch.Generator().manual_seed(2)).log_softmax(-1).topk(7, dim=-1)
    topk_kl(student, ids, values).sum().backward()
    assert torch.isfinite(student.grad).all()


def test_teacher_targets_are_its_forward_distributions_at_many_tokens_without_cross_attention(model_dir, clips):
    model, processor = load_model(model_dir, quantize="none", device="cpu")
    clip = FrameLoader(processor.image_processor, FrameSampling(num_frames=4), exact=True).load(clips / "clip0.mp4")
    settings = TeacherSettings(tokens_per_frame=16, max_new_tokens=6, top_k=5)
    targets = run_teacher(model, processor, clip, PROMPTS, settings)
    for target in targets:
        assert 1 <= target.answer_ids.shape[0] <= 6 and target.topk_ids.shape == (target.answer_ids.shape[0], 5)
        prompt = processor.build_prompt(target.prompt, timestamps=clip.timestamps.tolist(), duration=clip.duration)
        ids = teacher_processor(processor, 16)(text=prompt, num_frames=4)["input_ids"][0]
        full = torch.cat([ids, target.answer_ids])[None]
        with torch.no_grad():
            logits = model(input_ids=full, pixel_values_videos=processor.image_processor(clip.frames)[None],
                           tokens_per_frame=16, pooling="bilinear", cross_attention=[]).logits[0]
        log_probs = logits[ids.shape[0] - 1 : -1].log_softmax(-1)  # the positions that predict each answer token
        assert (log_probs.argmax(-1) == target.answer_ids).all(), "greedy answers"
        torch.testing.assert_close(log_probs.gather(-1, target.topk_ids), target.topk_logprobs, rtol=0, atol=1e-4)
    # The student sees the same answer after its own (shorter) prompt, the teacher's top-k aligned to it.
    frames = FrameLoader(processor.image_processor, FrameSampling(num_frames=4), exact=True)
    item = DistillDataset([DistillItem(clips / "clip0.mp4", targets[0])], processor, frames)[0]
    answer = targets[0].answer_ids
    assert torch.equal(item["input_ids"][-answer.shape[0]:], answer)
    assert (item["input_ids"] == processor.video_token_id).sum() == 4 * processor.tokens_per_frame + 1
    first = item["input_ids"].shape[0] - answer.shape[0] - 1
    assert torch.equal(item["teacher_ids"][first : first + answer.shape[0]], targets[0].topk_ids)
    assert not item["teacher_logprobs"][:first].any() and (item["labels"][:first + 1] == -100).all()


def test_distillation_lowers_the_kl_on_held_out_clips(model_dir, clips, tmp_path):
    def run(output, epochs):
        return distill(DistillSettings(
            model=str(model_dir), videos=clips, output=output, prompts=PROMPTS, frames=4, tokens_per_frame=1,
            teacher_tokens_per_frame=16, max_answer_tokens=12, top_k=16, holdout=2, progress=False,
            teacher_cache=tmp_path / "teacher-cache", frame_cache=tmp_path / "frames",
            loop=LoopSettings(epochs=epochs, batch_size=4, warmup=0.1), optimizer=OptimizerSettings(lr=3e-3)))

    result = run(tmp_path / "student", epochs=10)
    assert result.teacher_runs == 8 and result.train_items == 12
    assert result.heldout_kl_after < 0.6 * result.heldout_kl_before
    student, processor = load_model(tmp_path / "student", quantize="none", device="cpu")
    assert student.config.tokens_per_frame == 1 and processor.tokens_per_frame == 1
    base = load_model(model_dir, quantize="none", device="cpu")[0].state_dict()
    changed = {n for n, t in student.state_dict().items() if not torch.equal(t, base[n])}
    assert changed and all(".cross_attn." in n for n in changed), "only the cross-attention trains by default"
    again = run(tmp_path / "student-2", epochs=1)
    assert again.teacher_runs == 0, "the teacher's answers come from the cache"


def test_the_student_must_see_fewer_tokens_than_the_teacher(model_dir, clips, tmp_path):
    with pytest.raises(TrainingSetupError, match="the student sees 16 tokens per frame and the teacher 16"):
        distill(DistillSettings(model=str(model_dir), videos=clips, output=tmp_path / "out", tokens_per_frame=16,
                                teacher_tokens_per_frame=16, progress=False))
