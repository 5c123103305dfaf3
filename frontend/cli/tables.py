"""An experiment's numbers as text: the per-variant summary and a paired comparison."""

from __future__ import annotations

from typing import Any

VERDICT_ORDER = {"worse": 0, "better": 1, "no_significant_difference": 2}


def number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def p_text(value: Any) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return f"{value:.2g}" if value < 0.001 else f"{value:.4f}"


def primary_of(compared: dict[str, Any], wanted: str | None = None) -> str | None:
    """The primary metric: the one asked for, else what the API marked (top level or per metric)."""
    if wanted:
        return wanted
    if compared.get("primary_metric"):
        return str(compared["primary_metric"])
    return next((label for label, m in compared.get("metrics", {}).items() if m.get("primary")), None)


def ordered_metrics(compared: dict[str, Any], primary: str | None) -> list[tuple[str, dict[str, Any]]]:
    """Worse ones first, then better, then the rest; the primary first within its group."""
    return sorted(
        compared.get("metrics", {}).items(),
        key=lambda item: (VERDICT_ORDER.get(item[1].get("verdict"), 3), item[0] != primary, item[0]),
    )


def comparison_rows(compared: dict[str, Any], primary: str | None) -> list[dict[str, str]]:
    """One row of formatted cells per metric, in `ordered_metrics` order."""
    rows = []
    for label, m in ordered_metrics(compared, primary):
        interval = f"[{number(m.get('ci_low'))}, {number(m.get('ci_high'))}]" if m.get("ci_low") is not None else "-"
        rows.append(
            {
                "metric": label + (" (primary)" if label == primary else ""),
                "a": number(m.get("a_mean")),
                "b": number(m.get("b_mean")),
                "delta": number(m.get("delta")),
                "ci": interval,
                "p": p_text(m.get("p_value")),
                "p_adjusted": p_text(m.get("p_adjusted")),
                "verdict": str(m.get("verdict", "-")),
            }
        )
    return rows


def comparison_table(compared: dict[str, Any], primary: str | None = None) -> str:
    primary = primary_of(compared, primary)
    correction = compared.get("correction")
    lines = [
        f"a = {compared.get('a')}, b = {compared.get('b')}"
        + (
            f"; p adjusted for {len(compared.get('metrics', {}))} metrics ({correction_name(correction)})"
            if correction
            else ""
        ),
        f"{'metric':34s} {'a':>8s} {'b':>8s} {'b - a':>8s} {'95% interval':>18s} {'raw p':>8s} {'adj. p':>8s}  verdict",
    ]
    for row in comparison_rows(compared, primary):
        lines.append(
            f"{row['metric']:34s} {row['a']:>8s} {row['b']:>8s} {row['delta']:>8s} {row['ci']:>18s} "
            f"{row['p']:>8s} {row['p_adjusted']:>8s}  {row['verdict']}"
        )
    return "\n".join(lines)


def correction_name(correction: Any) -> str:
    if isinstance(correction, dict):
        return str(correction.get("method") or correction.get("name") or correction)
    return str(correction)


def summary_table(status: dict[str, Any]) -> str:
    lines = [f"{'variant':14s} {'metric':26s} {'mean':>8s} {'95% interval':>20s} {'n':>5s}"]
    for variant, metrics in (status.get("summary") or {}).items():
        for label, value in sorted(metrics.items()):
            if isinstance(value, dict) and value.get("mean") is not None:
                interval = f"[{number(value.get('ci_low'))}, {number(value.get('ci_high'))}]"
                lines.append(
                    f"{variant:14s} {label:26s} {number(value['mean']):>8s} {interval:>20s} {value.get('n', ''):>5}"
                )
    return "\n".join(lines)
