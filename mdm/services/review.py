"""Review tasks: what matching could not decide, kept in step with each run."""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ..store import models as m
from .matching import MatchingOutcome


def sync_review_tasks(session: Session, outcome: MatchingOutcome, run_id: int | None,
                      scope: set[int] | None = None) -> tuple[int, int]:
    """Open a task for each new review pair; close open tasks the run no longer needs. (opened, closed)

    ``scope``: only tasks on these records are the run's business (a scoped run, see run_matching).
    """
    open_tasks = {
        (r.left_record_id, r.right_record_id): r.id
        for r in session.execute(select(m.ReviewTask.id, m.ReviewTask.left_record_id,
                                        m.ReviewTask.right_record_id).where(m.ReviewTask.status == "open"))
        if scope is None or r.left_record_id in scope or r.right_record_id in scope
    }
    wanted = {(p.left, p.right): (p, reason) for p, reason in outcome.review}
    now = m.utcnow()
    new = [
        {"left_record_id": a, "right_record_id": b, "score": p.match_probability, "match_weight": p.match_weight,
         "band": "conflict" if reason.startswith("conflict") else "review", "reason": reason,
         "explanation": p.explanation, "status": "open", "created_at": now, "run_id": run_id}
        for (a, b), (p, reason) in sorted(wanted.items()) if (a, b) not in open_tasks
    ]
    if new:
        session.execute(insert(m.ReviewTask), new)
    stale = [tid for pair, tid in open_tasks.items() if pair not in wanted]
    for i in range(0, len(stale), 5000):
        session.execute(update(m.ReviewTask).where(m.ReviewTask.id.in_(stale[i:i + 5000]))
                        .values(status="obsolete", decided_at=now, decided_by="reconcile"))
    return len(new), len(stale)
