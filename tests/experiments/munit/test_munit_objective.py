"""MUNIT's two objectives equal their weighted terms, each against its own
target, recomputed in numpy from the networks' outputs on a tiny case; the
weights the trainer gets from the config are MUNIT's published ones."""
import jax
import numpy as np
import pytest

from gitjax import config_base
from gitjax.experiments.munit import run as munit_run
from gitjax.experiments.munit import steps

SHAPE = (8, 8, 1)
# Distinct weights, so that a term with the wrong weight (or none) shows.
WEIGHTS = dict(gan_w=2.0, recon_x_w=3.0, recon_s_w=5.0, recon_c_w=7.0,
               recon_cyc_w=11.0)
TINY = dict(image_channels=1, dim=2, style_dim=2, n_res=1, n_downsample=1,
            n_style_downsample=1, mlp_dim=4, n_mlp=2, dis_dim=2,
            dis_layers=1)


def test_trainer_weights_are_munits_published_ones():
  # MUNIT (Huang et al. 2018, configs/*.yaml): gan_w 1, recon_x_w 10,
  # recon_s_w 1, recon_c_w 1; GIT trains without the cycle term.
  statics = munit_run.make_statics(config_base.munit(), 1, 0)
  assert (statics.gan_w, statics.recon_x_w, statics.recon_s_w,
          statics.recon_c_w, statics.recon_cyc_w) == (1.0, 10.0, 1.0, 1.0,
                                                      0.0)


@pytest.fixture(scope='module')
def case():
  statics = steps.Statics(**TINY, **WEIGHTS)
  state = steps.init_state(statics, SHAPE, steps.init_key(0))
  rng = np.random.default_rng(0)
  images = {d: steps.to_unit(rng.integers(0, 255, (2,) + SHAPE)) for d in 'ab'}
  styles = {d: rng.normal(size=(2, 2)).astype(np.float32) for d in 'ab'}
  return statics, state.params, state.opt_state, images, styles


def _l1(x, y):
  return float(np.mean(np.abs(np.asarray(x, np.float64) -
                              np.asarray(y, np.float64))))


def _lsgan_g_by_hand(outputs):
  return sum(float(np.mean((np.asarray(o, np.float64) - 1) ** 2))
             for o in outputs)


def _network_outputs(statics, gen, dis, images, styles):
  """Per direction, the networks' outputs the terms compare (one jit)."""
  out = {}
  for source, target in (('a', 'b'), ('b', 'a')):
    content, style = steps.encode(statics, gen[source], images[source])
    fake = steps.decode(statics, gen[target], content, styles[target])
    content_back, style_back = steps.encode(statics, gen[target], fake)
    out[source] = dict(
        fake=fake, x_recon=steps.decode(statics, gen[source], content, style),
        content=content, content_back=content_back, style_back=style_back,
        cycle=steps.decode(statics, gen[source], content_back, style),
        d_fake=steps.discriminate(statics, dis[target], fake))  # target's D
  return out


def test_generator_objective_is_its_weighted_terms(case):
  statics, params, opt_state, images, styles = case
  gen, dis = params['gen'], params['dis']
  out = jax.jit(_network_outputs, static_argnums=0)(statics, gen, dis,
                                                     images, styles)
  terms = dict(g_adv=0.0, recon_x=0.0, recon_s=0.0, recon_c=0.0,
               recon_cyc=0.0)
  for source, target in (('a', 'b'), ('b', 'a')):
    o = out[source]
    terms['recon_x'] += _l1(o['x_recon'], images[source])    # own image
    terms['recon_s'] += _l1(o['style_back'], styles[target])  # style drawn
    terms['recon_c'] += _l1(o['content_back'], o['content'])  # its content
    terms['recon_cyc'] += _l1(o['cycle'], images[source])
    terms['g_adv'] += _lsgan_g_by_hand(o['d_fake'])
  total, got = jax.jit(steps.gen_loss, static_argnums=0)(
      statics, gen, dis, opt_state['dis'], images, styles)
  for name, value in terms.items():
    np.testing.assert_allclose(float(got[name]), value, rtol=2e-5,
                               err_msg=name)
  expected = (2 * terms['g_adv'] + 3 * terms['recon_x'] +
              5 * terms['recon_s'] + 7 * terms['recon_c'] +
              11 * terms['recon_cyc'])
  np.testing.assert_allclose(float(total), expected, rtol=2e-5)


def test_discriminator_objective_is_its_weighted_terms(case):
  statics, params, _, images, styles = case
  dis = params['dis']
  # The D step's fakes by hand: each source's content decoded by the
  # target's network under the style drawn for the target.
  out = jax.jit(_network_outputs, static_argnums=0)(statics, params['gen'],
                                                     dis, images, styles)
  fakes = {'b': out['a']['fake'], 'a': out['b']['fake']}
  def outputs(gen, dis):
    # D of a domain: its real images vs the fakes translated into it.
    return steps.translate(statics, gen, images, styles), {
        d: (steps.discriminate(statics, dis[d], images[d]),
            steps.discriminate(statics, dis[d], fakes[d])) for d in 'ab'}
  translated, scores = jax.jit(outputs)(params['gen'], dis)
  for d in 'ab':
    np.testing.assert_allclose(translated[d], fakes[d], rtol=1e-5, atol=1e-6,
                               err_msg=d)
  expected = 0.0
  for real, fake in scores.values():
    expected += sum(float(np.mean((np.asarray(r, np.float64) - 1) ** 2) +
                          np.mean(np.asarray(f, np.float64) ** 2))
                    for r, f in zip(real, fake))
  loss, stats = jax.jit(steps.dis_loss, static_argnums=0)(statics, dis,
                                                          images, fakes)
  np.testing.assert_allclose(float(loss), 2 * expected, rtol=2e-5)
  # The logged D(real) / D(fake): mean output over scales and domains.
  for key, which in (('d_real', 0), ('d_fake', 1)):
    by_hand = np.mean([np.mean([np.mean(o) for o in scores[d][which]])
                       for d in 'ab'])
    np.testing.assert_allclose(float(stats[key]), by_hand, rtol=1e-5,
                               err_msg=key)
