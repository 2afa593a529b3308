"""Fetch more openly licensed photos for training the bundled upscalers (a developer tool, not the app).

    .venv/bin/python scripts/fetch_extra_photos.py            # -> ~/.cache/ganstudio-data/photos_extra

Why: the `photos` set of ../shared/datasets has 23 photos, and with 19 of them for training an upscaler
learns much that belongs to single photos (a photo it trained on scores up to 8 dB higher than the same
photo held out). The Debian archive has more photographs under open licences; this script downloads
the packages that hold them with ``apt-get download`` (no root needed for that, no install), unpacks
them with ``dpkg-deb -x`` and copies the chosen photographs, with their authors and licences, into
one folder and its ``SOURCES.md``. Illustrations and renders in the same packages are left out, since
the upscalers are meant for photographs. The app itself never downloads anything.

It needs apt-get and dpkg-deb (Debian or Ubuntu) and the network, once. Running it again skips
photos that are already there.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUT = Path.home() / ".cache" / "ganstudio-data" / "photos_extra"


@dataclass(frozen=True)
class Photo:
    package: str
    path: str           # inside the unpacked package
    author: str
    licence: str

    @property
    def name(self) -> str:
        return Path(self.path).name


_LOMIRI16 = "usr/share/backgrounds/"
#: from each package's debian/copyright (lomiri-wallpapers-*: per file; palapeli-data: the puzzles'
#: .desktop files), as shipped in Debian 12
PHOTOS = (
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "aitzgorri_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "analogpattern_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk", "CC-BY-SA-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "Dragonfly_by_Bolly.jpg", "\"Bolly\"", "CC-BY-SA-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "free_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "friends_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "greentock_by_Peter_Nerlich.jpg", "Peter Nerlich", "CC-BY-SA-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "life_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "picosdeeuropa_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "Picture_0B_by_freespace.jpg", "Trevor \"Freespace\"", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "Picture_1A_by_freespace.jpg", "Trevor \"Freespace\"", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt", "CC0-1.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "sunset_by_Aitzol_Berasategi.jpg", "Aitzol Berasategi", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "umang_by_Abhishek_Mudgal.jpg", "Abhishek Mudgal", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-16.04", _LOMIRI16 + "Wine_by_Jakkub_Mede.jpg", "Jakub Mede", "CC-BY-4.0"),
    Photo("lomiri-wallpapers-20.04", _LOMIRI16 + "Kleiber_by_Lukas_Baubkus.jpg", "Lukas Baubkus", "CC-BY-SA-3.0"),
    Photo("palapeli-data", "usr/share/palapeli/collection/castle-maintenon.jpg", "Eric Pouhier", "GFDL"),
    Photo("palapeli-data", "usr/share/palapeli/collection/cincinnati-bridge.jpg", "Derek Jensen", "public domain"),
    Photo("palapeli-data", "usr/share/palapeli/collection/citrus-fruits.jpg", "US Department of Agriculture",
          "public domain"),
    Photo("palapeli-data", "usr/share/palapeli/collection/european-honey-bee.jpg", "John Severns", "public domain"),
    Photo("palapeli-data", "usr/share/palapeli/collection/panther-chameleon-female.jpg", "B. Navez and others",
          "GFDL"),
)


def sources_markdown(photos: tuple[Photo, ...] = PHOTOS) -> str:
    lines = ["# Extra training photos: sources and licences", "",
             "Copied from Debian 12 packages by `scripts/fetch_extra_photos.py`; authors and licences from each",
             "package's copyright file. Used only to train GAN Studio's bundled upscalers; not shipped.", "",
             "| file | Debian package | author | licence |", "|---|---|---|---|"]
    lines += [f"| {p.name} | {p.package} | {p.author} | {p.licence} |" for p in photos]
    return "\n".join(lines) + "\n"


def fetch(out: Path, photos: tuple[Photo, ...] = PHOTOS) -> list[Path]:
    """Download, unpack and copy the photos not yet in ``out``; returns the paths of all of them."""
    out.mkdir(parents=True, exist_ok=True)
    missing = [p for p in photos if not (out / p.name).is_file()]
    if missing:
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} not found: this script needs a Debian or Ubuntu system")
        packages = sorted({p.package for p in missing})
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            done = subprocess.run(["apt-get", "download", "-q", *packages], cwd=work,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"apt-get download {' '.join(packages)} failed:\n{done.stderr.strip()}")
            for package in packages:
                debs = sorted(work.glob(f"{package}_*.deb"))
                if not debs:
                    raise SystemExit(f"apt-get did not download {package}")
                subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(work / package)], check=True)
            for p in missing:
                source = work / p.package / p.path
                if not source.is_file():
                    raise SystemExit(f"{p.path} is not in this version of {p.package}")
                partial = out / (p.name + ".part")
                shutil.copyfile(source, partial)
                partial.replace(out / p.name)
    (out / "SOURCES.md").write_text(sources_markdown(photos), encoding="utf-8")
    return [out / p.name for p in photos]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    paths = fetch(args.out)
    print(f"{len(paths)} photos in {args.out} (sources and licences: {args.out / 'SOURCES.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
