"""``na64 limit``: 90% CL limits of a model from limit inputs."""

from __future__ import annotations

from pathlib import Path

import click

from na64reco.cli.group import LazyChoice, command_line, logger, main, out_folder_option


def _limit_models() -> tuple[str, ...]:
    from na64reco.limits.models import MODELS

    return tuple(MODELS)


def _cross_section(cross_section: str | None, k_factor: bool | None) -> str:
    """--cross-section, or the former --k-factor/--no-k-factor switch (not both, unless they
    agree)."""
    from na64reco.limits.scan import resolve_cross_section

    try:
        return resolve_cross_section(cross_section, k_factor)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cross-section/--no-k-factor") from None


@main.command()
@click.argument("limit_inputs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--model",
    required=True,
    type=LazyChoice(_limit_models),
    help="Model whose coupling is limited.",
)
@out_folder_option("Output folder: limit_<model>.json and PNG plots.")
@click.option("--masses", help="Comma-separated masses in GeV, e.g. 0.001,0.01,0.1.")
@click.option("--mass-grid", metavar="LO:HI:N", help="N log-spaced masses in GeV from LO to HI.")
@click.option(
    "--n-masses",
    type=int,
    default=50,
    show_default=True,
    help="Without --masses/--mass-grid: N log-spaced masses over the efficiency tables.",
)
@click.option("--alpha-d", type=float, help="Dark coupling alpha_D (zprime_dark, aprime).")
@click.option("--mass-ratio", type=float, help="m_X / m_chi (zprime_dark, aprime).")
@click.option(
    "--method",
    type=click.Choice(["auto", "exact", "hybrid", "toys", "asymptotic"]),
    default="auto",
    show_default=True,
    help="CLs calculator: auto = exact without uncertainties, else hybrid (Cousins-Highland); "
    "toys = profile-likelihood q~_mu pseudo-experiments; asymptotic = pyhf cross-check only.",
)
@click.option("--toys", type=int, default=2000, show_default=True, help="Pseudo-experiments.")
@click.option("--seed", type=int, default=20170101, show_default=True, help="Toy random seed.")
@click.option(
    "--yield-unc",
    type=float,
    help="Relative signal-yield uncertainty common to all periods "
    "[default: the inputs' provenance signal_yield_rel_unc, else 0].",
)
@click.option(
    "--cross-section",
    type=click.Choice(["etl", "iww", "iww-k"]),
    default=None,
    help="Emission cross sections: exact tree level [default], the improved "
    "Weizsaecker-Williams approximation (paper 002's treatment), or IWW divided by the "
    "published K-factor (the former default).",
)
@click.option(
    "--k-factor/--no-k-factor",
    default=None,
    help="The former switch: --k-factor is --cross-section etl, --no-k-factor is iww.",
)
@click.option(
    "--pyhf-workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write one pyhf JSON workspace per mass point (and index.json) into this folder.",
)
@click.option("--no-plots", is_flag=True, help="Write the JSON only.")
def limit(
    limit_inputs,
    model,
    out_dir,
    masses,
    mass_grid,
    n_masses,
    alpha_d,
    mass_ratio,
    method,
    toys,
    seed,
    yield_unc,
    cross_section,
    k_factor,
    pyhf_workspace,
    no_plots,
) -> None:
    """90% CL CLs limits on a model's coupling versus mass from a limit_inputs.json.

    \b
    Examples:
      na64 limit na64reco/limits/published/paper002.json --model aprime --out DIR
      na64 limit inputs.json --model zprime_dark --alpha-d 0.1 --mass-ratio 3 \\
          --mass-grid 0.001:1:50 --out DIR
      na64 limit inputs.json --model aprime --masses 0.001,0.01,0.1 --out DIR \\
          --pyhf-workspace DIR/workspaces

    Writes DIR/limit_<model>.json (expected band and, when unblinded, observed limits on the
    number of signal events and on the coupling, the inputs summary, provenance and the
    blinding status) and DIR/limit_<model>.png (plus delta_a_<model>.png for S, P, V, A).
    """
    from na64reco.limit_inputs import load_limit_inputs
    from na64reco.limits.scan import parse_masses
    from na64reco.pipeline.limits import limit_document, write_limit

    try:
        mass_list = parse_masses(masses, mass_grid)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--masses/--mass-grid") from None
    doc = limit_document(
        load_limit_inputs(limit_inputs),
        model,
        source=limit_inputs,
        masses=mass_list,
        n_masses=n_masses,
        method=method,
        ntoys=toys,
        seed=seed,
        yield_unc=yield_unc,
        alpha_d=alpha_d,
        mass_ratio=mass_ratio,
        cross_section=_cross_section(cross_section, k_factor),
        command=command_line(),
        pyhf_workspace=pyhf_workspace,
    )
    written = write_limit(doc, out_dir, plots=not no_plots)
    logger.info("wrote %s (%.1f s)", ", ".join(map(str, written)), doc["seconds"])
