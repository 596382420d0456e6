"""Pure pieces of the MUNIT trainer: statics, state, losses, one iteration.

`train_step(state, batch, *, statics)` performs ONE whole MUNIT iteration
(Huang et al. 2018, as GIT trains it): a discriminator update on translations
made with fresh random styles, then a generator update (adversarial + image,
style and content reconstruction, optional cycle reconstruction). It is a
module-level pure function, jitted once per (statics, mesh) with the state
donated and sharded over all devices by jit + NamedSharding: parameters
replicated, the batch split along 'data'. Every loss is a mean over the
global batch and all norms are per sample, so 1 and N devices agree.

Players sit side by side: `params = {'gen': ..., 'dis': ...}` and the same
for `opt_state`. Each player holds one network per domain, `{'a', 'b'}`, as
MUNIT does, or one network `{'shared'}` for both draws (`shared=True`): then
only the a -> b direction is computed (both domains are draws from the same
set, so b -> a would be the same loss again in expectation), which halves the
compute.

Bilevel (`unroll_steps` K > 0, Metz et al. 2016): the generator's
adversarial loss is evaluated at copies of the discriminators advanced K
differentiable steps of their own optimiser on the generator's current fakes
(`bilevel.unroll`), so the generator sees how the discriminator would react.
The real discriminators take their normal single step.
"""
import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from gitjax import bilevel
from gitjax import losses
from gitjax import rngs
from gitjax.data import pipeline
from gitjax.models import munit

GAN_LOSSES = {
    'lsgan': (losses.lsgan_d, losses.lsgan_g),
    'hinge': (losses.hinge_d, losses.hinge_g),
    'nsgan': (losses.nonsaturating_d, losses.nonsaturating_g),
}


@struct.dataclass
class MunitState:
  """Training state of MUNIT's two players."""
  step: jax.Array   # int32 scalar: iterations done
  params: Any       # {'gen': {net: params}, 'dis': {net: params}}
  opt_state: Any    # {'gen': optax state, 'dis': optax state}


@dataclasses.dataclass(frozen=True)
class Statics:
  """Everything about an iteration that is fixed for a run.

  Plain values only, compared by value: equal statics reuse one compiled
  step, also across runs in one process.
  """
  image_channels: int
  dim: int = 64                  # generator width (first conv)
  style_dim: int = 8
  n_downsample: int = 2
  n_res: int = 4
  n_style_downsample: int = 4
  mlp_dim: int = 256
  n_mlp: int = 3
  dis_dim: int = 64
  dis_layers: int = 4
  n_scales: int = 1
  lr: float = 1e-4
  beta1: float = 0.5
  beta2: float = 0.999
  weight_decay: float = 1e-4     # coupled L2, as PyTorch Adam(weight_decay)
  lr_step: int = 100_000         # lr x lr_gamma every lr_step iterations
  lr_gamma: float = 0.5
  gan_w: float = 1.0
  recon_x_w: float = 10.0
  recon_s_w: float = 1.0
  recon_c_w: float = 1.0
  recon_cyc_w: float = 0.0
  gan_type: str = 'lsgan'
  shared: bool = False
  flip: bool = False
  unroll_steps: int = 0
  unroll_eps_root: float = 1e-8
  unroll_checkpoint: bool = True
  warp: str = 'none'             # 'none', 'rotation', 'affine' (munit_warp)
  pose_in_adain: bool = True     # with a warp: the pose entries also feed AdaIN
  seed: int = 0

  @property
  def nets(self):
    """Names of each player's networks."""
    return ('shared',) if self.shared else ('a', 'b')

  @property
  def directions(self):
    """(source, target) domain pairs translated every iteration."""
    return (('a', 'b'),) if self.shared else (('a', 'b'), ('b', 'a'))

  def net(self, domain):
    """Which network serves `domain`."""
    return 'shared' if self.shared else domain

  def generator(self):
    return munit.Generator(
        image_channels=self.image_channels, dim=self.dim,
        style_dim=self.style_dim, n_downsample=self.n_downsample,
        n_res=self.n_res, n_style_downsample=self.n_style_downsample,
        mlp_dim=self.mlp_dim, n_mlp=self.n_mlp, warp=self.warp,
        pose_in_adain=self.pose_in_adain)

  def discriminator(self):
    return munit.Discriminator(dim=self.dis_dim, n_layers=self.dis_layers,
                               n_scales=self.n_scales)


def lr_schedule(statics):
  """MUNIT's StepLR: lr * gamma^floor(step / lr_step)."""
  return optax.exponential_decay(statics.lr, statics.lr_step,
                                 statics.lr_gamma, staircase=True)


def make_optimizer(statics, eps_root=0.0):
  """Adam with coupled L2 (PyTorch `Adam(weight_decay=...)`) and StepLR.

  `eps_root` > 0 only for the differentiable inner copy of the
  discriminator: the state has the same structure either way, so the copy
  starts from the real discriminator's moments.
  """
  if eps_root > 0:
    adam = bilevel.adam(lr_schedule(statics), statics.beta1, statics.beta2,
                        eps=1e-8, eps_root=eps_root)
  else:  # the real players' updates, exactly PyTorch's Adam
    adam = optax.adam(lr_schedule(statics), statics.beta1, statics.beta2,
                      eps=1e-8)
  return optax.chain(optax.add_decayed_weights(statics.weight_decay), adam)


def init_key(seed):
  """The key parameters are initialised from.

  'rbg' rather than the default threefry: on CPU the init of MUNIT's 15M
  parameters then compiles ~5x faster (4 s instead of 20 s). Initialisation
  runs on one device before the state is replicated, so rbg's dependence on
  sharding does not matter; the training step's keys stay threefry.
  """
  return rngs.jax_key(seed, 'munit-init', impl='rbg')


@functools.lru_cache(maxsize=16)
def _jit_init(model):
  return jax.jit(model.init)


def init_state(statics, image_shape, rng):
  """Fresh parameters and optimiser states of both players."""
  generator, discriminator = statics.generator(), statics.discriminator()
  dummy = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  rng_gen, rng_dis = jax.random.split(rng)
  # One compilation per network (cached across runs), called per domain.
  init_gen, init_dis = _jit_init(generator), _jit_init(discriminator)
  gen = {net: init_gen(jax.random.fold_in(rng_gen, i), dummy)['params']
         for i, net in enumerate(statics.nets)}
  dis = {net: init_dis(jax.random.fold_in(rng_dis, i), dummy)['params']
         for i, net in enumerate(statics.nets)}
  tx = make_optimizer(statics)
  return MunitState(step=jnp.zeros((), jnp.int32),
                    params={'gen': gen, 'dis': dis},
                    opt_state={'gen': tx.init(gen), 'dis': tx.init(dis)})


def to_unit(images):
  """uint8 / float 0..255 [B, H, W, C] -> float32 in [-1, 1]."""
  return images.astype(jnp.float32) / 127.5 - 1.0


def to_pixels(x):
  """float in [-1, 1] -> float32 0..255."""
  return (jnp.clip(x, -1.0, 1.0) + 1.0) * 127.5


def _l1(x, y):
  """MUNIT's recon_criterion: mean absolute difference."""
  return jnp.mean(jnp.abs(x - y))


def _mean_output(outputs):
  """Mean discriminator output over scales."""
  return sum(jnp.mean(o) for o in outputs) / len(outputs)


def encode(statics, gen_params, x):
  """(content [B, h, w, C_c], style [B, style_dim]) of images in [-1, 1]."""
  return statics.generator().apply({'params': gen_params}, x,
                                   method=munit.Generator.encode)


def decode(statics, gen_params, content, style):
  """Images in [-1, 1] from content and style codes."""
  return statics.generator().apply({'params': gen_params}, content, style,
                                   method=munit.Generator.decode)


RESTYLE_DECODERS = ('a', 'b')


def restyle(statics, gen_params, x, styles, decoder='a'):
  """GIT's re-styling: content of x encoded by the net of domain a, decoded
  under `styles` [B, style_dim] by the net of domain `decoder`; images in
  [-1, 1]. GIT's code loads only net a and re-styles a -> a (the default);
  'b' is MUNIT's cross-domain translation a -> b. With `shared=True` both
  name the same network."""
  content, _ = encode(statics, gen_params[statics.net('a')], x)
  return decode(statics, gen_params[statics.net(decoder)], content, styles)


def restyle_nets(statics, decoder='a'):
  """The networks a re-styling reads: what GIT must keep of a generator."""
  return tuple(sorted({statics.net('a'), statics.net(decoder)}))


def discriminate(statics, dis_params, x):
  """One [B, h, w, 1] map per scale."""
  return statics.discriminator().apply({'params': dis_params}, x)


def dis_loss(statics, dis_params, reals, fakes):
  """gan_w x the discriminator loss, summed over targets (MUNIT's D loss).

  Args:
    statics: Statics.
    dis_params: {net: params}.
    reals: {domain: real images [B, H, W, C] in [-1, 1]}.
    fakes: {domain: translations into that domain}.

  Returns:
    (loss, {'d_real': mean D(real), 'd_fake': mean D(fake)}).
  """
  d_fn, _ = GAN_LOSSES[statics.gan_type]
  total, d_real, d_fake = 0.0, 0.0, 0.0
  for domain in fakes:
    params = dis_params[statics.net(domain)]
    real_out = discriminate(statics, params, reals[domain])
    fake_out = discriminate(statics, params, fakes[domain])
    total += d_fn(real_out, fake_out)
    d_real += _mean_output(real_out) / len(fakes)
    d_fake += _mean_output(fake_out) / len(fakes)
  return statics.gan_w * total, {'d_real': d_real, 'd_fake': d_fake}


def translate(statics, gen_params, images, styles):
  """Every direction's translation, as the D step needs: {target: fake}."""
  fakes = {}
  for source, target in statics.directions:
    content, _ = encode(statics, gen_params[statics.net(source)],
                        images[source])
    fakes[target] = decode(statics, gen_params[statics.net(target)], content,
                           styles[target])
  return fakes


def gen_loss(statics, gen_params, dis_params, dis_opt_state, images, styles):
  """MUNIT's generator loss; adversarial part at the unrolled D when K > 0.

  Returns:
    (total, dict of the weighted loss terms' raw values).
  """
  _, g_fn = GAN_LOSSES[statics.gan_type]
  terms = {'g_adv': 0.0, 'recon_x': 0.0, 'recon_s': 0.0, 'recon_c': 0.0,
           'recon_cyc': 0.0}
  fakes = {}
  for source, target in statics.directions:
    g_source = gen_params[statics.net(source)]
    g_target = gen_params[statics.net(target)]
    x = images[source]
    content, style_prime = encode(statics, g_source, x)
    x_recon = decode(statics, g_source, content, style_prime)
    fake = decode(statics, g_target, content, styles[target])
    content_recon, style_recon = encode(statics, g_target, fake)
    terms['recon_x'] += _l1(x_recon, x)
    terms['recon_s'] += _l1(style_recon, styles[target])
    terms['recon_c'] += _l1(content_recon, content)
    if statics.recon_cyc_w > 0:
      x_cycle = decode(statics, g_source, content_recon, style_prime)
      terms['recon_cyc'] += _l1(x_cycle, x)
    fakes[target] = fake

  if statics.unroll_steps > 0:
    # The copy trains on these very fakes, so gradients reach the generator
    # through every inner step; the real images are constants.
    inner = lambda params, _: dis_loss(statics, params, images, fakes)[0]
    dis_params, _ = bilevel.unroll(
        jax.lax.stop_gradient(dis_params),
        jax.lax.stop_gradient(dis_opt_state), inner,
        make_optimizer(statics, eps_root=statics.unroll_eps_root),
        statics.unroll_steps, checkpoint=statics.unroll_checkpoint)
  for target, fake in fakes.items():
    terms['g_adv'] += g_fn(discriminate(
        statics, dis_params[statics.net(target)], fake))
  total = (statics.gan_w * terms['g_adv'] +
           statics.recon_x_w * terms['recon_x'] +
           statics.recon_s_w * terms['recon_s'] +
           statics.recon_c_w * terms['recon_c'] +
           statics.recon_cyc_w * terms['recon_cyc'])
  return total, terms


def _prepare(statics, batch, rng):
  """{domain: uint8 images} -> {domain: float in [-1, 1]}, random h-flips."""
  images = {}
  for i, domain in enumerate(('a', 'b')):
    x = to_unit(batch[domain])  # [B, H, W, C]
    if statics.flip:
      flip = jax.random.bernoulli(jax.random.fold_in(rng, i), 0.5,
                                  (x.shape[0],))
      x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
    images[domain] = x
  return images


def random_styles(statics, rng, batch_size):
  """{domain: s ~ N(0, I) [B, style_dim]} for every target domain."""
  return {target: jax.random.normal(jax.random.fold_in(rng, i),
                                    (batch_size, statics.style_dim))
          for i, (_, target) in enumerate(statics.directions)}


def train_step(state, batch, *, statics):
  """One MUNIT iteration on a (sharded) batch {'a', 'b'} of uint8 images.

  D step, then G step against the updated discriminators, as MUNIT's
  `dis_update` followed by `gen_update`; each draws its own random styles.

  Returns:
    (new state, metrics dict of scalars).
  """
  rng = rngs.jax_key(statics.seed, 'munit-train', state.step)
  rng_flip, rng_style_dis, rng_style_gen = jax.random.split(rng, 3)
  images = _prepare(statics, batch, rng_flip)
  batch_size = images['a'].shape[0]
  tx = make_optimizer(statics)
  gen_params, dis_params = state.params['gen'], state.params['dis']

  fakes = jax.lax.stop_gradient(translate(
      statics, gen_params, images,
      random_styles(statics, rng_style_dis, batch_size)))
  (d_loss, d_stats), d_grads = jax.value_and_grad(
      functools.partial(dis_loss, statics), has_aux=True)(
          dis_params, images, fakes)
  d_updates, dis_opt_state = tx.update(d_grads, state.opt_state['dis'],
                                       dis_params)
  dis_params = optax.apply_updates(dis_params, d_updates)

  (g_total, terms), g_grads = jax.value_and_grad(
      functools.partial(gen_loss, statics), has_aux=True)(
          gen_params, dis_params, dis_opt_state, images,
          random_styles(statics, rng_style_gen, batch_size))
  g_updates, gen_opt_state = tx.update(g_grads, state.opt_state['gen'],
                                       gen_params)
  gen_params = optax.apply_updates(gen_params, g_updates)

  metrics = dict(terms, d_loss=d_loss, g_loss=g_total, **d_stats,
                 d_grad_norm=optax.tree.norm(d_grads),
                 g_grad_norm=optax.tree.norm(g_grads),
                 # NaN in the new parameters shows here before it is saved.
                 d_param_norm=optax.tree.norm(dis_params),
                 g_param_norm=optax.tree.norm(gen_params))
  new_state = MunitState(
      step=state.step + 1, params={'gen': gen_params, 'dis': dis_params},
      opt_state={'gen': gen_opt_state, 'dis': dis_opt_state})
  return new_state, metrics


@functools.lru_cache(maxsize=16)
def jit_train_step(statics, mesh):
  """train_step jitted once per (statics, mesh), state donated."""
  replicated = pipeline.replicated(mesh)
  return jax.jit(functools.partial(train_step, statics=statics),
                 in_shardings=(replicated, pipeline.batch_sharding(mesh)),
                 out_shardings=(replicated, replicated),
                 donate_argnums=0)


def _restyle_pixels(gen_params, images, styles, *, statics, decoder):
  return to_pixels(restyle(statics, gen_params, to_unit(images), styles,
                           decoder))


def _restyle_random(gen_params, key, images, *, statics, decoder):
  styles = jax.random.normal(key, (images.shape[0], statics.style_dim))
  return _restyle_pixels(gen_params, images, styles, statics=statics,
                         decoder=decoder)


def _reconstruct_pixels(gen_params, images, *, statics):
  params = gen_params[statics.net('a')]
  x = statics.generator().apply({'params': params}, to_unit(images))
  return to_pixels(x)


@functools.lru_cache(maxsize=16)
def jit_restyle(statics, decoder='a'):
  """(gen_params, images 0..255 [B, H, W, C], styles [B, S]) -> 0..255."""
  return jax.jit(functools.partial(_restyle_pixels, statics=statics,
                                   decoder=decoder))


@functools.lru_cache(maxsize=16)
def jit_restyle_random(statics, decoder='a'):
  """(gen_params, key, images 0..255) -> re-stylings with s ~ N(0, I)."""
  return jax.jit(functools.partial(_restyle_random, statics=statics,
                                   decoder=decoder))


@functools.lru_cache(maxsize=16)
def jit_reconstruct(statics):
  """(gen_params, images 0..255) -> their reconstructions (own style)."""
  return jax.jit(functools.partial(_reconstruct_pixels, statics=statics))
