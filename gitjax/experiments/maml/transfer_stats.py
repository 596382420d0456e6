"""Numbers of the invariance-transfer study from a learner's logits.

A learner's eKLD depends on its confidence as much as on its invariance (a
near-uniform predictor is trivially 'invariant'), so every learner's logits
are first divided by its own temperature T, fitted (`fit_temperature`) by
minimum negative log-likelihood on its CLEAN query predictions (the labels
of the clean queries; no transformed image is looked at). Then per task:

* eKLD: mean over clean queries x and draws x' of KL(p(.|x) || p(.|x')),
  averaged per class, then over the classes of the task;
* consistency: the fraction of draws with argmax p(.|x') = argmax p(.|x);
* kept: the fraction of above-chance accuracy kept under the transform,
  (acc_transformed - 1/N) / (acc_clean - 1/N), from the per-seed means.

Intervals: 95%, Student t over seeds (n - 1 degrees of freedom) of the
per-seed means, and 1.96 standard errors over all tasks of all seeds.
"""
import numpy as np
from scipy import stats

# log T from 1/50 to 50: wide enough for N(0, 1)-headed MAML and centroids.
_LOG_T = np.linspace(np.log(0.02), np.log(50.0), 161)


def _log_softmax(x):
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def fit_temperature(logits, labels):
  """T > 0 minimising the mean NLL of softmax(logits / T) (grid over log T,
  then the best of a finer grid around it)."""
  logits = np.asarray(logits, np.float64).reshape(-1, logits.shape[-1])
  labels = np.asarray(labels).reshape(-1)

  def nll(log_t):
    lp = _log_softmax(logits / np.exp(log_t))
    return -lp[np.arange(len(labels)), labels].mean()

  coarse = _LOG_T[np.argmin([nll(t) for t in _LOG_T])]
  step = _LOG_T[1] - _LOG_T[0]
  fine = np.linspace(coarse - step, coarse + step, 21)
  return float(np.exp(fine[np.argmin([nll(t) for t in fine])]))


def task_metrics(clean, moved, labels, temperature=1.0):
  """Per-task arrays of one learner's outputs (`transfer.run_learner`).

  Args:
    clean: [T, NQ, N] logits of the clean queries.
    moved: [T, NQ, D, N] logits of D transformed copies of each.
    labels: [T, NQ] query labels (task-local, 0..N-1).
    temperature: divides all logits.

  Returns:
    dict of [T] arrays: 'ekld', 'consistency', 'acc_clean',
    'acc_transformed', and 'ekld_by_label' [T, N].
  """
  lp = _log_softmax(np.asarray(clean, np.float64) / temperature)[:, :, None]
  lq = _log_softmax(np.asarray(moved, np.float64) / temperature)
  kl = np.sum(np.exp(lp) * (lp - lq), -1).mean(-1)  # [T, NQ]
  ways = clean.shape[-1]
  onehot = labels[..., None] == np.arange(ways)  # [T, NQ, N]
  by_label = (kl[..., None] * onehot).sum(1) / onehot.sum(1)  # [T, N]
  agree = moved.argmax(-1) == clean.argmax(-1)[..., None]  # [T, NQ, D]
  return {'ekld': by_label.mean(-1), 'ekld_by_label': by_label,
          'consistency': agree.mean((1, 2)),
          'acc_clean': (clean.argmax(-1) == labels).mean(1),
          'acc_transformed': (moved.argmax(-1) == labels[..., None]).mean(
              (1, 2))}


def kept_fraction(acc_clean, acc_transformed, ways):
  """(acc_transformed - 1/N) / (acc_clean - 1/N); NaN at chance."""
  above = acc_clean - 1.0 / ways
  return float((acc_transformed - 1.0 / ways) / above) if above > 0 else (
      float('nan'))


def interval(per_seed, per_task=None):
  """{'mean', 'ci95_seeds' (t over seeds; None with one seed),
  'ci95_tasks' (1.96 SE over all tasks, or None)} of per-seed means."""
  x = np.asarray(per_seed, np.float64)
  out = {'mean': float(x.mean()), 'per_seed': x.tolist(), 'ci95_seeds': None,
         'ci95_tasks': None}
  if len(x) > 1:
    out['ci95_seeds'] = float(stats.t.ppf(0.975, len(x) - 1)
                              * x.std(ddof=1) / np.sqrt(len(x)))
  if per_task is not None and len(per_task) > 1:
    t = np.asarray(per_task, np.float64)
    out['ci95_tasks'] = float(1.96 * t.std(ddof=1) / np.sqrt(len(t)))
  return out
