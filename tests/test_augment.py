"""DiffAugment: each transform does what it says on images built to show it, keeps gradients,
and is reproducible from the generator it is given."""

import pytest
import torch

from ganforge import GanforgeError
from ganforge.augment import color, cutout, diff_augment, parse_augment, translation


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_parse_augment():
    assert parse_augment("none") == ()
    assert parse_augment("cutout, translation") == ("translation", "cutout")  # the paper's order
    assert parse_augment("translation,cutout,color") == ("color", "translation", "cutout")
    with pytest.raises(GanforgeError, match="unknown augmentation 'flip'"):
        parse_augment("translation,flip")
    with pytest.raises(GanforgeError, match="augment must be"):
        parse_augment(",")


def test_translation_shifts_whole_images_and_fills_with_zeros():
    x = torch.arange(1, 8 * 8 + 1, dtype=torch.float32).view(1, 1, 8, 8).repeat(16, 1, 1, 1)
    y = translation(x, gen())
    shifted = 0
    for img in y[:, 0]:
        nz = img.nonzero()
        (r0, c0) = nz.min(0).values.tolist()
        # every kept pixel moved by the same offset, and nothing else changed
        dy, dx = int((img[r0, c0] - 1) // 8) - r0, int((img[r0, c0] - 1) % 8) - c0
        assert abs(dy) <= 1 and abs(dx) <= 1  # ratio 1/8 of 8 pixels
        src = torch.roll(x[0, 0], shifts=(-dy, -dx), dims=(0, 1))
        assert torch.equal(img[img != 0], src[img != 0])
        shifted += (dy, dx) != (0, 0)
    assert shifted > 0


def test_cutout_zeroes_one_square_of_half_the_size():
    x = torch.ones(32, 1, 8, 8)
    y = cutout(x, gen())
    zeros = (y == 0).sum(dim=(1, 2, 3))
    assert zeros.max() == 16 and zeros.min() >= 4  # 4x4, clipped at the border
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_color_changes_brightness_contrast_saturation_per_image():
    x = torch.rand(8, 3, 4, 4) * 2 - 1
    y = color(x, gen())
    assert y.shape == x.shape and not torch.allclose(y, x)
    # a constant image stays constant: colour changes are per image, not per pixel
    c = color(torch.full((2, 1, 4, 4), 0.3), gen())
    assert torch.allclose(c, c[:, :, :1, :1].expand_as(c))


def test_augment_is_differentiable_and_reproducible():
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    names = parse_augment("translation,cutout,color")
    y = diff_augment(x, names, gen(3))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(y, diff_augment(x, names, gen(3)))
    assert not torch.equal(y, diff_augment(x, names, gen(4)))
