"""Is the synthetic world learnable at the demo's scale? A probe, not the demo model.

Trains a tiny ViT-style frame encoder (8x8 patches of 64x64 frames, 2 layers, width 96) from
scratch on decoded train clips, with one learned query per target attending over the clip's
tokens, and reports accuracy on the held-out eval split (whose objects include colour-shape
pairs never seen in training). Two readouts of the same encoder:
  grid: all 64 tokens of each of the 8 sampled frames (what cross-attention reads),
  one:  each frame averaged to 1 token first (1 token per frame, no cross-attention).
Targets per clip: each shape's colour and motion (or absent), the object count at the start,
each corner's dot colour (or none).

    PYTHONPATH=. python bench/probe_synth.py --train 1500 --eval 300 --epochs 12
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import decord
import numpy as np
import torch
from torch import nn

from crosslmm_cli.synthetic import WorldConfig, read_clips, write_split
from crosslmm_cli.synthetic.captions import dot_corner
from crosslmm_cli.synthetic.world import COLOURS, CORNERS, MOTIONS, SHAPES

FRAMES, SIDE = 8, 64
COLOUR_IDS = {c: i for i, c in enumerate(COLOURS)}
MOTION_IDS = {m: i for i, m in enumerate(MOTIONS)}
HEADS = [("colour", len(COLOURS) + 1)] * 6 + [("motion", len(MOTIONS) + 1)] * 6 + [("count", 5)] + [("dot", len(COLOURS) + 1)] * 4


def load(split_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Single-scene clips: frames (N, T, 3, 64, 64) uint8, targets (N, 17) int, held-out mask
    (N, 6): whether shape k's object shows a held-out pair."""
    config = WorldConfig()
    frames, targets, held = [], [], []
    for video, clip in read_clips(split_dir / "clips.jsonl"):
        if len(clip.scenes) > 1:
            continue
        scene = clip.scenes[0]
        reader = decord.VideoReader(str(split_dir / video))
        index = np.linspace(0, len(reader), FRAMES, endpoint=False).astype(int)
        x = reader.get_batch(index).asnumpy().astype(np.float32)  # (T, 128, 128, 3)
        x = x.reshape(FRAMES, SIDE, 2, SIDE, 2, 3).mean((2, 4))  # area resize to 64x64
        frames.append(np.rint(x).astype(np.uint8).transpose(0, 3, 1, 2))
        colour, motion, h = [len(COLOURS)] * 6, [len(MOTIONS)] * 6, [False] * 6
        for obj in scene.objects:
            k = SHAPES.index(obj.shape)
            colour[k], motion[k] = COLOUR_IDS[obj.colour], MOTION_IDS[obj.motion]
            h[k] = (obj.colour, obj.shape) in config.held_out_pairs
        dots = [len(COLOURS)] * 4
        for d in scene.dots:
            dots[list(CORNERS).index(dot_corner(d))] = COLOUR_IDS[d.colour]
        targets.append(colour + motion + [scene.count(0.0)] + dots)
        held.append(h)
    return np.stack(frames), np.asarray(targets), np.asarray(held)


class Probe(nn.Module):
    def __init__(self, readout: str, width: int = 96) -> None:
        super().__init__()
        self.readout = readout
        self.stem = nn.Conv2d(3, width, kernel_size=8, stride=8)  # (B*T, D, 8, 8)
        self.patch_pos = nn.Parameter(torch.zeros(1, 64, width))
        self.frame_pos = nn.Parameter(torch.zeros(1, FRAMES, 1, width))
        layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.queries = nn.Parameter(torch.randn(1, len(HEADS), width) * 0.02)
        self.read = nn.MultiheadAttention(width, 4, batch_first=True)
        self.heads = nn.ModuleList(nn.Linear(width, n) for _, n in HEADS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b = x.shape[0]
        x = x.flatten(0, 1).float() / 127.5 - 1  # (B*T, 3, 64, 64)
        tokens = self.encoder(self.stem(x).flatten(2).transpose(1, 2) + self.patch_pos)  # (B*T, 64, D)
        tokens = tokens.view(b, FRAMES, 64, -1)
        if self.readout == "one":
            tokens = tokens.mean(2, keepdim=True)  # (B, T, 1, D): 1 token per frame
        tokens = (tokens + self.frame_pos).flatten(1, 2)  # (B, T*N, D)
        q, _ = self.read(self.queries.expand(b, -1, -1), tokens, tokens)  # (B, 17, D)
        return [head(q[:, i]) for i, head in enumerate(self.heads)]


def evaluate(model: Probe, frames: np.ndarray, targets: np.ndarray, held: np.ndarray) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        logits = [torch.cat(parts) for parts in zip(*(model(torch.from_numpy(frames[i : i + 64])) for i in range(0, len(frames), 64)))]
    pred = np.stack([l.argmax(-1).numpy() for l in logits], 1)  # (N, 17)
    right = pred == targets
    present = targets[:, :6] < len(COLOURS)
    dots = targets[:, 13:] < len(COLOURS)
    return {
        "colour (objects)": right[:, :6][present].mean(),
        "colour (held-out pairs)": right[:, :6][held].mean(),
        "motion (objects)": right[:, 6:12][present].mean(),
        "count": right[:, 12].mean(),
        "dot colour (corners with a dot)": right[:, 13:][dots].mean(),
        "dot colour (all corners)": right[:, 13:].mean(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--eval", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench-out/probe"))
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    write_split(args.out, args.train, args.seed, "train", WorldConfig())
    write_split(args.out, args.eval, args.seed, "eval", WorldConfig())
    train, test = load(args.out / "train"), load(args.out / "eval")
    print(f"data: {len(train[0])} train / {len(test[0])} eval single-scene clips in {time.perf_counter() - start:.0f} s")
    for readout in ("grid", "one"):
        model = Probe(readout)
        opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
        steps = args.epochs * -(-len(train[0]) // 32)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
        loss_fn = nn.CrossEntropyLoss()
        start = time.perf_counter()
        for epoch in range(args.epochs):
            model.train()
            order = np.random.default_rng(epoch).permutation(len(train[0]))
            for i in range(0, len(order), 32):
                batch = order[i : i + 32]
                out = model(torch.from_numpy(train[0][batch]))
                y = torch.from_numpy(train[1][batch])
                loss = sum(loss_fn(o, y[:, k]) for k, o in enumerate(out))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        scores = evaluate(model, *test)
        print(f"{readout:>4} readout, {args.epochs} epochs in {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{k} {v:.1%}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
