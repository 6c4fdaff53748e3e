"""Smoke test of ``experiments/ablation.py``: one row, a few steps, tiny data — the whole path runs, with the CFG
sweep, the scene bootstrap and the event breakdown on its run (``experiments/`` is on the tests' import path)."""

from __future__ import annotations

import csv
import json
import math

import ablation
import cfg_sweep
import event_breakdown
import runlib
import scene_bootstrap


def test_rows_train_side_by_side_test_and_tabulate(tmp_path):
    bench = ablation
    table = tmp_path / "table.md"
    argv = (
        [
            "--rows", "no_spatial", "no_depth",
            "--jobs", "2",  # the two runs side by side in spawned processes
            "--seeds", "3",
            "--steps", "2",
            "--fad", "false",
            "--data-root", str(tmp_path / "data"),
            "--train-scenes", "2",
            "--test-scenes", "1",
            "--num-workers", "1",  # loader workers inside the spawned run processes
            "--out", str(tmp_path / "runs"),
            "--table", str(table),
            "--extra", "--model.sampler.steps=3", "--data.synthetic.val_scenes=1", "--data.batch_size=3",
            "--data.steps_per_epoch=2", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
            "--trainer.callbacks+=callbacks.test_writer.TestOutputWriter",  # per-clip counts: the activity column
        ]
    )  # fmt: skip
    results = bench.main(argv)
    assert set(results) == {
        "no_spatial",
        "no_depth",
        "ground truth",
        "always centre (mono downmix)",
        "channels swapped",
    }
    assert results["no_depth"][0]["steps"] == 2 and (tmp_path / "runs" / "no_depth-seed3" / "result.json").is_file()
    run = results["no_spatial"][0]
    assert run["steps"] == 2 and 0.0 <= run["spatial_av_align"] <= 1.0 and run["e_l1"] >= 0.0
    # active frames over the reference's, from the test writer's per-clip counts of this run
    clips = next((tmp_path / "runs" / "no_spatial-seed3").glob("version_*/test/clips_*.csv"))
    rows = list(csv.DictReader(clips.open()))
    gen = sum(int(r["spatial_tp"]) + int(r["spatial_fn"]) for r in rows)
    ref = sum(int(r["spatial_tp_reference"]) + int(r["spatial_fn_reference"]) for r in rows)
    assert ref > 0 and run["activity"] == gen / ref
    # experiments/event_breakdown.py re-localises the written wavs: the same event counts, split by reference activity
    breakdown = event_breakdown.main(
        [str(tmp_path / "runs" / "no_spatial-seed3"), "--shards", str(tmp_path / "data" / "test" / "shards")]
    )
    assert breakdown["reference active"][1] + breakdown["reference quiet"][1] == gen
    assert breakdown["one character"][1] + breakdown["two characters"][1] == gen
    assert breakdown["reference events"][1] == ref
    truth, centre = results["ground truth"][0], results["always centre (mono downmix)"][0]
    # its placement split re-derives the metric's pan MAE of the reference audio (one event per frame)
    assert math.isclose(breakdown["placement MAE, reference"], truth["pan_mae"], rel_tol=1e-3)  # wav round trip
    # experiments/ablation.py --bootstrap: the point estimates are the metric's own values, inside their intervals
    boot = scene_bootstrap.bootstrap([tmp_path / "runs" / "no_spatial-seed3"], resamples=200)
    assert math.isclose(boot["model"], run["spatial_av_align"], rel_tol=1e-6)
    assert math.isclose(boot["ground_truth"], truth["spatial_av_align"], rel_tol=1e-6)
    assert boot["ratio_lo"] <= boot["ratio"] <= boot["ratio_hi"] and boot["scenes"] == 1
    # independent expectations: the reference audio matches its own envelope exactly and follows the boxes
    assert truth["e_l1"] == 0.0 and truth["activity"] == 1.0
    assert truth["spatial_av_align"] > centre["spatial_av_align"]
    assert math.isclose(centre["e_l1"], 0.0, abs_tol=1e-6)  # mono downmix keeps the mono envelope
    text = table.read_text()
    assert "| no_spatial | 1 |" in text and "| ground truth |" in text and "Spatial AV-Align" in text

    # --reuse reads a finished run of the same recipe instead of training it again; another recipe retrains
    one_row = ["--reuse", "--rows", "no_spatial", *argv[3:]]
    again = bench.main(one_row)
    assert again["no_spatial"] == results["no_spatial"]
    recipe = json.loads((tmp_path / "runs" / "no_spatial-seed3" / "result.json").read_text())["recipe"]
    assert recipe["args"][-1] == "--trainer.callbacks+=callbacks.test_writer.TestOutputWriter"
    one_row[one_row.index("--steps") + 1] = "3"
    one_row[one_row.index("--trainer.enable_checkpointing=false")] = "--trainer.enable_checkpointing=true"
    one_row += ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint"]
    one_row += ["--trainer.callbacks.save_last=true"]  # init argument of the callback appended last
    other = bench.main(one_row)
    assert other["no_spatial"][0]["steps"] == 3 and other["no_spatial"][0]["fit_s"] != results["no_spatial"][0]["fit_s"]

    # --retest: the trained checkpoint tested again (here at another CFG scale), no training; the activity column
    # reads the new test's counts only
    retested = bench.main(["--retest", "--cfg-scale", "1.5", *one_row[1:]])["no_spatial"][0]
    assert retested["retested"] == 1.0 and retested["fit_s"] == other["no_spatial"][0]["fit_s"]
    run_dir = tmp_path / "runs" / "no_spatial-seed3"
    newest = runlib.versions(run_dir)[-1]
    assert runlib.last_checkpoint(run_dir).parents[1] == runlib.versions(run_dir)[-2]  # trained, then tested
    rows = list(csv.DictReader(next(newest.glob("test/clips_*.csv")).open()))
    gen = sum(int(r["spatial_tp"]) + int(r["spatial_fn"]) for r in rows)
    ref = sum(int(r["spatial_tp_reference"]) + int(r["spatial_fn_reference"]) for r in rows)
    assert retested["activity"] == gen / ref

    # experiments/ablation.py --cfg-sweep: the run at two CFG scales on validation scenes of their own, and their truth
    out = tmp_path / "sweep"
    argv = [str(run_dir), "--scales", "1", "3", "--val-scenes", "1", "--data-root", str(tmp_path / "val"), "--out"]
    before = sorted(p.name for p in run_dir.iterdir())
    results = ablation.main(["--cfg-sweep", *argv, str(out)])
    assert sorted(results) == [(1.0, None, None, None), (3.0, None, None, None)]
    assert all(len(r) == 1 for r in results.values())
    assert sorted(p.name for p in run_dir.iterdir()) == before  # the run folder is only read
    assert all(math.isfinite(rows[0]["activity"]) for rows in results.values())  # from the re-test's own clips
    assert all(0.0 <= rows[0]["spatial_av_align"] <= 1.0 for rows in results.values())
    assert (tmp_path / "val" / "val" / "shards").is_dir() and not (tmp_path / "val" / "test").exists()
    text = (out / "cfg_sweep.md").read_text()
    assert "| 1 | run's | run's | run's | 1 |" in text and "| 3 | run's | run's | run's | 1 |" in text
    assert "best setting on 1 validation scenes" in text
    truth = json.loads((out / "cfg_sweep.json").read_text())["ground truth"]
    assert truth["e_l1"] == 0.0 and truth["spatial_av_align"] > 0.5  # the validation audio against itself
    # the same sweep over sampler steps, guidance and sampler: each setting reaches the re-test's own configuration
    grid = ["--scales", "3", "--sampler-steps", "2", "--guidance", "spatial", "--samplers", "dpmpp-2m"]
    results = ablation.main(["--cfg-sweep", *argv, str(out), *grid])
    assert list(results) == [(3.0, 2, "spatial", "dpmpp-2m")]
    shards = str(tmp_path / "val" / "val" / "shards")
    sampler = cfg_sweep.build_cli(
        cfg_sweep.parser().parse_args(argv + [str(out)]), run_dir, out, (3.0, 2, "spatial", "dpmpp-2m"), shards
    ).model.sampler
    assert (sampler.steps, sampler.guidance, sampler.cfg_scale, sampler.sampler_type) == (2, "spatial", 3.0, "dpmpp-2m")


def test_a_failed_run_is_reported_and_loses_nothing_else():
    bench = ablation
    failed = bench._outcome(lambda: 1 / 0, "full", 0)
    assert failed == {"error": "ZeroDivisionError: division by zero"}
    text = bench.table(
        {"full": [failed], "no_spatial": [{"spatial_av_align": 0.5, "fit_s": 60.0}, {"error": "OSError: disk"}]}
    )
    assert "| full | failed: ZeroDivisionError: division by zero |" in text
    assert "| no_spatial | 1 | 0.500 |" in text  # the seed that ran is kept, the failed one is not averaged


def test_memo_embedder_embeds_each_distinct_clip_once():
    """The reference rows' FAD embedder: the real CLAP audio branch (random weights), each distinct clip once."""
    import torch

    from stereosync.clap import ClapAudioEncoder

    bench = ablation
    torch.manual_seed(0)
    clap = ClapAudioEncoder(None)
    memo = bench.MemoEmbedder(clap)
    audio = torch.randn(2, 2, 16000, generator=torch.Generator().manual_seed(0)) * 0.1
    batch = torch.cat([audio, audio[:1]])  # a repeat inside one batch
    out = memo(batch, 16000)
    assert (memo.embedded, memo.calls) == (2, 3)
    torch.testing.assert_close(out, clap(batch, 16000), rtol=1e-4, atol=1e-5)
    again = memo(audio.flip(0), 16000)  # the same clips in another order: answered from memory
    assert (memo.embedded, memo.calls) == (2, 5)
    torch.testing.assert_close(again, out[:2].flip(0))
    memo(audio, 8000)  # another sample rate is another input
    assert memo.embedded == 4
    assert (memo.name, memo.sample_rate, memo.dim, memo.channel_handling) == (clap.name, 48000, clap.dim, "mono")
