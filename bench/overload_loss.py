#!/usr/bin/env python3
"""Per-stream loss of one overload phase, and the line `scripts/bench
overload` prints for it (bench/overload.py). Kept apart so the arithmetic
is tested on its own (bench/overload_loss_test.py).

A stream's loss is 1 - received/offered over the phase, where offered
counts every packet put on the wire for it, including those the relay's
receive ring refused. A stream is muted if it lost at least MUTED_LOSS of
what it was offered, or (recovery phase) received nothing at all.
"""

MUTED_LOSS = 0.90


def summarize(offered, received, nothing_is_muted=False):
    """{'loss_mean_pct', 'loss_max_pct', 'streams_muted', 'offered',
    'received'} over streams that were offered anything. With
    nothing_is_muted, a stream that received nothing counts as muted
    whatever its loss (the recovery phase's rule)."""
    losses = []
    muted = 0
    for o, r in zip(offered, received):
        if o <= 0:
            continue
        loss = max(0.0, 1.0 - r / o)
        losses.append(loss)
        if loss >= MUTED_LOSS or (nothing_is_muted and r == 0):
            muted += 1
    n = len(losses)
    return {
        "loss_mean_pct": 100.0 * sum(losses) / n if n else 0.0,
        "loss_max_pct": 100.0 * max(losses) if n else 0.0,
        "streams_muted": muted,
        "offered": sum(offered),
        "received": sum(received),
    }


def fair(summary):
    """The issue's target: no stream muted, and the worst stream's loss
    within twice the mean plus one point."""
    return (summary["streams_muted"] == 0 and
            summary["loss_max_pct"] <= 2 * summary["loss_mean_pct"] + 1)


def line(tag, offered_x, streams, relayed_mpps, summary):
    return ("%s offered_x=%.2f streams=%d relayed_mpps=%.3f loss_mean_pct=%.2f "
            "loss_max_pct=%.2f streams_muted=%d"
            % (tag, offered_x, streams, relayed_mpps, summary["loss_mean_pct"],
               summary["loss_max_pct"], summary["streams_muted"]))
