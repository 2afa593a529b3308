"""Training on several processes (GPUs or machines) under ``torchrun``, with torch.distributed.

``torchrun --nproc_per_node=N -m ganstudio.cli train ...`` starts N copies of the same command and
gives each its place in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, and where to
meet). The trainer reads that here: each process trains on its own share of every batch, PyTorch's
DistributedDataParallel averages the gradients, and only rank 0 writes the run folder (config,
metrics, previews, checkpoints) and reports progress. Without those variables everything runs as
one process, as before.

How a step is shared: a GAN (gan.py) draws one global batch of ``batch_size * world`` images and
latents from the run's seeded streams and each rank takes its slice, so the ranks never train on
the same images and a resumed run continues the same global sequence; an upscaler (upscale/task.py)
draws random patches from a stream seeded per rank; pix2pix and CycleGAN (translate/task.py) slice
global batches like the GAN, and CycleGAN's history pools are per rank. Every rank validates
(identical weights give the same verdict, so all keep the same best checkpoint) and rank 0 writes.
Decisions that must be the same everywhere (stop, time limit, NaN) are agreed with one small
all-reduce at the steps where metrics are logged (never one per step: that would stall GPUs).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 when not under torchrun)."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1        # processes of the job on this machine (they share its CPU cores)

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch drawn alike on every rank (dim 0 = world * per rank)."""
        per = batch.shape[0] // self.world
        return batch[self.rank * per:(self.rank + 1) * per]


SINGLE = DistInfo()
#: under torchrun, rank r's own random streams are seeded this far (times r) from rank 0's
RANK_SEED_STRIDE = 1_000_003


def from_env() -> DistInfo:
    """The torchrun environment of this process, or ``SINGLE``."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError as e:
        raise ConfigError(f"The torchrun variables RANK/WORLD_SIZE/LOCAL_RANK/LOCAL_WORLD_SIZE are not numbers: {e}.") from e
    if world < 1 or not 0 <= rank < world:
        raise ConfigError(f"Invalid torchrun placement: rank {rank} of {world}.")
    return DistInfo(rank, world, local, max(1, local_world)) if world > 1 else SINGLE


def device_for(info: DistInfo, device: torch.device) -> torch.device:
    """One GPU per process: CUDA rank ``local_rank`` uses cuda:local_rank; CPUs are shared."""
    if info.active and device.type == "cuda":
        if info.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"torchrun started process {info.local_rank} on a machine with "
                              f"{torch.cuda.device_count()} GPU(s): start at most one process per GPU.")
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    elif info.active and device.type == "mps":
        raise ConfigError("Training on several processes needs CUDA GPUs or the CPU; Apple MPS cannot join.")
    return device


def setup(info: DistInfo, device: torch.device) -> bool:
    """Join the torchrun job (NCCL between GPUs, Gloo on CPUs). True if this call joined it."""
    if not info.active or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def teardown(joined: bool, together: bool = True) -> None:
    """Leave the job. After a normal end the ranks leave together: one that tore down while another
    still wrote its last preview aborted in Gloo ("terminate called without an active exception",
    1 run in ~6). After an error (``together=False``) the rank leaves at once; torchrun then ends
    the others."""
    if joined and dist.is_initialized():
        try:
            if together:
                dist.barrier()
        finally:
            dist.destroy_process_group()


def seed_rank_streams(info: DistInfo, streams: dict[str, torch.Generator], names: tuple[str, ...], seed: int,
                      step: int) -> None:
    """Give ranks other than 0 their own ``names`` streams (a task's augmentation, its patches),
    seeded from the run's seed, the rank and the step. Rank 0 keeps its streams, so one process,
    and rank 0 of a job, draw exactly what a single-process run draws (and resume it exactly);
    the other ranks re-seed at the start and after every checkpoint load.

    The global generator is re-seeded too: after the weights are initialised (alike everywhere) it
    draws only dropout masks, which should differ between ranks as their images do. Nothing that
    must stay in step across ranks may draw from it."""
    if info.rank == 0:
        return
    for i, name in enumerate(names):
        streams[name].manual_seed(seed + RANK_SEED_STRIDE * info.rank + 7_919 * i + step)
    torch.manual_seed(seed + RANK_SEED_STRIDE * info.rank + 7_919 * len(names) + step)


def agree_code(info: DistInfo, code: int, device: torch.device) -> int:
    """The largest ``code`` any rank gives, on every rank (one tiny all-reduce)."""
    if not info.active:
        return code
    t = torch.tensor([float(code)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def agree(info: DistInfo, flag: bool, device: torch.device) -> bool:
    """True on every rank if ``flag`` is True on any."""
    return bool(agree_code(info, int(flag), device))


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def check_in_sync(info: DistInfo, modules: dict[str, torch.nn.Module], device: torch.device) -> None:
    """Raise if the ranks' weights differ (they must stay identical under DistributedDataParallel)."""
    if not info.active:
        return
    with torch.no_grad():
        total = torch.zeros((), dtype=torch.float64, device=device)
        for name in sorted(modules):
            for p in modules[name].parameters():
                total += p.detach().double().sum() + p.detach().double().abs().sum()
    sums = [torch.zeros_like(total) for _ in range(info.world)]
    dist.all_gather(sums, total)
    values = [float(s) for s in sums]
    if max(values) - min(values) > 1e-9 * max(1.0, max(abs(v) for v in values)):
        raise RuntimeError(f"The {info.world} training processes ended with different weights "
                           f"(checksums {values}); the run is not trustworthy.")


def wrap(info: DistInfo, module: torch.nn.Module | None, device: torch.device, *,
         broadcast_buffers: bool = True) -> torch.nn.Module | None:
    """``module`` wrapped in DistributedDataParallel under torchrun (its gradients are averaged
    across ranks); the module itself (what checkpoints save) when not, or None.

    ``broadcast_buffers`` copies rank 0's buffers (BatchNorm statistics) to every rank before each
    forward; modules whose buffers are constants or evolve alike on every rank can skip it.
    """
    if module is None or not info.active:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=broadcast_buffers)
