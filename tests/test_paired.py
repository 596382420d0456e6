"""Paired differences, checked by hand."""
import math

import pytest

from gitjax import paired


def test_three_instances_by_hand():
  # d = [1, 2, 3]: mean 2, sample std 1, t(0.975, 2) = 4.302653.
  out = paired.paired_difference([3.0, 4.0, 6.0], [2.0, 2.0, 3.0])
  assert out['n'] == 3
  assert out['differences'] == [1.0, 2.0, 3.0]
  assert out['mean'] == pytest.approx(2.0)
  half = 4.302653 / math.sqrt(3)
  assert out['ci95'] == pytest.approx([2 - half, 2 + half], abs=1e-5)
  assert (out['favour_method'], out['favour_baseline'], out['ties']) == (
      3, 0, 0)


def test_lower_is_better_counts_the_other_way():
  # eKLD: d = [-0.1, 0.05, 0]: one instance for the method, one against.
  out = paired.paired_difference([0.1, 0.3, 0.2], [0.2, 0.25, 0.2],
                                 higher_is_better=False)
  assert out['differences'] == pytest.approx([-0.1, 0.05, 0.0])
  assert (out['favour_method'], out['favour_baseline'], out['ties']) == (
      1, 1, 1)
  # mean -1/60; std sqrt(((-0.1+1/60)^2+(0.05+1/60)^2+(1/60)^2)/2)
  std = math.sqrt(((-0.1 + 1 / 60) ** 2 + (0.05 + 1 / 60) ** 2 +
                   (1 / 60) ** 2) / 2)
  half = 4.302653 * std / math.sqrt(3)
  assert out['mean'] == pytest.approx(-1 / 60)
  assert out['ci95'] == pytest.approx([-1 / 60 - half, -1 / 60 + half],
                                      abs=1e-6)


def test_one_instance_has_no_interval_and_missing_values_drop_the_pair():
  out = paired.paired_difference([0.5], [0.4])
  assert out['ci95'] is None and out['mean'] == pytest.approx(0.1)
  out = paired.paired_difference([0.5, None, 0.7], [0.4, 0.3, float('nan')])
  assert out['n'] == 1 and out['differences'] == pytest.approx([0.1])
  with pytest.raises(ValueError, match='instance by instance'):
    paired.paired_difference([1.0, 2.0], [1.0])
