"""`groupcost calibrate --check MODEL...`: models measured and set beside a profile's prediction, with
the distribution of the errors, so that a profile is trusted only as far as it has been checked."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from groupcost.graph.analysis import analyze
from groupcost.graph.network import Network
from groupcost.run.beside import where_profiled
from groupcost.run.measure import REFERENCE, Session, measure, reference_seconds
from groupcost.run.roofline import Device, report_seconds


@dataclass(frozen=True)
class Checked:
    """One model: predicted and measured (lower median of the runs) seconds."""

    label: str
    predicted: float
    measured: float

    @property
    def error(self) -> float:
        """(predicted − measured) / measured: negative where the profile predicts too fast."""
        return (self.predicted - self.measured) / self.measured


@dataclass(frozen=True)
class CheckReport:
    device: Device
    session: Session
    models: tuple[Checked, ...]
    reference: tuple[float, float] | None = None
    """The profile's reference network (groupcost.run.measure.REFERENCE): its time when the profile was made, and now."""

    def drift(self) -> float | None:
        """How much slower (+) or faster (−) the machine ran the reference now than when the profile was made."""
        return self.reference[1] / self.reference[0] - 1 if self.reference else None

    def within(self, tolerance: float) -> float:
        """The share of models predicted within ±tolerance of their measured time."""
        return sum(abs(m.error) <= tolerance for m in self.models) / len(self.models)

    def quantiles(self) -> tuple[float, float, float]:
        """Median, 90th percentile and largest |error|."""
        errors = sorted(abs(m.error) for m in self.models)
        tenth = errors[min(len(errors) - 1, int(0.9 * len(errors)))]
        return statistics.median(errors), tenth, errors[-1]


def check(models: list[tuple[str, Network]], device: Device, on: str | None, runs: int, threads: int | None, clock: str = "wall") -> CheckReport:
    """Measure every model (runs interleaved, in the runtime the profile was calibrated in) and compare each with the device's prediction."""
    runtime = getattr(device, "runtime", "torch-eager")
    on, threads = where_profiled(device, on, threads)
    session = measure(models, on, runs, threads, clock=clock, runtime=runtime)
    checked = tuple(Checked(label, report_seconds(analyze(network), device), statistics.median_low(result.total.runs))
                    for (label, network), result in zip(models, session.results))
    made = getattr(device, "reference_seconds", 0.0)
    reference = (made, reference_seconds(on, threads, clock, runtime, runs)) if made > 0 else None
    return CheckReport(device, session, checked, reference)


def to_text(report: CheckReport) -> str:
    lines = [f"predicted on {report.device.label()}", f"measured on {report.session.setup.label()} (lower median)", "",
             f"{'model':<32} {'predicted':>11} {'measured':>11} {'error':>8}"]
    for m in report.models:
        lines.append(f"{m.label:<32} {m.predicted * 1e3:>8.2f} ms {m.measured * 1e3:>8.2f} ms {m.error:>+8.1%}")
    median, tenth, worst = report.quantiles()
    lines += ["", (f"{report.within(0.10):.0%} of {len(report.models)} models within ±10%, {report.within(0.20):.0%} within ±20%; "
                   f"|error| median {median:.1%}, 90th percentile {tenth:.1%}, largest {worst:.1%}")]
    drift = report.drift()
    if drift is not None:
        made, now = report.reference
        lines.append(f"reference ({REFERENCE}): {now * 1e3:.2f} ms now, {made * 1e3:.2f} ms when the profile was made ({drift:+.0%}); "
                     + ("the machine runs as it did then" if abs(drift) <= 0.05 else
                        f"the machine runs {'slower' if drift > 0 else 'faster'} than then, and every prediction is off by about as much"))
    return "\n".join(lines) + "\n"


def to_dict(report: CheckReport) -> dict:
    median, tenth, worst = report.quantiles()
    return {
        "device": {"name": report.device.name, "label": report.device.label()},
        "setup": {"device": report.session.setup.place, "processor": report.session.setup.device, "threads": report.session.setup.threads,
                  "runs": report.session.setup.runs, "torch": report.session.setup.torch},
        "models": [{"label": m.label, "predicted_seconds": m.predicted, "measured_seconds": m.measured, "error": m.error} for m in report.models],
        "within_10": report.within(0.10), "within_20": report.within(0.20),
        "error_median": median, "error_p90": tenth, "error_max": worst,
        **({"reference": {"model": REFERENCE, "calibrated_seconds": report.reference[0], "measured_seconds": report.reference[1]}}
           if report.reference else {}),
    }
