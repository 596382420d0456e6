"""Paired statistics of two methods measured on the same instances.

Instance i of a study gives both methods the same long-tailed data set,
seed and MUNIT, so the fair comparison is per instance: the differences
d_i = method_i - baseline_i, their mean with a 95% interval from the t
distribution (n - 1 degrees of freedom), and how many instances favour
each side.
"""
import math

import numpy as np
from scipy import stats


def paired_difference(method, baseline, higher_is_better=True):
  """Per-instance differences `method - baseline` and their summary.

  Args:
    method: per-instance values of the method (None or NaN: not measured;
      that instance is left out of both).
    baseline: the baseline's values on the same instances, same order.
    higher_is_better: True for accuracy, False for eKLD (which side an
      instance favours).

  Returns:
    {'n', 'differences', 'mean', 'ci95' ([low, high], None below two
    instances), 'favour_method', 'favour_baseline', 'ties'}.
  """
  if len(method) != len(baseline):
    raise ValueError(f'{len(method)} values against {len(baseline)}: pair '
                     'them instance by instance')
  a = np.asarray([np.nan if v is None else v for v in method], np.float64)
  b = np.asarray([np.nan if v is None else v for v in baseline], np.float64)
  keep = np.isfinite(a) & np.isfinite(b)
  d = a[keep] - b[keep]
  n = len(d)
  mean = float(d.mean()) if n else float('nan')
  ci = None
  if n > 1:
    half = (stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
    ci = [mean - float(half), mean + float(half)]
  better = d > 0 if higher_is_better else d < 0
  worse = d < 0 if higher_is_better else d > 0
  return {'n': n, 'differences': d.tolist(), 'mean': mean, 'ci95': ci,
          'favour_method': int(better.sum()),
          'favour_baseline': int(worse.sum()),
          'ties': int((d == 0).sum())}
