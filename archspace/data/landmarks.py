"""The 106-point facial-landmark data set in the layout NNI's PFLD example reads.

The data set is that of the "Grand Challenge of 106-Point Facial Landmark Localization"
(Liu et al., arXiv 1905.03469) as prepared for PFLD: face crops with their annotations, laid out as

    <root>/train_data/imgs/...         face crops (112x112 in the reference preparation)
    <root>/train_data/list.txt         one line per image
    <root>/test_data/imgs/...
    <root>/test_data/list.txt

Each line of ``list.txt`` is whitespace-separated: the image path (relative to ``<root>``, as NNI's
loader joins it to its ``data_root``; a path relative to the list's own folder or an absolute one
is accepted too), then the 212 landmark coordinates ``x0 y0 x1 y1 ... x105 y105`` and the 3 pose
angles (Euler angles of the head, in degrees as PFLD's preparation computes them). NNI's loader
takes every value after the coordinates as the angles and its auxiliary net predicts exactly 3, so
this format has no attribute flags (unlike WFLW's PFLD lists, which carry 6 between the two).
The coordinates are normalised by the crop size to [0, 1] in PFLD's preparation; the loader does
not rescale them (the NME is scale-free, see :mod:`archspace.evaluate.landmarks`).

Images are read with Pillow as RGB (NNI's OpenCV loader gives BGR; it matters only for weights
trained elsewhere), resized to ``image_size`` and scaled to [0, 1] floats, channels first. A target
is one row ``(2 * num_points + 3,)``: the coordinates, then the angles, so that the data fits every
loop that takes ``(inputs, targets)`` tensors.

Example (the loader on a tiny data set written in this format)::

    train, test = LandmarkDataset(root, "train"), LandmarkDataset(root, "test")
    (x, y), (xv, yv) = landmarks(root, image_size=112)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from archspace.errors import ArchspaceError

NUM_POINTS = 106
NUM_ANGLES = 3
SPLITS = {"train": "train_data", "test": "test_data"}
Tensors = tuple[torch.Tensor, torch.Tensor]


class LandmarkFileError(ArchspaceError):
    """A landmark list or image is missing or malformed (the message names the file and line)."""


@dataclass(frozen=True)
class LandmarkRecord:
    """One line of a list: the image file, the ``2 * num_points`` coordinates and the 3 angles."""

    image: Path
    landmarks: tuple[float, ...]
    angles: tuple[float, ...]


def _resolve(name: str, root: Path, list_dir: Path) -> Path:
    path = Path(name)
    if path.is_absolute():
        return path
    for base in (root, list_dir):
        if (base / path).exists():
            return base / path
    return root / path


def read_list(list_file: str | Path, *, root: str | Path | None = None, num_points: int = NUM_POINTS,
              check_images: bool = True) -> list[LandmarkRecord]:
    """Parse a ``list.txt``.

    Args:
        list_file: the list.
        root: the folder image paths are relative to (default: the list's parent's parent, i.e.
            ``<root>`` of ``<root>/train_data/list.txt``).
        num_points: landmarks per image (106: 212 coordinates).
        check_images: refuse a line whose image file does not exist.

    Raises:
        LandmarkFileError: the list is missing or empty; a line has the wrong number of values
            (the message gives the count found and expected), a value that is not a finite number,
            or an image that does not exist — each naming the file and the line number.
    """
    path = Path(list_file)
    if not path.is_file():
        raise LandmarkFileError(f"landmark list {str(path)!r} does not exist")
    base = Path(root) if root is not None else path.parent.parent
    expected = 1 + 2 * num_points + NUM_ANGLES
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{path}:{number}"
            if len(fields) != expected:
                raise LandmarkFileError(
                    f"{where}: {len(fields) - 1} values after the image path, expected {expected - 1} "
                    f"({2 * num_points} landmark coordinates for {num_points} points and {NUM_ANGLES} pose angles)")
            try:
                values = [float(v) for v in fields[1:]]
            except ValueError as exc:
                raise LandmarkFileError(f"{where}: a value is not a number ({exc})") from None
            if not all(math.isfinite(v) for v in values):
                raise LandmarkFileError(f"{where}: a value is not finite (nan or inf)")
            image = _resolve(fields[0], base, path.parent)
            if check_images and not image.is_file():
                raise LandmarkFileError(f"{where}: image {str(image)!r} does not exist")
            records.append(LandmarkRecord(image, tuple(values[:2 * num_points]), tuple(values[2 * num_points:])))
    if not records:
        raise LandmarkFileError(f"landmark list {str(path)!r} has no entries")
    return records


def load_image(path: Path, image_size: int) -> torch.Tensor:
    """An image as a ``(3, image_size, image_size)`` float tensor in [0, 1] (RGB)."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the landmark data set needs Pillow: pip install 'archspace[landmarks]'") from exc
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            if rgb.size != (image_size, image_size):
                rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
            data = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8)
    except OSError as exc:
        raise LandmarkFileError(f"cannot read image {str(path)!r}: {exc}") from None
    return data.reshape(image_size, image_size, 3).permute(2, 0, 1).float().div_(255.0)


class LandmarkDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """One split, images read on access: item ``i`` is ``(image, target)`` (see the module docstring).

    Args:
        root: the data set's folder (holding ``train_data`` and ``test_data``).
        split: ``"train"`` or ``"test"``.
        image_size: the side images are resized to (112 for PFLD).
        num_points: landmarks per image.
    """

    def __init__(self, root: str | Path, split: str = "train", *, image_size: int = 112,
                 num_points: int = NUM_POINTS) -> None:
        if split not in SPLITS:
            raise LandmarkFileError(f"unknown split {split!r}; splits are {list(SPLITS)}")
        self.root = Path(root)
        self.image_size = image_size
        self.num_points = num_points
        self.records = read_list(self.root / SPLITS[split] / "list.txt", root=self.root, num_points=num_points)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        record = self.records[index]
        target = torch.tensor(record.landmarks + record.angles, dtype=torch.float32)
        return load_image(record.image, self.image_size), target

    def tensors(self) -> Tensors:
        """Every item stacked: ``(images (N, 3, S, S), targets (N, 2 * num_points + 3))``."""
        items = [self[i] for i in range(len(self))]
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def landmarks(root: str | Path, *, image_size: int = 112, num_points: int = NUM_POINTS) -> tuple[Tensors, Tensors]:
    """Both splits in memory as ``((x_train, y_train), (x_test, y_test))`` (the ``landmarks`` data set
    of configs). Floats take 150 KB per 112x112 image: use :class:`LandmarkDataset` with a
    DataLoader for the full data set on a small machine."""
    return (LandmarkDataset(root, "train", image_size=image_size, num_points=num_points).tensors(),
            LandmarkDataset(root, "test", image_size=image_size, num_points=num_points).tensors())


def split_target(target: torch.Tensor, num_points: int = NUM_POINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """``(landmarks (N, 2 * num_points), angles (N, 3))`` of targets ``(N, 2 * num_points + 3)``."""
    if target.shape[-1] != 2 * num_points + NUM_ANGLES:
        raise LandmarkFileError(f"a landmark target has {target.shape[-1]} values, expected {2 * num_points + NUM_ANGLES} "
                                f"({2 * num_points} coordinates and {NUM_ANGLES} angles)")
    return target[..., :2 * num_points], target[..., 2 * num_points:]


def write_synthetic(root: str | Path, *, train: int = 8, test: int = 4, image_size: int = 112,
                    num_points: int = NUM_POINTS, seed: int = 0) -> Path:
    """Write a tiny random data set in exactly this layout (for tests and ``--smoke`` runs).

    Images are noise with a bright square whose position moves the landmarks, so that a model
    can learn something from them; coordinates are in [0, 1], angles in degrees. Returns ``root``.
    """
    from PIL import Image

    out = Path(root)
    gen = torch.Generator().manual_seed(seed)
    template = torch.rand(num_points, 2, generator=gen) * 0.5
    for split, count in (("train", train), ("test", test)):
        folder = out / SPLITS[split]
        (folder / "imgs").mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(count):
            shift = torch.rand(2, generator=gen) * 0.5
            pixels = (torch.rand(image_size, image_size, 3, generator=gen) * 80).to(torch.uint8)
            x0, y0 = (shift * image_size).long().tolist()
            pixels[y0:y0 + image_size // 2, x0:x0 + image_size // 2] = 230
            name = f"{SPLITS[split]}/imgs/{i:04d}.png"
            Image.fromarray(pixels.numpy()).save(out / name)
            points = (template + shift).flatten().tolist()
            angles = ((torch.rand(NUM_ANGLES, generator=gen) - 0.5) * 60).tolist()
            lines.append(" ".join([name, *(f"{v:.6f}" for v in points + angles)]))
        (folder / "list.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


__all__ = ["NUM_POINTS", "LandmarkDataset", "LandmarkFileError", "LandmarkRecord", "landmarks", "load_image",
           "read_list", "split_target", "write_synthetic"]
