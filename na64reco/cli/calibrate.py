"""``na64 calibrate`` and ``na64 inspect``: constants from calibration runs; what a file holds."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import main


@main.command()
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--verify-checksums/--no-verify-checksums",
    default=True,
    show_default=True,
    help="Check every file of a manifest against its sha256, entries, run range and period.",
)
def inspect(target: Path, verify_checksums: bool) -> None:
    """Validate a fileset manifest (or one ROOT file) and summarise its content.

    Prints per file: kind, period, runs, events per trigger type, EOT; then totals.
    """
    from na64reco.inspect import inspect_target

    click.echo(inspect_target(target, verify_checksums=verify_checksums))


@main.command()
@click.argument("fileset", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output calibration file (correctionlib JSON), e.g. calib/NAME.json.",
)
@click.option("--name", help="Calibration name [default: the output file's stem].")
@click.option("--version", "version", type=int, default=1, show_default=True, help="Version.")
def calibrate(fileset: Path, out: Path, name: str | None, version: int) -> None:
    """Derive pedestals, gains, t0 and channel flags from a fileset's calibration runs.

    Uses random triggers (pedestals, noise), ecal-scan runs (ECAL and SRD gains) and muon runs
    (HCAL, VETO, counter gains) of every period in FILESET, and writes one correctionlib file
    with one calibration set per period. Prints the flagged channels and failed fits.

    \b
    Example:
      na64 calibrate data_samples/fileset.json --out calib/na64sim-2016-2022.json
    """
    from na64reco.calib.derive import calibrate_fileset
    from na64reco.calibration.io import write_calibration
    from na64reco.fileset import load_fileset
    from na64reco.pipeline.chain import validate_calibration_inputs
    from na64reco.run import RunOptions

    fs = load_fileset(fileset)
    validate_calibration_inputs(fs, RunOptions())  # sha256, entries, runs, periods first
    sets = calibrate_fileset(fs, name=name or out.stem, version=version)
    write_calibration(out, sets, version=version)
    for cset in sets:
        flags = cset.provenance["flags"]
        summary = ", ".join(
            f"{det} " + "/".join(f"{n} {k}" for k, n in counts.items() if n)
            for det, counts in flags.items()
            if any(counts.values())
        )
        click.echo(
            f"{cset.name} v{cset.version}: period {cset.period}, runs {cset.run_min}-"
            f"{cset.run_max}; flagged: {summary or 'none'}"
        )
        for item in cset.provenance["report"]:
            click.echo(
                f"  {item['channel']}: {item['constant']}: {item['problem']} ({item['action']})"
            )
    click.echo(f"wrote {out}")
