"""Does fine-tuning help? Un-tuned vs fine-tuned encoders on the artist-disjoint test split, with the MFCC baseline.

For every `--encoder` (default: the pretrained MusiCNN and the small random MuQ): embed the corpus, fine-tune
the triplet head on the corpus' triplets (`museed train`, the same code path for both), embed again with the
exported checkpoint; then score every vector set on the test split alone (`evaluation.test_split`): genre k-NN
accuracy among other artists' tracks and ground-truth mood k-NN accuracy, with fine-tuned minus un-tuned as a
paired 95 % bootstrap interval over the test queries, and the MFCC baseline beside them. Every stage resumes
(vector sets, training runs), so an interrupted run continues where it stopped.

    museed synth --out /tmp/issue16/fma2000 --tracks 2000 --seconds 10 --seed 0
    python -m benchmarks.finetune --fma /tmp/issue16/fma2000 --work /tmp/issue16/work2000 \\
        --out docs/benchmarks/finetune-2000.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import torch
import typer

from benchmarks.common import Command, Machine, write_json

app = typer.Typer(add_completion=False)
HEADLINES = (("genre", "knn_accuracy_other_artists"), ("mood_style_truth", "knn_accuracy"))


def _slug(spec: str) -> str:
    return spec.replace(":", "-").replace("/", "-")


def _log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def prepare(fma: Path, work: Path, n_triplets: int, seed: int) -> tuple[Path, Path]:
    """Tags (the corpus' own tagger) and triplets, each made once."""
    from museed.tags import TAGS_FILE
    from orchestration.stages import run_triplets
    from tagging import run_tag

    tags, triplets = work / "tags" / TAGS_FILE, work / "triplets" / "triplets.parquet"
    if not tags.exists():
        _log("tagging")
        run_tag(fma, tags, tagger="auto")
    if not triplets.exists():
        _log("triplets")
        run_triplets(fma, tags, triplets, n=n_triplets, seed=seed)
    return tags, triplets


def tune_encoder(
    fma: Path, work: Path, triplets: Path, spec: str, epochs: int | None, unfreeze: str
) -> tuple[Path, Path]:
    """(un-tuned vector set, fine-tuned vector set) of `spec`: embed, train, re-embed; each step resumes."""
    from museed.settings import get_settings
    from orchestration.stages import run_embed, run_train
    from training.config import config_for_encoder

    settings = get_settings()
    root = work / _slug(spec)
    base, tuned, run_dir = root / "vectors", root / "vectors-finetuned", root / "train"
    t0 = time.perf_counter()
    rep = run_embed(fma, base, settings, encoder_spec=spec)
    _log(f"{spec}: embedded {rep.done} tracks ({rep.skipped} already) in {time.perf_counter() - t0:.0f} s")
    encoder_dir = run_dir / "encoder"
    if not (encoder_dir / "museed_encoder.json").exists():
        t0 = time.perf_counter()
        config = config_for_encoder(spec)
        overrides: dict[str, Any] = {"encoder": spec, "unfreeze": unfreeze}
        if epochs is not None:
            overrides["epochs"] = epochs
        trained = run_train(fma, triplets, run_dir, config=config, overrides=overrides, resume=run_dir.exists())
        encoder_dir = trained.encoder_dir
        _log(f"{spec}: fine-tuned in {time.perf_counter() - t0:.0f} s; " + "; ".join(trained.summary_lines()[:2]))
    t0 = time.perf_counter()
    rep = run_embed(fma, tuned, settings, encoder_spec=str(encoder_dir))
    _log(f"{spec}: re-embedded {rep.done} tracks ({rep.skipped} already) in {time.perf_counter() - t0:.0f} s")
    return base, tuned


def training_facts(run_dir: Path) -> dict[str, Any]:
    """What the run chose on its validation artists: config, best epoch, before/after validation metrics."""
    from museed.rundir import CONFIG_JSON, SUMMARY_JSON

    summary = json.loads((run_dir / SUMMARY_JSON).read_text())
    keep = ("best_epoch", "epochs", "stopped_early", "select_metric", "before", "after", "train_triplets")
    config = json.loads((run_dir / CONFIG_JSON).read_text())
    return {**{k: summary.get(k) for k in keep}, "config": config}


def score(fma: Path, work: Path, tags: Path, pairs: dict[str, tuple[Path, Path]], seed: int) -> dict[str, Any]:
    """Test-split figures of every set, fine-tuned minus un-tuned per encoder, and the MFCC baseline."""
    from evaluation.inputs import EvaluationConfig, load_inputs, mfcc_set
    from evaluation.test_split import paired, score_split, split_mask, truth_label_sets

    cfg = EvaluationConfig(seed=seed, baseline="mfcc")
    names = {}
    paths: list[Path] = []
    for spec, (base, tuned) in pairs.items():
        names[spec] = (base.parent.name + "/" + base.name, tuned.parent.name + "/" + tuned.name)
        paths += [base, tuned]
    inputs = load_inputs(paths[0], paths[1:], tags, fma)
    for s, path in zip(inputs.sets, paths, strict=True):
        s.name = path.parent.name + "/" + path.name  # load_sets names by directory; two encoders share names
    inputs.sets.append(mfcc_set(inputs, work, cfg, None, _log, None))
    labels = truth_label_sets(inputs, fma)
    mask = split_mask(inputs, "test")
    results, per_query = score_split(inputs.sets, labels, inputs, mask, cfg)
    out: dict[str, Any] = {"test_tracks": int(mask.sum()), "tracks": len(inputs.ids), "encoders": {}}
    for spec, (base_name, tuned_name) in names.items():
        entry: dict[str, Any] = {"untuned": base_name, "finetuned": tuned_name, "encoder_ids": {}}
        for s in inputs.sets:
            if s.name in (base_name, tuned_name):
                entry["encoder_ids"][s.name] = s.manifest.encoder_id
        for label, metric in HEADLINES:
            if label not in labels:
                continue
            entry[f"{label}/{metric}"] = {
                "untuned": results[base_name][label][metric],
                "finetuned": results[tuned_name][label][metric],
                "finetuned_minus_untuned": paired(per_query, base_name, tuned_name, label, metric, cfg),
                "finetuned_minus_mfcc": paired(per_query, "baseline-mfcc", tuned_name, label, metric, cfg),
            }
        out["encoders"][spec] = entry
    out["mfcc"] = {f"{label}/{metric}": results["baseline-mfcc"][label][metric] for label, metric in HEADLINES}
    return out


def summary_lines(result: dict[str, Any]) -> list[str]:
    """One line per encoder and headline metric (percentage points)."""
    lines = [f"test split: {result['test_tracks']} of {result['tracks']} tracks"]
    for spec, entry in result["encoders"].items():
        for key, fig in entry.items():
            if "/" not in key or not isinstance(fig, dict) or "untuned" not in fig:
                continue
            d, m = fig["finetuned_minus_untuned"], fig["finetuned_minus_mfcc"]
            lines.append(
                f"{spec:10s} {key:40s} un-tuned {fig['untuned']['value']:.3f} -> fine-tuned "
                f"{fig['finetuned']['value']:.3f}: {100 * d['diff']:+.1f} pp [{100 * d['ci'][0]:+.1f}, "
                f"{100 * d['ci'][1]:+.1f}]; vs MFCC {100 * m['diff']:+.1f} pp [{100 * m['ci'][0]:+.1f}, "
                f"{100 * m['ci'][1]:+.1f}]"
            )
    for key, fig in result["mfcc"].items():
        lines.append(f"{'mfcc':10s} {key:40s} {fig['value']:.3f} {fig['ci']}")
    return lines


@app.command(cls=Command, help=__doc__)
def main(
    fma: Annotated[Path, typer.Option("--fma", help="a `museed synth` corpus")],
    work: Annotated[Path, typer.Option("--work", help="vector sets, runs and tags (resumable)")],
    out: Annotated[Path | None, typer.Option("--out", help="write the figures as JSON here")] = None,
    encoders: Annotated[list[str] | None, typer.Option("--encoder", help="encoder specs")] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="override the config's epochs")] = None,
    unfreeze: Annotated[str, typer.Option("--unfreeze", help="head | top:K | all")] = "head",
    triplets_n: Annotated[int, typer.Option("--triplets", help="triplets to mine")] = 3000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    threads: Annotated[int, typer.Option("--threads")] = 2,
) -> None:
    """Embed, fine-tune, re-embed and score each encoder; print and optionally write the figures."""
    torch.set_num_threads(threads)
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    tags, triplets = prepare(fma, work, triplets_n, seed)
    pairs = {
        spec: tune_encoder(fma, work, triplets, spec, epochs, unfreeze) for spec in encoders or ["musicnn", "small:0"]
    }
    result = score(fma, work, tags, pairs, seed)
    for spec in pairs:
        result["encoders"][spec]["training"] = training_facts(work / _slug(spec) / "train")
    machine = Machine.now()
    result.update(
        fma=str(fma), epochs=epochs, unfreeze=unfreeze, triplets=triplets_n, seed=seed, threads=threads,
        wall_seconds=round(time.perf_counter() - started, 1), load_average_1min=round(machine.load[0], 2),
    )  # fmt: skip
    for line in summary_lines(result):
        print(line)
    if out is not None:
        write_json(out, result)
    else:
        print(json.dumps(result, indent=1, default=str)[:2000])


if __name__ == "__main__":
    app()
