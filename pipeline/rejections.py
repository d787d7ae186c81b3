"""The rejected-rows gate: a run that rejects too many rows it read fails.

``rejection_gate`` builds the ``rejections`` record of ``summary.json``.
A run that read rows but scored none always fails, because a misspelled
header or a broken feed rejects every row. With ``--max_rejected_share``, a
run also fails when the share of rejected rows among the rows read is above
it. A failed run still writes its outputs and ``summary.json``, but not
``_SUCCESS``.
"""

# Reasons named in the failure message, most frequent first.
_TOP_REASONS = 3


class RejectionGateError(RuntimeError):
    """Too many rejected rows in a run whose outputs are written."""


def _top_reasons(reasons: dict) -> str:
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    text = "; ".join(
        f"{reason} ({count} {'row' if count == 1 else 'rows'})"
        for reason, count in ranked[:_TOP_REASONS]
    )
    others = len(ranked) - _TOP_REASONS
    if others > 0:
        text += f"; and {others} more {'reason' if others == 1 else 'reasons'}"
    return text


def rejection_gate(summary: dict, max_rejected_share: float | None) -> dict:
    """Build the ``rejections`` record from the counts of ``summary``.

    ``summary`` needs ``rows_read``, ``rows_scored``, ``rows_rejected`` and
    ``rejected_by_reason``. ``message`` is None when the gate passed.
    """
    rows_read = summary["rows_read"]
    rows_rejected = summary["rows_rejected"]
    share = rows_rejected / rows_read if rows_read else None
    problem = None
    if rows_read and summary["rows_scored"] == 0:
        rows = (
            "the only row read was" if rows_read == 1 else f"all {rows_read} rows were"
        )
        problem = f"No row was scored because {rows} rejected"
    elif max_rejected_share is not None and share is not None:
        if share > max_rejected_share:
            problem = (
                f"{rows_rejected} of {rows_read} rows read were rejected "
                f"({share:.1%}), which is above --max_rejected_share "
                f"{max_rejected_share:g}"
            )
    message = None
    if problem:
        reasons = _top_reasons(summary.get("rejected_by_reason") or {})
        message = f"{problem}. Top rejection reasons: {reasons}."
    return {
        "max_rejected_share": max_rejected_share,
        "rejected_share": None if share is None else round(share, 6),
        "passed": problem is None,
        "message": message,
    }


def check_gate(summary: dict) -> None:
    """Raise ``RejectionGateError`` when ``summary`` records a failed gate."""
    gate = summary["rejections"]
    if not gate["passed"]:
        raise RejectionGateError(
            f"{gate['message']} The scored and rejected rows and summary.json "
            "are written but _SUCCESS is not. Each rejected row's full reason "
            "is in rejected-*.jsonl."
        )
