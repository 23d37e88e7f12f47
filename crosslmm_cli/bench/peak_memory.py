"""Peak memory of a call: CUDA's allocator statistics, or on CPU a high-water mark of live tensors.

CPU has no allocator statistics in torch, and the process's resident size mixes in the Python
heap, freed-but-cached pages and everything imported. `LiveTensorTracker` instead watches every
op's outputs (a TorchDispatchMode), adds each new storage's bytes when it appears and subtracts
them when the storage is freed (a weakref finalizer), so it measures exactly the tensors the call
keeps alive at once. What it cannot see: scratch buffers a kernel allocates and frees internally
(the CPU flash-attention kernel's blocks, bitsandbytes' dequantization inside its op).

A memory limit is enforced the same way: the op whose output crosses it raises
`MemoryLimitExceeded`, so a configuration that would not fit stops cleanly.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


class MemoryLimitExceeded(RuntimeError):
    """Live tensors exceeded the limit a benchmark enforces (the CPU stand-in for CUDA OOM)."""

    def __init__(self, needed: int, limit: int):
        super().__init__(f"live tensors reached {needed / 2**20:,.0f} MiB, over the {limit / 2**20:,.0f} MiB limit")
        self.needed, self.limit = needed, limit


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA OOM, our own limit, or the CPU allocator failing."""
    import torch

    if isinstance(error, (MemoryLimitExceeded, torch.OutOfMemoryError, MemoryError)):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)


def _tracker_class():
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    import torch

    class LiveTensorTracker(TorchDispatchMode):
        """Live bytes of the storages created inside the context; `peak_bytes` is their high-water mark.

        Outputs that alias an input (views, in-place and out= ops: their schema says so) are
        skipped, so a view of a tensor made before the context is not counted as new memory.
        """

        def __init__(self, limit_bytes: int | None = None, base_bytes: int = 0):
            super().__init__()
            self.limit_bytes = limit_bytes
            self.base_bytes = base_bytes  # counted against the limit (weights, inputs made earlier)
            self.live_bytes = 0
            self.peak_bytes = 0
            self._live: dict[int, int] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            returns = func._schema.returns
            outputs = out if isinstance(out, (tuple, list)) else (out,)
            for index, value in enumerate(outputs):
                aliased = index < len(returns) and returns[index].alias_info is not None
                if aliased:
                    continue
                for tensor in tree_leaves(value):
                    if isinstance(tensor, torch.Tensor):
                        self._add(tensor)
            return out

        def _add(self, tensor: torch.Tensor) -> None:
            if tensor.device.type == "meta":
                return
            storage = tensor.untyped_storage()
            key = id(storage)  # the Python storage object lives exactly as long as the storage
            if key in self._live:
                return
            size = storage.nbytes()
            self._live[key] = size
            self.live_bytes += size
            weakref.finalize(storage, self._free, key)
            if self.live_bytes > self.peak_bytes:
                self.peak_bytes = self.live_bytes
                if self.limit_bytes is not None and self.base_bytes + self.live_bytes > self.limit_bytes:
                    raise MemoryLimitExceeded(self.base_bytes + self.live_bytes, self.limit_bytes)

        def _free(self, key: int) -> None:
            self.live_bytes -= self._live.pop(key, 0)

    return LiveTensorTracker


def live_tensor_tracker(limit_bytes: int | None = None, base_bytes: int = 0):
    """A new `LiveTensorTracker` (its class is built on first use, so importing this module needs no torch)."""
    return _tracker_class()(limit_bytes=limit_bytes, base_bytes=base_bytes)


@dataclass
class PeakMemory:
    """Filled in when the `measure_peak` block exits.

    peak_bytes: the most memory held at once by tensors allocated inside the block.
    retained_bytes: what those tensors still hold at the end (outputs, the generation cache).
    """

    peak_bytes: int = 0
    retained_bytes: int = 0


@contextmanager
def measure_peak(device: torch.device, limit_bytes: int | None = None, base_bytes: int = 0) -> Iterator[PeakMemory]:
    """Peak memory of the block, over what was allocated before it.

    On CUDA: `max_memory_allocated` relative to the allocation at entry (a limit becomes the
    allocator's memory fraction for the block). On CPU: the live-tensor tracker, with the limit
    checked against `base_bytes` + live bytes.
    """
    import torch

    result = PeakMemory()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        if limit_bytes is not None:
            total = torch.cuda.get_device_properties(device).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, limit_bytes / total), device)
        try:
            yield result
        finally:
            if limit_bytes is not None:
                torch.cuda.set_per_process_memory_fraction(1.0, device)
            torch.cuda.synchronize(device)
            result.peak_bytes = torch.cuda.max_memory_allocated(device) - start
            result.retained_bytes = torch.cuda.memory_allocated(device) - start
        return
    tracker = live_tensor_tracker(limit_bytes, base_bytes)
    with tracker:
        try:
            yield result
        finally:
            result.peak_bytes = tracker.peak_bytes
            result.retained_bytes = tracker.live_bytes


def weight_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers, counting shared storages once and bitsandbytes' 4-bit
    quantization state (absmax, nested absmax, code tables), which lives outside the parameters."""
    import torch

    seen: set[int] = set()
    total = 0

    def add(tensor: Any) -> None:
        nonlocal total
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta":
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in seen:
                seen.add(storage.data_ptr())
                total += storage.nbytes()

    for tensor in [*model.parameters(), *model.buffers()]:
        add(tensor)
        state = getattr(tensor, "quant_state", None)
        while state is not None:
            add(getattr(state, "absmax", None))
            add(getattr(state, "code", None))
            state = getattr(state, "state2", None)
    return total
