"""Is the synthetic world learnable at the demo's scale? A probe, not the demo model.

Trains a tiny frame encoder from scratch (conv stem to an 8x8 grid of 64x64 frames, one
transformer layer, width 96) with one learned query per target attending over the clip's
tokens. Training clips are rendered on the fly from the train split (every step sees new
clips); accuracy is measured on decoded eval clips: the standard ones (same distribution as
training) and the novel ones (showing colour-shape pairs training never shows). Two readouts of the same encoder:
  grid: all 64 tokens of each sampled frame (what cross-attention reads),
  one:  each frame averaged to 1 token first (1 token per frame, no cross-attention).
Targets per clip: each shape's colour and motion (or absent), the object count at the start,
each corner's dot colour (or none).

    PYTHONPATH=models/demo python -m research.synth_probe --steps 1500 --eval 300
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import decord
import numpy as np
import torch
from torch import nn

from crosslmm_cli.synthetic import Clip, WorldConfig, generate_clip, write_split
from crosslmm_cli.synthetic.render import render_scene_frame
from crosslmm_cli.synthetic.captions import dot_corner
from crosslmm_cli.synthetic.world import COLOURS, CORNERS, MOTIONS, SHAPES

FRAMES, SIDE = 4, 64  # frames at 0, 1, 2 and 3 s of a 4 s clip
NO_COLOUR, NO_MOTION = len(COLOURS), len(MOTIONS)
HEADS = [NO_COLOUR + 1] * 6 + [NO_MOTION + 1] * 6 + [5] + [NO_COLOUR + 1] * 4
CONFIG = WorldConfig()


def sample_index(n_frames: int) -> np.ndarray:
    return np.linspace(0, n_frames, FRAMES, endpoint=False).astype(int)


def to_input(frames: np.ndarray) -> np.ndarray:
    """(FRAMES, 128, 128, 3) uint8 -> (FRAMES, 3, 64, 64) uint8, area-resized."""
    x = frames.astype(np.float32).reshape(FRAMES, SIDE, 2, SIDE, 2, 3).mean((2, 4))
    return np.rint(x).astype(np.uint8).transpose(0, 3, 1, 2)


def targets(clip: Clip) -> tuple[list[int], list[bool]]:
    """17 class targets, and per shape whether its object shows a held-out pair."""
    scene = clip.scenes[0]
    colour, motion, held = [NO_COLOUR] * 6, [NO_MOTION] * 6, [False] * 6
    for obj in scene.objects:
        k = SHAPES.index(obj.shape)
        colour[k], motion[k] = list(COLOURS).index(obj.colour), list(MOTIONS).index(obj.motion)
        held[k] = (obj.colour, obj.shape) in CONFIG.held_out_pairs
    dots = [NO_COLOUR] * 4
    for d in scene.dots:
        dots[list(CORNERS).index(dot_corner(d))] = list(COLOURS).index(d.colour)
    return colour + motion + [scene.count(0.0)] + dots, held


def train_batch(step: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` fresh single-scene train clips, rendered without the codec."""
    xs, ys, index = [], [], step * size * 2
    while len(xs) < size:
        clip = generate_clip(1000 + step, "train", index, CONFIG)
        index += 1
        if len(clip.scenes) == 1:
            times = sample_index(round(clip.duration * CONFIG.fps)) / CONFIG.fps
            xs.append(to_input(np.stack([render_scene_frame(clip.scenes[0], t, CONFIG) for t in times])))
            ys.append(targets(clip)[0])
    return np.stack(xs), np.asarray(ys)


def load_eval(split_dir: Path, subset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded single-scene clips of one subset ("standard" or "novel") of an eval split."""
    xs, ys, held = [], [], []
    for line in (split_dir / "clips.jsonl").read_text().splitlines():
        row = json.loads(line)
        clip = Clip.from_dict(row)
        if row["subset"] == subset and len(clip.scenes) == 1:
            reader = decord.VideoReader(str(split_dir / row["video"]))
            xs.append(to_input(reader.get_batch(list(sample_index(len(reader)))).asnumpy()))
            y, h = targets(clip)
            ys.append(y)
            held.append(h)
    return np.stack(xs), np.asarray(ys), np.asarray(held)


class Probe(nn.Module):
    def __init__(self, readout: str, encoder: str = "vit", width: int = 96) -> None:
        super().__init__()
        self.readout = readout
        if encoder == "vit":  # patchify like SigLIP: each token sees its own 8x8 pixels only
            self.stem = nn.Sequential(  # (B*T, 3, 64, 64) -> (B*T, D, 8, 8)
                nn.Conv2d(3, 48, 4, stride=4), nn.GELU(), nn.Conv2d(48, width, 2, stride=2), nn.GELU()
            )
        else:  # overlapping 3x3 convolutions: each token sees about 30 pixels around it
            layers, c = [], 3
            for out in (32, 64, width):
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.GELU(), nn.MaxPool2d(2)]
                c = out
            self.stem = nn.Sequential(*layers, nn.Conv2d(width, width, 3, padding=1), nn.GELU())
        self.patch_pos = nn.Parameter(torch.randn(1, 64, width) * 0.02)
        self.frame_pos = nn.Parameter(torch.randn(1, FRAMES, 1, width) * 0.02)
        self.mix = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.queries = nn.Parameter(torch.randn(1, len(HEADS), width) * 0.02)
        self.read = nn.MultiheadAttention(width, 4, batch_first=True)
        self.heads = nn.ModuleList(nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n)) for n in HEADS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b = x.shape[0]
        x = x.flatten(0, 1).float() / 127.5 - 1
        tokens = self.mix(self.stem(x).flatten(2).transpose(1, 2) + self.patch_pos)  # (B*T, 64, D)
        tokens = tokens.view(b, FRAMES, 64, -1)
        if self.readout == "one":
            tokens = tokens.mean(2, keepdim=True)  # (B, T, 1, D): 1 token per frame
        tokens = (tokens + self.frame_pos).flatten(1, 2)  # (B, T*N, D)
        q, _ = self.read(self.queries.expand(b, -1, -1), tokens, tokens)  # (B, 17, D)
        return [head(q[:, i]) for i, head in enumerate(self.heads)]


def evaluate(model: Probe, x: np.ndarray, y: np.ndarray, held: np.ndarray) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        logits = [torch.cat(p) for p in zip(*(model(torch.from_numpy(x[i : i + 64])) for i in range(0, len(x), 64)))]
    right = np.stack([l.argmax(-1).numpy() for l in logits], 1) == y  # (N, 17)
    present, dots = y[:, :6] < NO_COLOUR, y[:, 13:] < NO_COLOUR
    scores = {
        "colour": right[:, :6][present & ~held].mean(),
        "motion": right[:, 6:12][present].mean(),
        "count": right[:, 12].mean(),
        "dot colour": right[:, 13:][dots].mean(),
    }
    if held.any():
        scores["colour of held-out pairs"] = right[:, :6][held].mean()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--eval", type=int, default=300)
    parser.add_argument("--readouts", default="grid,one")
    parser.add_argument("--encoder", choices=["vit", "cnn"], default="vit")
    parser.add_argument("--out", type=Path, default=Path("bench-out/probe"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core box)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    write_split(args.out, args.eval, 0, "eval", CONFIG, n_novel=args.eval // 2)
    standard, novel = load_eval(args.out / "eval", "standard"), load_eval(args.out / "eval", "novel")
    print(
        f"encoder {args.encoder}; eval: {len(standard[0])} standard + {len(novel[0])} novel single-scene clips; "
        f"train: {args.steps} steps x {args.batch} fresh clips"
    )
    for readout in args.readouts.split(","):
        torch.manual_seed(0)
        model = Probe(readout, args.encoder)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=args.steps, pct_start=0.1)
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        for step in range(args.steps):
            model.train()
            x, y = train_batch(step, args.batch)
            out = model(torch.from_numpy(x))
            loss = sum(loss_fn(o, torch.from_numpy(y[:, k])) for k, o in enumerate(out)) / len(out)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if (step + 1) % max(1, args.steps // 5) == 0:
                line = ", ".join(f"{k} {v:.1%}" for k, v in evaluate(model, *standard).items())
                novel_line = ", ".join(f"{k} {v:.1%}" for k, v in evaluate(model, *novel).items())
                print(
                    f"{readout:>4} step {step + 1:5d} ({time.perf_counter() - start:4.0f} s) loss {loss.item():.3f}\n"
                    f"     standard eval: {line}\n     novel eval: {novel_line}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
