"""A timbre reference that is not the clip's own audio: each held-out chunk paired with another scene's chunk
whose characters have the same footstep materials.

A chunk's own CLAP embedding carries that chunk's audio, level included. A sound designer voicing a silent
video brings a recording of the wanted material instead; :func:`same_material_pairs` stands for that: for each
chunk (in key order) the next chunk, cyclically, of another scene whose present characters have the same
material set (where no other scene has it: the one sharing the most materials, counted in the summary).
:func:`write_swapped_shards` writes a copy of the shards where every chunk carries its partner's ``clap`` member
and nothing else changes (audio, envelope, events: the chunk's own, so every metric still scores against the
chunk itself).

Scripts in ``experiments/`` import it by name (``from clap_pairs import ...``). As a command it writes such a
copy of any shard folder, e.g. training shards, for a CLAP-reading envelope predictor that learns from a
reference recording of the materials rather than from the chunk's own audio::

    python experiments/clap_pairs.py data/synthetic-16k-envelope-clap/train/shards \
        data/synthetic-16k-envelope-clap-swapped/train/shards
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np


def material_set(meta: dict, box_mask: np.ndarray) -> tuple[str, ...]:
    """Sorted materials of the characters present in a chunk (a box in any of its frames)."""
    present = np.flatnonzero(np.asarray(box_mask).any(0))
    return tuple(sorted(meta["materials"][k] for k in present if k < len(meta["materials"])))


def same_material_pairs(chunks: list[tuple[str, str, tuple[str, ...]]]) -> dict[str, tuple[str, bool]]:
    """(key, scene, material set) per chunk → {key: (the partner chunk's key, same material set)}.

    The partner is the next chunk in key order (cyclically) of another scene with the same material set; where no
    other scene has that set, the next chunk of another scene that shares the most of its materials (then
    ``False``).
    """
    order = sorted(chunks)
    out = {}
    for i, (key, scene, materials) in enumerate(order):
        best, overlap = None, -1
        for j in range(1, len(order)):
            other_key, other_scene, other_materials = order[(i + j) % len(order)]
            if other_scene == scene:
                continue
            if other_materials == materials:
                best, overlap = other_key, len(materials) + 1
                break
            shared = len(set(materials) & set(other_materials))
            if shared > overlap:
                best, overlap = other_key, shared
        if best is not None:
            out[key] = (best, overlap == len(materials) + 1)
    return out


def write_swapped_shards(src: Path, dst: Path) -> dict:
    """Copy the shards of folder ``src`` to ``dst`` with each chunk's ``clap`` replaced by its same-material
    partner's. Returns a summary (chunks, material sets, how many partners have the same set, the pairs)."""
    import webdataset as wds

    tars = sorted(Path(src).glob("*.tar"))
    if not tars:
        raise FileNotFoundError(f"{src}: no shards")
    raws = {tar: list(wds.WebDataset(str(tar), shardshuffle=False)) for tar in tars}
    chunks, claps = [], {}
    for samples in raws.values():
        for raw in samples:
            where = f"{raw['__url__']}: sample {raw['__key__']}"
            missing = [m for m in ("json", "box_mask.npy", "clap.npy") if m not in raw]
            if missing:
                raise ValueError(f"{where}: no {', '.join(missing)} member")
            meta = json.loads(raw["json"])
            if meta.get("clap") == "none":
                raise ValueError(f"{where}: the chunk stores no CLAP embedding (json clap: none)")
            if "materials" not in meta:
                raise ValueError(f"{where}: its json names no footstep materials (not a synthetic scene)")
            box_mask = np.load(io.BytesIO(raw["box_mask.npy"]))
            chunks.append((raw["__key__"], meta["source"], material_set(meta, box_mask)))
            claps[raw["__key__"]] = raw["clap.npy"]
    pairs = same_material_pairs(chunks)
    if len(pairs) < len(chunks):
        raise ValueError(f"{src}: the chunks come from one scene, so none has a partner")
    dst.mkdir(parents=True, exist_ok=True)
    for tar, samples in raws.items():
        with wds.TarWriter(str(dst / tar.name)) as sink:
            for raw in samples:
                keep = {k: v for k, v in raw.items() if k not in ("__url__", "__local_path__")}
                sink.write(keep | {"clap.npy": claps[pairs[raw["__key__"]][0]]})
    sets = {m for _, _, m in chunks}
    same = sum(exact for _, exact in pairs.values())
    summary = {"chunks": len(chunks), "material_sets": len(sets), "same_materials": same, "pairs": pairs}
    (dst / "pairs.json").write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python experiments/clap_pairs.py",
        description="Copy a shard folder with each chunk's CLAP embedding replaced by that of another scene's chunk "
        "with the same footstep materials (the pairs go to DST/pairs.json).",
    )
    p.add_argument("src", type=Path, help="folder of .tar shards written with CLAP embeddings")
    p.add_argument("dst", type=Path, help="folder for the copy")
    a = p.parse_args(argv)
    if a.dst.resolve() == a.src.resolve():
        p.error(f"{a.dst}: the copy would overwrite its source")
    try:
        s = write_swapped_shards(a.src, a.dst)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"wrote {a.dst}: {s['chunks']} chunks, {s['material_sets']} material sets, "
        f"{s['same_materials']} partners with the same materials"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
