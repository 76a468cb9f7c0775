"""The small CNN behind the domain metrics, and its training loop.

Sized for 2 CPU cores: two conv stages (16 and 32 channels, channels-last) and a 128-d penultimate layer
whose activations are the "domain features" for domain FID.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

ARCHITECTURE = "cnn-16-32-fc128"
IMAGE_SIZE = 28
FEATURE_DIM = 128


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class DigitCNN(nn.Module):
    """28x28 grey image in [0, 1] -> (128-d features, class logits)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            *_conv(1, 16), *_conv(16, 16), nn.MaxPool2d(2),
            *_conv(16, 32), *_conv(32, 32), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURE_DIM), nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.body(x)
        return features, self.head(self.dropout(features))


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 N x 1 x H x W -> float N x 1 x 28 x 28 in [0, 1], channels-last (much faster convs on CPU)."""
    x = images.to(device, non_blocking=True).float().div_(255)
    if x.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        x = F.interpolate(x, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True)
    return x.contiguous(memory_format=torch.channels_last)


def augment(x: torch.Tensor, *, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random shifts of up to 2 pixels (and horizontal flips for clothes, never for digits)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (2, 2, 2, 2))
    dy = torch.randint(0, 5, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 5, (n,), generator=generator).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None].expand(n, h, w)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :].expand(n, h, w)
    out = padded[torch.arange(n, device=x.device)[:, None, None], 0, rows, cols].unsqueeze(1)
    if flip:
        mask = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        out = torch.where(mask[:, None, None, None], out.flip(-1), out)
    return out.contiguous(memory_format=torch.channels_last)


def train_classifier(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int,
    device: torch.device | str = "cpu",
    num_classes: int = 10,
    flip: bool = False,
    batch_size: int = 128,
    seed: int = 0,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> DigitCNN:
    """Train a DigitCNN on uint8 N x 1 x H x W images with AdamW and a one-cycle learning rate."""
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = DigitCNN(num_classes).to(device).to(memory_format=torch.channels_last)
    steps = epochs * math.ceil(len(images) / batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    labels = labels.to(device)
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(images), generator=gen)
        total = 0.0
        for i in tqdm(range(0, len(images), batch_size), desc=f"epoch {epoch + 1}/{epochs}",
                      disable=not progress, leave=False):
            idx = perm[i : i + batch_size]
            x = augment(to_input(images[idx], device), flip=flip, generator=gen)
            _, logits = model(x)
            loss = F.cross_entropy(logits, labels[idx.to(device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        seconds = time.perf_counter() - start
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(images):.4f} ({seconds:.0f}s)")
    return model.eval()


@torch.no_grad()
def accuracy(model: DigitCNN, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 1000) -> float:
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    for i in range(0, len(images), batch_size):
        _, logits = model(to_input(images[i : i + batch_size], device))
        correct += int((logits.argmax(1).cpu() == labels[i : i + batch_size]).sum())
    return correct / len(images)
