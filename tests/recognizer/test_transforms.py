"""Crop geometry and clip preprocessing (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hoopsense.recognizer.transforms import (
    center_crop,
    clips_to_tensor,
    crop_square,
    resize_short_side,
    square_box,
)


def test_square_box_is_centred_and_padded():
    box = square_box([100, 50, 140, 150], context=1.25)  # 40 x 100 box
    side = 100 * 1.25
    assert box == pytest.approx([120 - side / 2, 100 - side / 2, 120 + side / 2, 100 + side / 2])


def test_crop_inside_frame_keeps_pixels_and_converts_bgr_to_rgb():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 90:110] = (255, 0, 0)  # blue in BGR
    crop = crop_square(img, [90, 40, 110, 60], context=1.0, size=20, bgr=True)
    assert crop.shape == (20, 20, 3) and crop.dtype == np.uint8
    assert (crop == (0, 0, 255)).all()  # RGB blue


def test_crop_at_frame_edge_is_padded_with_fill_and_player_stays_centred():
    img = np.full((100, 100, 3), 200, np.uint8)
    # box touching the left edge: half of the square lies outside the frame
    crop = crop_square(img, [0, 40, 20, 60], context=2.0, size=40, fill=(1, 2, 3), bgr=False)
    assert crop.shape == (40, 40, 3)
    assert (crop[:, :10] == (1, 2, 3)).all()  # square spans x -10..30: first quarter is padding
    assert (crop[:, 12:] == 200).all()
    assert (crop[18:22, 20] == 200).all()  # the box centre is at the crop centre


def test_crop_of_a_box_outside_the_frame_is_all_fill():
    img = np.zeros((50, 50, 3), np.uint8)
    crop = crop_square(img, [200, 200, 220, 240], context=1.25, size=16, fill=(9, 8, 7), bgr=True)
    assert (crop == (9, 8, 7)).all()


def test_resize_short_side_and_center_crop():
    frames = np.zeros((3, 176, 128, 3), np.uint8)  # SpaceJam clips: 128 wide, 176 high
    out = resize_short_side(frames, 128)
    assert out.shape == (3, 176, 128, 3)
    out = resize_short_side(frames, 64)
    assert out.shape == (3, 88, 64, 3)
    assert center_crop(np.zeros((2, 10, 8, 3)), 6).shape == (2, 6, 6, 3)
    with pytest.raises(ValueError, match="smaller than the crop"):
        center_crop(np.zeros((2, 4, 8, 3)), 6)


def test_clips_to_tensor_normalises_rgb_with_given_mean_and_std():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    x = clips_to_tensor([clip, clip[::-1]], crop_size=8, mean=mean, std=std)
    assert x.shape == (2, 3, 4, 8, 8) and x.dtype == torch.float32
    crop = clip[:, 2:10, 2:10]  # centre 8x8
    for c in range(3):  # channel c of the tensor is RGB channel c of the clip
        expected = (crop[..., c] / 255.0 - mean[c]) / std[c]
        np.testing.assert_allclose(x[0, c].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x[1, :, 0].numpy(), x[0, :, 3].numpy())  # clip order along T is kept
