"""Task layouts: the unrolled meta-step (tasks in a Python loop, inner steps
unrolled, plain lax.conv) and the host loop's summed per-task gradients give
the vmapped im2col meta-gradient."""
import jax
import numpy as np
import pytest

from gitjax import bilevel
from gitjax import config_base
from gitjax.experiments.maml import host_loop
from gitjax.experiments.maml import layouts
from gitjax.experiments.maml import steps


def _statics(**maml):
  config = config_base.get_base('maml')
  m = config.maml
  m.ways, m.shots, m.queries, m.meta_batch = 2, 1, 2, 3
  m.inner_steps, m.filters, m.downsample = 2, 4, 'maxpool'
  m.checkpoint_inner = False  # smaller graphs, faster compilation
  for key, value in maml.items():
    m[key] = value
  return steps.make_statics(config)


def _tasks(statics, num_tasks=3, side=16):
  rng = np.random.default_rng(0)
  n = statics.ways
  def images(count):
    return rng.uniform(0, 255, (num_tasks, count, side, side, 1)).astype(
        np.float32)
  labels = np.tile(np.arange(n, dtype=np.int32), (num_tasks, 1))
  return {'support': images(n * statics.shots), 'support_label': labels,
          'query': images(n * statics.queries),
          'query_label': np.repeat(labels, statics.queries, axis=1)}


@pytest.mark.parametrize('variant,layouts_', [
    # 'unrolled' is opt-in ('auto' never picks it) and compiles the longest:
    # slow. The host loop is what 'auto' picks for the max-pool Conv-4.
    pytest.param('maml', (('unrolled', 1, 'lax'), ('unrolled', 2, 'im2col')),
                 marks=pytest.mark.slow),
    ('maml++', (('host_loop', 1, 'lax'), ('host_loop', 3, 'lax')))])
def test_unrolled_layouts_give_the_vmapped_meta_gradient(variant, layouts_):
  base = _statics(variant=variant, task_layout='vmap', conv_impl='im2col')
  tasks = _tasks(base)
  params = steps.init_state(base, (16, 16, 1)).params
  weights = np.full((2,), 0.5, np.float32)

  def grad(statics):
    if statics.task_layout == 'host_loop':  # its per-task calls, summed
      outs = [host_loop.task_gradient(params, tasks, i, weights,
                                      statics=statics, first_order=False)
              for i in range(0, 3, statics.task_chunk)]
      total = jax.tree.map(lambda *x: sum(x) / 3, *outs)
      return total[0], total[3]
    (loss, _), g = jax.jit(lambda p: steps.meta_gradient(
        p, tasks, weights, statics=statics))(params)
    return loss, g

  loss0, g0 = grad(base)
  # Conv biases before BN get ~0 gradients (noise): tolerance on the scale
  # of the whole meta-gradient.
  scale = max(float(np.abs(x).max()) for x in jax.tree.leaves(g0))
  for layout, chunk, conv in layouts_:
    loss, g = grad(_statics(variant=variant, task_layout=layout,
                            task_chunk=chunk, conv_impl=conv))
    np.testing.assert_allclose(loss, loss0, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=2e-4, atol=1e-5 * scale), g, g0)


def test_map_tasks_chunks_match_vmap_and_keep_none():
  fn = lambda p, t, w: (p * t['x'].sum() + w, None)
  tasks = {'x': np.arange(10.0).reshape(5, 2)}
  want = jax.vmap(fn, in_axes=(None, 0, None))(2.0, tasks, 1.0)
  for chunk in (1, 2, 5):
    got = layouts.map_tasks(fn, 2.0, tasks, 1.0, layout='unrolled',
                            chunk=chunk)
    np.testing.assert_allclose(got[0], want[0])
    assert got[1] is None


def test_scan_steps_unrolled_equals_scan():
  body = lambda c, i: (c * 2.0 + i, c)
  for unrolled in (False, True):
    carry, outs = bilevel.scan_steps(body, 1.0, 3, unrolled=unrolled)
    np.testing.assert_allclose(carry, 12.0)
    np.testing.assert_allclose(outs, [1.0, 2.0, 5.0])


@pytest.mark.parametrize('key,value', [('task_layout', 'pmap'),
                                       ('task_chunk', 0),
                                       ('conv_impl', 'fft')])
def test_layout_keys_bad_input_is_one_line(key, value):
  from gitjax import config as config_lib  # pylint: disable=g-import-not-at-top
  from gitjax.errors import ConfigError  # pylint: disable=g-import-not-at-top
  config = config_base.get_base('maml')
  config.maml[key] = value
  with pytest.raises(ConfigError, match=f'config.maml.{key}=') as err:
    config_lib.validate(config, num_devices=1)
  assert '\n' not in str(err.value)


def test_auto_layout_is_the_host_loop_for_maxpool_else_vmap():
  assert layouts.resolve('auto', 'auto', 'maxpool', 1) == ('host_loop', 'lax')
  assert layouts.resolve('auto', 'auto', 'maxpool', 5) == ('host_loop', 'lax')
  assert layouts.resolve('auto', 'auto', 'stride', 5) == ('vmap', 'im2col')
  assert layouts.resolve('auto', 'auto', 'stride', 1) == ('vmap', 'im2col')
  assert layouts.resolve('unrolled', 'im2col', 'maxpool', 1) == ('unrolled',
                                                                 'im2col')
