"""The simulated hardware: analogue trigger sums, ADC saturation, the noise shared by both."""

from __future__ import annotations

import numpy as np
import pytest

from na64reco.calibration.truth import calibration_from_truth
from na64reco.conditions import get_period
from na64reco.conditions.truth_calibration import true_calibration
from na64reco.reco.calorimeters import reconstruct_calorimeters
from na64reco.sim import hardware
from na64reco.sim.batch import EventBatch
from na64reco.sim.beam import SimContext, electron_event_common
from na64reco.trigger import emulate_trigger


def _saturating_showers(period: str, n: int, ps_gev: float, main_gev: float) -> EventBatch:
    """Beam electrons whose shower puts ``ps_gev`` into the beam cell's PS and ``main_gev`` into
    its main section (a full-energy shower with an extreme PS fraction)."""
    ctx = SimContext(get_period(period))
    batch = EventBatch.empty(n, 1)
    electron_event_common(np.random.default_rng(1), batch, ctx, np.full(n, 100.0))
    bx, by = ctx.geometry.beam_cell
    batch.intime.ecal[:, 0, bx, by] = ps_gev
    batch.intime.ecal[:, 1, bx, by] = main_gev
    return batch


def test_trigger_sums_the_analogue_signal_not_the_clipped_adc():
    """2022: the beam cell's PS saturates its ADC at 21.1 GeV (184 ADC/GeV). A shower with 25 GeV
    in the PS and 67 GeV in the main section (92 GeV) is above the 90 GeV threshold: the hardware
    does not fire, although the clipped digitised sum (what a digital trigger on the ADCs would
    see, and the emulation does) is 21.1 + 67 = 88 GeV; the reconstruction flags the channel."""
    period = "2022"
    p = get_period(period)
    n = 200
    batch = _saturating_showers(period, n, 25.0, 67.0)
    constants = true_calibration(period)
    rng = np.random.default_rng(2)
    decision = hardware.analogue_trigger(rng, batch, p, constants)
    assert not decision.terms["ecal_below"].any()
    assert not decision.fired.any()
    raw = hardware.digitize(rng, batch, constants, decision.noise)
    raw["run"] = np.full(n, p.first_run)
    bx, by = p.geometry.beam_cell
    assert np.all(raw["ecal_amp"][:, 0, bx, by] == constants["ecal"]["saturation"][0, bx, by])
    reco = reconstruct_calorimeters(raw, calibration_from_truth(period))
    assert np.all(reco["ecal_saturated"][:, 0, bx, by])
    assert np.all(reco["n_saturated"] == 1)
    # what the clipped channels sum to: below the threshold, so an emulation fires
    assert np.all(reco["trig_ecal_e"] < p.trigger.ecal_max_gev)
    assert emulate_trigger(reco, p)["ecal_below"].all()


def test_shower_below_the_threshold_fires_whatever_its_ps():
    """The same shower with 10 GeV less in the main section (85 GeV) fires: saturation does not
    enter the decision either way."""
    p = get_period("2022")
    batch = _saturating_showers("2022", 200, 25.0, 60.0)
    decision = hardware.analogue_trigger(
        np.random.default_rng(3), batch, p, true_calibration("2022")
    )
    assert decision.terms["ecal_below"].all()
    assert decision.terms["ps_above"].all()


def test_digitisation_clips_at_each_channels_saturation():
    """The clip is the channel's ``saturation`` (ChannelElectronics.saturation_adc), not a
    literal: lowered for the PS, the PS amplitudes stop there."""
    period = "2016"
    constants = dict(true_calibration(period))
    ecal = dict(constants["ecal"])
    sat = np.array(ecal["saturation"])
    sat[0] = 1500.0
    ecal["saturation"] = sat
    constants["ecal"] = ecal
    batch = _saturating_showers(period, 50, 10.0, 80.0)
    rng = np.random.default_rng(4)
    noise = hardware.unconditioned_noise(rng, 50, constants)
    raw = hardware.digitize(rng, batch, constants, noise)
    bx, by = get_period(period).geometry.beam_cell
    assert np.all(raw["ecal_amp"][:, 0] <= 1500.0)
    assert np.all(raw["ecal_amp"][:, 0, bx, by] == 1500.0)
    assert raw["ecal_amp"][:, 1, bx, by].max() > 1500.0  # the main section keeps 4095


@pytest.mark.parametrize("period", ["2016", "2022"])
def test_adc_noise_is_the_noise_of_the_analogue_sums(period):
    """The digitised channels carry the noise realisation the trigger summed: sum over usable
    channels of (amp - pedestal) / gain equals the analogue PS and main-section noise of each
    event (events without deposits), up to the 1/8-ADC quantisation."""
    n = 2000
    batch = EventBatch.empty(n, 0)
    constants = true_calibration(period)
    rng = np.random.default_rng(5)
    decision = hardware.analogue_trigger(rng, batch, get_period(period), constants)
    raw = hardware.digitize(rng, batch, constants, decision.noise)
    c = constants["ecal"]
    w = hardware.sum_weights(c)
    e = (raw["ecal_amp"] - c["pedestal"]) * w
    # quantisation: uniform +-1/16 ADC per channel, i.e. sqrt(sum w^2) / sqrt(12) / 8 per sum
    for sec, s_noise in ((0, decision.noise.ps), (1, decision.noise.main)):
        q = np.sqrt((w[sec] ** 2).sum()) * hardware.AMPLITUDE_QUANTUM_ADC / np.sqrt(12)
        diff = e[:, sec].sum(axis=(1, 2)) - s_noise
        assert np.sqrt(np.mean(diff**2)) < 1.3 * q
        assert np.abs(diff).max() < 6 * q
    sig = hardware.sum_noise_sigmas(constants)
    assert np.std(decision.noise.ps) == pytest.approx(sig["ps"], rel=0.05)
    # the bridged channels keep their own noise
    per_channel = raw["ecal_amp"][:, 1].std(axis=0)[c["status"][1] != 3]
    np.testing.assert_allclose(per_channel, c["noise"][1][c["status"][1] != 3], rtol=0.1)
