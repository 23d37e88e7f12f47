"""Training items, batches and a data order that a resumed run can continue exactly.

Items are built in DataLoader workers: frames from the `FrameLoader` cache, the conversation
tokenized with its answer-only labels. A clip that cannot be decoded becomes an error item that
the batch carries to the main process (which reports it) instead of killing the run.

The order is a pure function of (seed, epoch): a seeded permutation per epoch, cut into batches.
A checkpoint records (epoch, batches done), and the resumed run skips those batches without
loading them, so it sees the same batches as a run that was never interrupted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from crosslmm_cli.training.frame_cache import ClipDecodeError, FrameLoader
from crosslmm_cli.training.records import Conversation
from crosslmm_cli.training.tokenization import IGNORE_INDEX, TemplateError, encode_conversation


class ConversationDataset(Dataset):
    """Conversations about videos -> {"input_ids", "labels", "pixel_values_videos"} or {"error"}."""

    def __init__(self, conversations: Sequence[Conversation], processor: Any, frames: FrameLoader,
                 *, max_length: int | None = None) -> None:
        self.conversations = list(conversations)
        self.processor = processor
        self.frames = frames
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.conversations)

    def modalities(self) -> list[bool]:
        """Per item: has it a video? Batches hold one kind only (`EpochBatches(groups=...)`)."""
        return [conversation.video is not None for conversation in self.conversations]

    def __getitem__(self, index: int) -> dict[str, Any]:
        conversation = self.conversations[index]
        try:
            segment = conversation.segment
            clip = self.frames.load(conversation.video, segment=segment) if conversation.video is not None else None
            encoded = encode_conversation(self.processor, conversation.turns,
                                          timestamps=clip.timestamps.tolist() if clip is not None else None,
                                          duration=clip.duration if clip is not None else 0.0, max_length=self.max_length,
                                          segment=clip.segment if clip is not None else None)
        except (ClipDecodeError, TemplateError, ValueError) as error:
            return {"error": f"{conversation.where}: {error}", "index": index}
        if encoded.num_targets == 0:
            return {"error": f"{conversation.where}: no answer token left within --max-length", "index": index}
        item = {
            "index": index,
            "input_ids": torch.tensor(encoded.input_ids, dtype=torch.long),
            "labels": torch.tensor(encoded.labels, dtype=torch.long),
        }
        if clip is not None:
            item["pixel_values_videos"] = self.frames.pixels(clip)  # (T, 3, S, S) float32
        return item


def pad_batch(items: list[dict[str, Any]], pad_id: int, extra: Sequence[str] = ()) -> dict[str, Any]:
    """Right-pad sequences into a batch: input_ids, attention_mask, labels (B, L), pixels (B, T, 3, S, S)
    (no pixels in a batch of text-only items; a batch never mixes the two).

    Error items are dropped and their messages kept under "errors"; `extra` names further
    per-item tensors of shape (L_i, ...) padded along their first axis with zeros.
    """
    errors = [item["error"] for item in items if "error" in item]
    good = [item for item in items if "error" not in item]
    batch: dict[str, Any] = {"errors": errors, "size": len(good), "indices": [item["index"] for item in good]}
    if not good:
        return batch
    length = max(item["input_ids"].shape[0] for item in good)
    input_ids = torch.full((len(good), length), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(good), length), dtype=torch.long)
    labels = torch.full((len(good), length), IGNORE_INDEX, dtype=torch.long)
    for row, item in enumerate(good):
        n = item["input_ids"].shape[0]
        input_ids[row, :n] = item["input_ids"]
        attention_mask[row, :n] = 1
        if "labels" in item:
            labels[row, :n] = item["labels"]
    batch.update(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    with_video = ["pixel_values_videos" in item for item in good]
    if any(with_video) and not all(with_video):
        raise ValueError("a batch mixes text-only items and items with a video")
    if all(with_video):
        batch["pixel_values_videos"] = torch.stack([item["pixel_values_videos"] for item in good])
    for name in extra:
        tensors = [item[name] for item in good]
        padded = tensors[0].new_zeros((len(good), length, *tensors[0].shape[1:]))
        for row, tensor in enumerate(tensors):
            padded[row, : tensor.shape[0]] = tensor
        batch[name] = padded
    # Targets the loss will see: labels shifted by one (position p predicts token p+1).
    batch["num_targets"] = int((labels[:, 1:] != IGNORE_INDEX).sum())
    return batch


class EpochBatches(Sampler[list[int]]):
    """Batches of indices of one epoch, in the epoch's seeded order, from batch `skip` on.

    `groups` (one hashable per item, e.g. "has a video") keeps each batch within one group, as
    LLaVA's modality-grouped sampler does: items in the epoch's order are cut into batches group
    by group, and the batches are then put in a seeded order of their own.
    `set_epoch(epoch, skip)` before iterating; the DataLoader runs the sampler in the main process,
    so persistent workers keep running across epochs.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, *, shuffle: bool = True,
                 groups: Sequence[Any] | None = None) -> None:
        if num_items < 1 or batch_size < 1:
            raise ValueError("need at least one item and a batch size >= 1")
        if groups is not None and len(groups) != num_items:
            raise ValueError(f"{len(groups)} group labels for {num_items} items")
        self.num_items, self.batch_size, self.seed, self.shuffle = num_items, batch_size, seed, shuffle
        self.groups = list(groups) if groups is not None and len(set(groups)) > 1 else None
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def order(self, epoch: int) -> list[int]:
        if not self.shuffle:
            return list(range(self.num_items))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_items, generator=generator).tolist()

    def batches(self, epoch: int) -> list[list[int]]:
        """Every batch of the epoch, in order."""
        order = self.order(epoch)
        if self.groups is None:
            return [order[start : start + self.batch_size] for start in range(0, self.num_items, self.batch_size)]
        by_group: dict[Any, list[int]] = {}
        for index in order:
            by_group.setdefault(self.groups[index], []).append(index)
        batches = [items[start : start + self.batch_size] for _, items in sorted(by_group.items(), key=lambda kv: str(kv[0]))
                   for start in range(0, len(items), self.batch_size)]
        if not self.shuffle:
            return batches
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009)
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    @property
    def batches_per_epoch(self) -> int:
        if self.groups is None:
            return -(-self.num_items // self.batch_size)
        counts: dict[Any, int] = {}
        for group in self.groups:
            counts[group] = counts.get(group, 0) + 1
        return sum(-(-count // self.batch_size) for count in counts.values())

    def __len__(self) -> int:
        return self.batches_per_epoch - self.skip

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)[self.skip :]


def make_loader(dataset: Dataset, batches: EpochBatches, collate: Callable[[list], dict], workers: int,
                *, generator: torch.Generator | None = None) -> Any:
    """A DataLoader over `batches` with `workers` persistent worker processes (0: in this process).

    `generator` seeds the workers; passing one keeps data loading from drawing on the global RNG.
    """
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=workers,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        pin_memory=torch.cuda.is_available(),
        generator=generator,
    )
