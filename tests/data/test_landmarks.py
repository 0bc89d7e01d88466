"""The 106-point landmark loader on a tiny data set written in exactly the NNI layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import archspace as asp
from archspace.data.landmarks import (
    LandmarkDataset,
    LandmarkFileError,
    landmarks,
    read_list,
    split_target,
    write_synthetic,
)


def _write(root: Path, lines: list[str], split: str = "train_data") -> Path:
    (root / split / "imgs").mkdir(parents=True, exist_ok=True)
    path = root / split / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _line(name: str, points: int = 106, angles: int = 3) -> str:
    return " ".join([name, *(f"{0.001 * i:.4f}" for i in range(2 * points)), *(["5.0"] * angles)])


def test_reads_images_coordinates_and_angles(tmp_path: Path) -> None:
    pixels = torch.zeros(16, 16, 3, dtype=torch.uint8)
    pixels[..., 0] = 255  # pure red
    pixels[8:, :, 2] = 51
    (tmp_path / "train_data" / "imgs").mkdir(parents=True)
    Image.fromarray(pixels.numpy()).save(tmp_path / "train_data/imgs/a.png")
    _write(tmp_path, [_line("train_data/imgs/a.png"), "", _line("imgs/a.png")])  # root- and list-relative
    data = LandmarkDataset(tmp_path, "train", image_size=16)
    assert len(data) == 2
    image, target = data[0]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert torch.allclose(image[0], torch.ones(16, 16)) and image[1].abs().max() == 0
    assert torch.allclose(image[2, 8:], torch.full((8, 16), 0.2)) and image[2, :8].abs().max() == 0
    assert target.shape == (215,)
    coords, angles = split_target(target)
    assert torch.allclose(coords, 0.001 * torch.arange(212.0), atol=1e-6)
    assert angles.tolist() == [5.0, 5.0, 5.0]
    resized, _ = LandmarkDataset(tmp_path, "train", image_size=8)[1]
    assert resized.shape == (3, 8, 8)


def test_synthetic_set_loads_through_the_registry(tmp_path: Path) -> None:
    write_synthetic(tmp_path, train=5, test=3, image_size=24)
    assert sorted(p.name for p in (tmp_path / "train_data/imgs").iterdir())[:2] == ["0000.png", "0001.png"]
    (x, y), (xv, yv) = asp.create_dataset("landmarks", tmp_path, image_size=24)
    assert x.shape == (5, 3, 24, 24) and y.shape == (5, 215)
    assert xv.shape == (3, 3, 24, 24) and yv.shape == (3, 215)
    assert 0 <= float(x.min()) and float(x.max()) <= 1 and float(x.std()) > 0.05
    first = (tmp_path / "train_data/list.txt").read_text().splitlines()[0].split()
    assert len(first) == 1 + 212 + 3 and first[0] == "train_data/imgs/0000.png"
    assert torch.allclose(y[0], torch.tensor([float(v) for v in first[1:]]), atol=1e-6)
    assert landmarks(tmp_path, image_size=24)[0][1].shape == (5, 215)


def test_wrong_number_of_coordinates_is_refused_with_counts(tmp_path: Path) -> None:
    path = _write(tmp_path, [_line("x.png", points=106), _line("y.png", points=98)])
    with pytest.raises(LandmarkFileError, match=r"list\.txt:2: 199 values after the image path, expected 215 "
                                                r"\(212 landmark coordinates for 106 points and 3 pose angles\)"):
        read_list(path, check_images=False)
    # WFLW-style lines with 6 attribute flags between coordinates and angles are refused too
    path = _write(tmp_path, [_line("x.png", angles=9)])
    with pytest.raises(LandmarkFileError, match="221 values after the image path, expected 215"):
        read_list(path, check_images=False)
    assert len(read_list(_write(tmp_path, [_line("x.png", points=98)]), num_points=98, check_images=False)) == 1


def test_malformed_lines_name_the_file_and_line(tmp_path: Path) -> None:
    bad = _line("x.png").split()
    bad[7] = "abc"
    path = _write(tmp_path, [_line("x.png"), _line("x.png"), " ".join(bad)])
    with pytest.raises(LandmarkFileError, match=rf"{path}:3: a value is not a number"):
        read_list(path, check_images=False)
    bad[7] = "nan"
    _write(tmp_path, [" ".join(bad)])
    with pytest.raises(LandmarkFileError, match=rf"{path}:1: a value is not finite"):
        read_list(path, check_images=False)
    _write(tmp_path, [_line("train_data/imgs/missing.png")])
    with pytest.raises(LandmarkFileError, match=r"list\.txt:1: image .*missing\.png.* does not exist"):
        LandmarkDataset(tmp_path, "train")
    (tmp_path / "train_data/imgs/broken.png").write_bytes(b"not a png")
    _write(tmp_path, [_line("train_data/imgs/broken.png")])
    with pytest.raises(LandmarkFileError, match="cannot read image .*broken.png"):
        LandmarkDataset(tmp_path, "train")[0]


def test_missing_and_empty_lists_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(LandmarkFileError, match=r"test_data/list\.txt' does not exist"):
        LandmarkDataset(tmp_path, "test")
    _write(tmp_path, [""])
    with pytest.raises(LandmarkFileError, match="has no entries"):
        LandmarkDataset(tmp_path, "train")
    with pytest.raises(LandmarkFileError, match=r"unknown split 'val'; splits are \['train', 'test'\]"):
        LandmarkDataset(tmp_path, "val")
    with pytest.raises(LandmarkFileError, match="a landmark target has 212 values, expected 215"):
        split_target(torch.zeros(2, 212))
