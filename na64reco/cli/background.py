"""``na64 background``: the background and exposure from blinded invisible-mode outputs."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import calibration_option, main


def _signal_fileset(path: Path) -> Path:
    """A manifest, or a folder holding one (``fileset.json``)."""
    manifest = path / "fileset.json" if path.is_dir() else path
    if not manifest.is_file():
        raise click.BadParameter(f"{path}: no fileset manifest there", param_hint="--signal")
    return manifest


@main.command()
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="background.json (a Markdown table is written next to it, same name with .md).",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the sideband-fit plots (default: background_plots next to --out).",
)
@click.option(
    "--signal",
    "--signal-dir",
    "signal",
    type=click.Path(exists=True, path_type=Path),
    help="Fileset manifest (or a folder with fileset.json) of simulated signal samples: "
    "their factorised efficiencies.",
)
@calibration_option("Constants for the signal samples [default: the shipped ones].")
@click.option(
    "--limit-inputs",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write limit_inputs.json (needs --signal).",
)
@click.option(
    "--dimuon-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="'na64 run --analysis dimuon' output on the data: the dimuon cross-check.",
)
@click.option(
    "--dimuon-reference",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="'na64 run --analysis dimuon' output on a simulated physics sample (the prediction).",
)
@click.option(
    "--no-closure", is_flag=True, help="Skip the simulated ABCD closure factor (k = 1 +- 1)."
)
@click.option(
    "--closure-eot",
    type=float,
    help="EOT of the truth-level sample giving the ABCD closure factor [default: 2e9].",
)
@click.pass_context
def background(
    ctx,
    run_dirs: tuple[Path, ...],
    out: Path,
    plots_dir: Path | None,
    signal: Path | None,
    calibration: Path | None,
    limit_inputs: Path | None,
    dimuon_dir: Path | None,
    dimuon_reference: Path | None,
    no_closure: bool,
    closure_eot: float | None,
) -> None:
    """Background in the signal box and normalisation from blinded invisible-mode outputs.

    Per run period: exponential sideband fit (E_HCAL below the box's HCAL edge, E_ECAL from the
    box edge to the trigger threshold less three ECAL resolutions there: the turn-on and the
    full-energy electron tail stay out) extrapolated into the box, with stat (fit covariance)
    and syst (spread of alternative functions and ranges); ABCD (regions A, C, D) with an MC
    closure factor; MC components; EOT from the prescaled beam trigger. Never reads the box
    content.
    """
    from na64reco.background.build import CLOSURE_EOT, build_background, load_run_output
    from na64reco.run import RunOptions, run_signal_efficiency
    from na64reco.run.options import ExecutorOptions

    if limit_inputs is not None and signal is None:
        raise click.UsageError("--limit-inputs needs --signal (the signal samples' efficiencies)")
    if dimuon_dir is not None and dimuon_reference is None:
        raise click.UsageError("--dimuon-dir needs --dimuon-reference")
    efficiencies = None
    if signal is not None:
        cutset = load_run_output(run_dirs[0]).cutset
        options = RunOptions(
            execution=ExecutorOptions(quiet=ctx.obj["quiet"]), calibration=calibration
        )
        efficiencies = run_signal_efficiency(_signal_fileset(signal), cutset, options)["rows"]
    doc = build_background(
        list(run_dirs),
        out,
        plots_dir=plots_dir,
        efficiencies=efficiencies,
        limit_inputs=limit_inputs,
        dimuon_dir=dimuon_dir,
        dimuon_reference=dimuon_reference,
        closure=not no_closure,
        closure_eot=CLOSURE_EOT if closure_eot is None else closure_eot,
    )
    for r in doc["periods"]:
        t = r["total"]
        click.echo(
            f"{r['period']}: EOT(live) {r['eot']['eot_live']:.3g}, background "
            f"{t['expected']:.3g} +- {t['stat']:.2g} (stat) +- {t['syst']:.2g} (syst) "
            f"[{t['method']}]"
        )
    click.echo(f"wrote {out}" + (f" and {limit_inputs}" if limit_inputs else ""))
