#!/usr/bin/env python3
"""Give this container one GPU of its own, then exec the command.

Docker has no GPU scheduler: a device reservation of ``count: 1`` is translated into
``NVIDIA_VISIBLE_DEVICES=0`` for every container, so ``--scale consumer-gpu=2`` would put
both replicas on GPU 0 (docker/compose#11863). The compose service therefore reserves all
GPUs, and each replica claims one slot here: an exclusive ``flock`` on ``<dir>/gpu-<n>``
in a volume shared by the replicas. The lock file stays open across ``exec``, so the slot
is held exactly as long as the consumer process lives and is freed by the kernel when the
container stops, however it stops.

Usage: gpu-slot COMMAND [ARGS...]
Environment: GPU_SLOT_DIR (default /run/gpu-slots); GPU_COUNT overrides the number of
GPUs, which otherwise is the number of /dev/nvidia<N> device nodes in the container.
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
from pathlib import Path

DEFAULT_SLOT_DIR = "/run/gpu-slots"
_DEVICE_NODE = re.compile(r"nvidia[0-9]+")


def gpu_count() -> int:
    override = os.environ.get("GPU_COUNT")
    if override:
        return int(override)
    return sum(1 for name in os.listdir("/dev") if _DEVICE_NODE.fullmatch(name))


def claim_slot(slot_dir: Path, count: int) -> tuple[int, int] | None:
    """(gpu index, open locked fd) for the first free GPU, or None when all are taken."""
    slot_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        fd = os.open(slot_dir / f"gpu-{index}", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return index, fd
    return None


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: gpu-slot COMMAND [ARGS...]", file=sys.stderr)
        return 2
    count = gpu_count()
    if count == 0:
        print(
            "gpu-slot: no GPU is visible in this container (is the NVIDIA runtime set up?)",
            file=sys.stderr,
        )
        return 1
    claimed = claim_slot(Path(os.environ.get("GPU_SLOT_DIR", DEFAULT_SLOT_DIR)), count)
    if claimed is None:
        print(
            f"gpu-slot: all {count} GPUs already have a consumer; scale consumer-gpu to at "
            f"most {count} on this host",
            file=sys.stderr,
        )
        return 1
    index, fd = claimed
    os.set_inheritable(fd, True)  # the lock lives as long as the exec'd process
    # Every replica sees the same GPUs; PCI order makes index n the same GPU in each of them.
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
    os.environ["GPU_SLOT"] = str(index)
    print(f"gpu-slot: this replica uses GPU {index} of {count}", file=sys.stderr, flush=True)
    os.execvp(argv[0], argv)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
