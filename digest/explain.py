"""`digest explain`: why each pick made it and what the runners-up lacked (pure formatting)."""

from __future__ import annotations

from collections.abc import Mapping

from .models import Issue, Pick

SCORED = ("corroboration", "informativeness", "structure", "recency", "interest")


def explain_issue(issue: Issue, weights: Mapping[str, float]) -> str:
    lines = [f"{issue.title} #{issue.number}, {issue.date.isoformat()}: {len(issue.insights)} picks"]
    header = f"{'rank':>4} {'score':>6}  " + " ".join(f"{name[:6]:>6}" for name in SCORED) + "  weight novel"
    lines.append(header)
    runner = issue.runners_up[0] if issue.runners_up else None
    last = issue.insights[-1] if issue.insights else None
    for pick in issue.insights:
        lines.append(_row(pick))
        lines.append(f"{'':12}{_shorten(pick.text)}")
        if runner is not None:
            lines.append(f"{'':12}ahead of the first runner-up by {_tipped(pick, runner, weights, ahead=True)}")
    if issue.runners_up:
        lines.append("runners-up:")
    for pick in issue.runners_up:
        lines.append(_row(pick))
        lines.append(f"{'':12}{_shorten(pick.text)}")
        if pick.note:
            lines.append(f"{'':12}held back: {pick.note}")
        elif last is not None:
            lines.append(f"{'':12}behind the last pick on {_tipped(pick, last, weights, ahead=False)}")
    return "\n".join(lines)


def _row(pick: Pick) -> str:
    values = " ".join(f"{pick.why.get(name, 0.0):6.2f}" for name in SCORED)
    return (
        f"{pick.rank:>4} {pick.score:6.3f}  {values}  {pick.why.get('source_weight', 1.0):6.2f} "
        f"{'yes' if pick.why.get('novelty', 1.0) else 'no':>5}"
    )


def _tipped(pick: Pick, other: Pick, weights: Mapping[str, float], *, ahead: bool) -> str:
    """The weighted features that differ most in the direction that decided the order."""
    diffs = {name: weights.get(name, 0.0) * (pick.why.get(name, 0.0) - other.why.get(name, 0.0)) for name in SCORED}
    sign = 1 if ahead else -1
    telling = sorted((d * sign, name) for name, d in diffs.items() if d * sign > 0.0005)[::-1][:2]
    if not telling:
        note = "a close score; diversity or the per-source cap decided"
        return note if ahead else f"nothing: {note}"
    return ", ".join(f"{name} ({'+' if ahead else '-'}{value:.3f})" for value, name in telling)


def _shorten(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
