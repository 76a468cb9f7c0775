"""Build real colour 64x64 image folders from Debian packages, for tuning and measuring presets on a CPU.

Nothing with colour images ships with ganforge and only package registries can be reached, so the images come
from Debian packages: icon themes (icons64), the Noto colour emoji font (emoji64) and the photographs among the
wallpaper packages (photos64). Each package is fetched with `apt-get download` into a temporary folder and
unpacked there with `dpkg -x`; nothing is installed. SVG-only themes are left out, so no renderer is needed.

    python bench/colour_folders.py COLOUR                  # every folder
    python bench/colour_folders.py COLOUR --only emoji64   # just one (comma-separated names)

Per folder NAME it writes OUT_DIR/NAME/ (the PNGs and a MANIFEST.md), OUT_DIR/NAME-imagefolder/all/ (relative
symlinks to the same files, for torchvision's ImageFolder, which needs a class sub-folder) and OUT_DIR/NAME_sheet.png
(an 8x8 contact sheet of the first 64 files), and for images with transparency OUT_DIR/NAME-rgb/ (the same
images composited onto white, as ganforge's loader sees them). The same command with the same package versions
gives byte-identical folders: inputs are sorted, every random choice is seeded, and the files are numbered in a
seeded shuffle so that the first N files of a folder are a fair sample of all of it. Needs apt's package lists
(`apt-get update`), Pillow (with raqm, for the emoji sequences) and numpy.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 64
SEED = 20240601

# The versions these folders were made from (Debian 12 "bookworm"). They are asked for first so that a later
# point release does not silently change a folder; where the mirror no longer has one, the current one is used
# and the run says so.
PINNED = {
    "oxygen-icon-theme": "5:5.103.0-1",
    "faenza-icon-theme": "1.3.1-3",
    "moka-icon-theme": "5.5.0-2",
    "elementary-xfce-icon-theme": "0.17-1",
    "gnome-icon-theme": "3.12.0-5",
    "mate-icon-theme": "1.26.0-1",
    "fonts-noto-color-emoji": "2.042-0+deb12u1",
    "unicode-data": "15.0.0-1",
    "mate-backgrounds": "1.26.0-1",
    "lomiri-wallpapers-16.04": "20.04.0-2",
    "lomiri-wallpapers-20.04": "20.04.0-2",
    "plasma-workspace-wallpapers": "4:5.27.5-2",
}

LICENCE_NOTES = {"unicode-data": "Unicode License Agreement (Unicode-DFS-2016), only its emoji list is used"}

# Icon themes that ship PNGs (64x64, or 256x256 which is scaled down). Only full-colour contexts: "actions" and
# "panel" are mostly flat glyphs, and any file named *symbolic* or *-panel* is one too.
ICON_CONTEXTS = ("apps", "categories", "devices", "emotes", "mimetypes", "mimes", "places", "status", "web")
ICON_SOURCES = (  # (package, short label, folder pattern with {c} for the context)
    ("oxygen-icon-theme", "oxygen", "usr/share/icons/oxygen/base/64x64/{c}"),
    ("faenza-icon-theme", "faenza", "usr/share/icons/Faenza/{c}/64"),
    ("moka-icon-theme", "moka", "usr/share/icons/Moka/64x64/{c}"),
    ("elementary-xfce-icon-theme", "elementary", "usr/share/icons/elementary-xfce/{c}/64"),
    ("gnome-icon-theme", "gnome", "usr/share/icons/gnome/256x256/{c}"),
    ("mate-icon-theme", "mate", "usr/share/icons/mate/256x256/{c}"),
)
ICON_MIN_COVER = 0.10  # fraction of pixels that are opaque: below this an icon is a speck at 64x64
ICON_MIN_CHROMA = 8.0  # mean max(R,G,B)-min(R,G,B) over opaque pixels, 0..255: below this it is grey
ICON_NEAR_DUP = 1.0  # mean absolute difference (0..255) of 16x16 thumbnails on white: below this two icons are one

# Photographs among the wallpapers, picked by eye: vector art, renders and black-and-white photos are left out.
PHOTOS = (
    ("mate-backgrounds", "usr/share/backgrounds/mate/nature", "Aqua.jpg Blinds.jpg Dune.jpg FreshFlower.jpg "
     "Garden.jpg GreenMeadow.jpg LadyBird.jpg RainDrops.jpg Storm.jpg TwoWings.jpg Wood.jpg YellowFlower.jpg"),
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds", "Bridge_by_Sander_Klootwijk.jpg Dragonfly_by_Bolly.jpg "
     "Picture_0B_by_freespace.jpg Picture_1A_by_freespace.jpg Wine_by_Jakkub_Mede.jpg "
     "aitzgorri_by_Aitzol_Berasategi.jpg analogpattern_by_Peter_Nerlich.jpg free_by_Peter_Nerlich.jpg "
     "friends_by_Aitzol_Berasategi.jpg greentock_by_Peter_Nerlich.jpg life_by_Aitzol_Berasategi.jpg "
     "picosdeeuropa_by_Aitzol_Berasategi.jpg seeding_by_Clements_Engelhardt.jpg sunset_by_Aitzol_Berasategi.jpg"),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds", "Infinite-Sea_by_Aury88.jpg Kleiber_by_Lukas_Baubkus.jpg"),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers", " ".join(
        f"{name}/contents/images/2560x1600.jpg" for name in (
            "BytheWater", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Kite", "OneStandsOut",
            "Path", "summer_1am"))),
)
# Crops per photo and the shorter side the photo is scaled to first: most at 256 (a 64x64 crop is a detail),
# some at 128 (a crop holds a quarter of the height, closer to a scene).
PHOTO_SCALES = ((256, 42), (128, 12))
PHOTO_MIN_STD = 8.0  # a crop flatter than this (clear sky, blur) is drawn again, up to 20 times


@dataclass
class Package:
    name: str
    version: str
    root: Path  # where dpkg -x unpacked it
    licences: list[str] = field(default_factory=list)  # licences of the package's files, debian/* left out


@dataclass
class Item:
    key: str  # part of the file name, says where the image came from
    image: Image.Image
    source: str  # the package it came from


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def fetch(name: str, work: Path) -> Package:
    """apt-get download the pinned version (else the current one) and dpkg -x it under work/name."""
    debs = work / "debs"
    debs.mkdir(exist_ok=True)
    pinned = PINNED.get(name)
    done = pinned is not None and run(["apt-get", "download", f"{name}={pinned}"], cwd=debs).returncode == 0
    if not done:
        res = run(["apt-get", "download", name], cwd=debs)
        if res.returncode != 0:
            err = res.stderr.strip().splitlines()
            sys.exit(f"apt-get download {name} failed ({err[-1] if err else res.returncode}); "
                     "run `apt-get update` first if the package lists are missing")
    deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
    version = run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    if pinned is not None and version != pinned:
        print(f"note: {name} {pinned} is no longer on the mirror, using {version}: the folder may differ")
    root = work / "pkgs" / name
    root.mkdir(parents=True, exist_ok=True)
    if run(["dpkg", "-x", str(deb), str(root)]).returncode != 0:
        sys.exit(f"dpkg -x {deb.name} failed")
    pkg = Package(name, version, root)
    pkg.licences = sorted({lic for pats, _, lic in copyright_stanzas(pkg) if pats != ["debian/*"] and lic})
    if not pkg.licences:  # a copyright file that is not machine-readable
        pkg.licences = [LICENCE_NOTES.get(name, f"see /usr/share/doc/{name}/copyright")]
    return pkg


def copyright_stanzas(pkg: Package) -> list[tuple[list[str], str, str]]:
    """The Files stanzas of the package's machine-readable debian/copyright: (patterns, copyright, licence)."""
    path = pkg.root / "usr/share/doc" / pkg.name / "copyright"
    stanzas = []
    for para in re.split(r"\n\s*\n", path.read_text(errors="replace")):
        fields: dict[str, str] = {}
        last = ""
        for line in para.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                last = m.group(1).lower()
                fields[last] = m.group(2).strip()
            elif last and line.startswith((" ", "\t")):
                fields[last] += " " + line.strip()
        if "files" in fields:
            stanzas.append((fields["files"].split(), " ".join(fields.get("copyright", "").split()),
                            fields.get("license", "").split("\n")[0].strip()))
    return stanzas


def file_licence(pkg: Package, rel: str) -> tuple[str, str]:
    """(copyright, licence) of one installed file: the last stanza whose pattern matches the path's tail wins."""
    found = ("", ", ".join(pkg.licences))
    for pats, holder, lic in copyright_stanzas(pkg):
        # the source tree's sub-folder can be dropped on install (lomiri's 16.04/x.jpg goes to backgrounds/x.jpg)
        if any(p == "*" or fnmatch.fnmatch(rel, "*/" + p) or fnmatch.fnmatch(rel, p)
               or ("/" in p and Path(p).name != "*" and fnmatch.fnmatch(Path(rel).name, Path(p).name)) for p in pats):
            found = (holder, lic)
    meta = pkg.root / rel.split("/contents/")[0] / "metadata.json"
    if "/contents/" in rel and meta.exists():  # a Plasma wallpaper names its own author and licence
        info = json.loads(meta.read_text()).get("KPlugin", {})
        authors = ", ".join(a.get("Name", "") for a in info.get("Authors", []))
        found = (authors or found[0], f"{found[1]} (metadata.json: {info.get('License', '?')})")
    return found


def pad(im: Image.Image, side: int) -> Image.Image:
    """im centred on a transparent side x side square."""
    if im.size == (side, side):
        return im
    out = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    out.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    return out


def on_white(im: Image.Image) -> Image.Image:
    bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
    return Image.alpha_composite(bg, im.convert("RGBA")).convert("RGB")


def build_icons(pkgs: dict[str, Package]) -> list[Item]:
    items: list[Item] = []
    seen: set[str] = set()
    thumbs: list[np.ndarray] = []
    for name, label, pattern in ICON_SOURCES:
        for ctx in ICON_CONTEXTS:
            folder = pkgs[name].root / pattern.format(c=ctx)
            # symlinks are aliases of files already in the theme; sorted for a fixed order
            files = sorted(p for p in folder.glob("*.png") if p.is_file() and not p.is_symlink()) \
                if folder.is_dir() else []
            for path in files:
                if "symbolic" in path.name or "-panel" in path.name:
                    continue
                im = Image.open(path).convert("RGBA")
                im = pad(im, max(im.size))
                if im.size != (SIZE, SIZE):
                    im = im.resize((SIZE, SIZE), Image.Resampling.LANCZOS)  # Pillow premultiplies RGBA here
                a = np.asarray(im)
                opaque = a[..., 3] > 128
                if opaque.mean() < ICON_MIN_COVER:
                    continue
                rgb = a[..., :3][opaque].astype(np.int16)
                if (rgb.max(1) - rgb.min(1)).mean() < ICON_MIN_CHROMA:
                    continue
                digest = hashlib.sha256(a.tobytes()).hexdigest()
                if digest in seen:
                    continue
                # themes fork each other (mate from gnome): drop icons that look the same at a glance
                thumb = np.asarray(on_white(im).resize((16, 16), Image.Resampling.BOX), dtype=np.float32)
                if thumbs and np.abs(np.stack(thumbs) - thumb).mean(axis=(1, 2, 3)).min() < ICON_NEAR_DUP:
                    continue
                seen.add(digest)
                thumbs.append(thumb)
                items.append(Item(f"{label}_{ctx}_{path.stem}", im, name))
    return items


def emoji_list(pkg: Package) -> list[tuple[str, str]]:
    """(group, text) of every fully-qualified emoji in Unicode's emoji-test.txt, in its order."""
    out = []
    group = ""
    for line in (pkg.root / "usr/share/unicode/emoji/emoji-test.txt").read_text().splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif "; fully-qualified" in line:
            out.append((group, "".join(chr(int(cp, 16)) for cp in line.split(";")[0].split())))
    return out


def build_emoji(pkgs: dict[str, Package]) -> list[Item]:
    name = "fonts-noto-color-emoji"
    # Unicode's list gives the sequences in their proper order (the font's GSUB stores some reordered)
    # and a group for each, kept in the file name: smileys, people, animals, food, travel, ... flags
    font_path = pkgs[name].root / "usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
    font = ImageFont.truetype(str(font_path), 109)  # the font's only bitmap strike is 109 ppem
    items: list[Item] = []
    seen: set[str] = set()
    for group, text in emoji_list(pkgs["unicode-data"]):
        canvas = Image.new("RGBA", (512, 256), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text((256, 128), text, font=font, embedded_color=True, anchor="mm")
        box = canvas.getchannel("A").getbbox()
        if box is None or box[2] - box[0] > 160:  # blank, or a sequence the font lays out as several glyphs
            continue
        glyph = canvas.crop(box)
        side = round(max(glyph.size) * 1.06)  # a thin white margin, so the emoji does not touch the border
        im = on_white(pad(glyph, side)).resize((SIZE, SIZE), Image.Resampling.LANCZOS)
        digest = hashlib.sha256(im.tobytes()).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        slug = group.split()[0].lower()
        items.append(Item(f"{slug}_" + "-".join(f"{ord(c):x}" for c in text if c != "\ufe0f"), im, name))
    return items


def build_photos(pkgs: dict[str, Package]) -> list[Item]:
    items: list[Item] = []
    for name, folder, files in PHOTOS:
        # the package's licences narrowed to those of the photos used (the rest covers art and code)
        pkgs[name].licences = sorted({file_licence(pkgs[name], f"{folder}/{rel}")[1] for rel in files.split()})
        for rel in files.split():
            path = pkgs[name].root / folder / rel
            stem = rel.split("/")[0] if "/contents/" in rel else Path(rel).stem
            src = Image.open(path)
            short = min(src.size)
            biggest = PHOTO_SCALES[0][0] * 2
            src.draft("RGB", (src.width * biggest // short, src.height * biggest // short))  # fast JPEG decode
            src = src.convert("RGB")
            for target, count in PHOTO_SCALES:
                w, h = round(src.width * target / min(src.size)), round(src.height * target / min(src.size))
                im = src.resize((w, h), Image.Resampling.LANCZOS)
                rng = random.Random(f"{SEED}:{name}:{rel}:{target}")  # str seeds are stable across runs
                for _ in range(count):
                    for _ in range(20):
                        x, y = rng.randrange(w - SIZE + 1), rng.randrange(h - SIZE + 1)
                        crop = im.crop((x, y, x + SIZE, y + SIZE))
                        if np.asarray(crop, dtype=np.float32).std() >= PHOTO_MIN_STD:
                            break
                    items.append(Item(f"{stem}_s{target}_{x}_{y}", crop, name))
    return items


@dataclass
class Folder:
    name: str
    packages: tuple[str, ...]
    build: Callable[[dict[str, Package]], list[Item]]
    looks: str


FOLDERS = (
    Folder("icons64", tuple(p for p, _, _ in ICON_SOURCES), build_icons,
           "64x64 RGBA PNG desktop icons (applications, devices, MIME types, places, status, web sites) from "
           "six icon themes, on transparent backgrounds: composite onto white before training."),
    Folder("emoji64", ("fonts-noto-color-emoji", "unicode-data"), build_emoji,
           "64x64 RGB PNG colour emoji on white: faces, people with skin tones, animals, food, objects, "
           "flags, keycaps, each scaled to fill the frame with a thin margin."),
    Folder("photos64", tuple(p for p, _, _ in PHOTOS), build_photos,
           "64x64 RGB PNG crops of photographs (flowers, leaves, water, landscapes, sky, objects): most from "
           "the photo scaled to a 256-pixel shorter side (details), some from 128 (wider views)."),
)


def safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def manifest(folder: Folder, items: list[Item], pkgs: dict[str, Package], cmd: str) -> str:
    used = Counter(item.source for item in items)
    lines = [f"# {folder.name}", "", f"{len(items)} images. {folder.looks}", "",
             f"Built by `{cmd}` (ganforge repo, bench/colour_folders.py; seed {SEED}); the same command with the "
             "same package versions rebuilds this folder byte for byte. Files are numbered in a seeded shuffle, "
             "so the first N are a fair sample.", "", "| package | version | images | licence |",
             "| --- | --- | --- | --- |"]
    for name in folder.packages:
        p = pkgs[name]
        lines.append(f"| {name} | {p.version} | {used.get(name, 'none (data only)')} | {', '.join(p.licences)} |")
    if folder.name == "photos64":
        lines += ["", "Photographs (per debian/copyright):", "", "| package | file | copyright | licence |",
                  "| --- | --- | --- | --- |"]
        for name, sub, files in PHOTOS:
            for rel in files.split():
                holder, lic = file_licence(pkgs[name], f"{sub}/{rel}")
                lines.append(f"| {name} | {sub}/{rel} | {holder} | {lic} |")
    return "\n".join(lines) + "\n"


def contact_sheet(files: list[Path], out: Path) -> None:
    gap = 2
    sheet = Image.new("RGB", (8 * (SIZE + gap) + gap, 8 * (SIZE + gap) + gap), (128, 128, 128))
    for i, f in enumerate(files[:64]):
        sheet.paste(on_white(Image.open(f)), (gap + (i % 8) * (SIZE + gap), gap + (i // 8) * (SIZE + gap)))
    sheet.save(out)


def write_folder(folder: Folder, out_dir: Path, work: Path, cmd: str) -> None:
    pkgs = {name: fetch(name, work) for name in folder.packages}
    items = folder.build(pkgs)
    order = list(range(len(items)))
    random.Random(f"{SEED}:{folder.name}").shuffle(order)
    tmp = out_dir / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    width = len(str(len(items)))
    names = []
    for rank, idx in enumerate(order):
        fname = f"{rank:0{width}d}_{safe(items[idx].key)}.png"
        items[idx].image.save(tmp / fname)
        names.append(fname)
    (tmp / "MANIFEST.md").write_text(manifest(folder, items, pkgs, cmd))
    final = out_dir / folder.name
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    # ImageFolder needs a class sub-folder: relative links keep it valid if out_dir moves
    linked = out_dir / f"{folder.name}-imagefolder"
    shutil.rmtree(linked, ignore_errors=True)
    (linked / "all").mkdir(parents=True)
    for fname in names:
        os.symlink(Path("..", "..", folder.name, fname), linked / "all" / fname)
    if any(items[i].image.mode == "RGBA" for i in order):
        # torchvision's loader (the peers') drops alpha, ganforge's composites onto white: NAME-rgb/ holds the
        # white-composited pixels, so a comparison feeds every program the same images.
        flat = out_dir / f"{folder.name}-rgb"
        shutil.rmtree(flat, ignore_errors=True)
        flat.mkdir()
        for fname in names:
            on_white(Image.open(final / fname)).save(flat / fname)
    contact_sheet([final / n for n in sorted(names)], out_dir / f"{folder.name}_sheet.png")
    size = sum(f.stat().st_size for f in final.iterdir()) / 1e6
    srcs = "; ".join(f"{n} {pkgs[n].version} ({', '.join(pkgs[n].licences)})" for n in folder.packages)
    print(f"{folder.name}: {len(items)} images, {size:.1f} MB, from {srcs}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path, help="where the folders are written (outside the git repo)")
    ap.add_argument("--only", default="", help="comma-separated folder names: " + ",".join(f.name for f in FOLDERS))
    args = ap.parse_args(argv)
    cmd = "python bench/colour_folders.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    wanted = [n for n in args.only.split(",") if n] or [f.name for f in FOLDERS]
    unknown = set(wanted) - {f.name for f in FOLDERS}
    if unknown:
        ap.error(f"unknown folder(s): {', '.join(sorted(unknown))}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="colour_folders_") as work:
        for folder in FOLDERS:
            if folder.name in wanted:
                write_folder(folder, args.out_dir, Path(work), cmd)


if __name__ == "__main__":
    main()
