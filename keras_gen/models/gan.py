"""Generative adversarial network with separate optimizers and K D-steps."""

import warnings

import keras
from keras import ops

from keras_gen import _checks as checks
from keras_gen import backend
from keras_gen.backend import portable
from keras_gen import losses
from keras_gen.models import _saving
from keras_gen.models import base


@keras.saving.register_keras_serializable(package="keras_gen")
class GAN(base.GenerativeModel):
    """A GAN trained by the source notes' algorithm ("Generative Adversarial Network").

    Each ``train_step`` on a batch of real images:

    1. trains the discriminator D for ``d_steps`` (K) iterations: each draws
       fresh z ~ N(0, I) from the model's SeedGenerator, and takes one step
       of ``d_optimizer`` on ``L_D = -log D(x) - log(1 - D(G(z)))``
       (``keras_gen.losses.discriminator_loss``, batch mean) with respect to
       D's variables only; all K iterations use the step's real batch;
    2. trains the generator G for one iteration: fresh z, one step of
       ``g_optimizer`` on the generator loss w.r.t. G's variables only:
       ``"non_saturating"`` ``-log D(G(z))`` (default, the source notes' "In
       practice" recommendation) or ``"minimax"`` ``log(1 - D(G(z)))``.

    The real images are the x of each batch: a batch ``(x, y)`` is split by
    ``keras_gen.models.base.split_batch``'s rule and the GAN, unconditional,
    ignores y, whether labels (class ids, attribute vectors from
    ``keras_gen.data.load(..., with_labels=True)``) or image-shaped; it
    trains exactly as if fed x alone. A y that is neither is a
    ``ValueError`` before training starts.

    The discriminator returns logits; D = sigmoid(logits). Logs: ``d_loss``,
    ``g_loss``, ``d_real`` (mean D(x)) and ``d_fake`` (mean D(G(z))), which
    the source notes' analysis says tend to 0.5 at the equilibrium D* = 0.5.
    ``test_step`` reports the same on held-out real data without updating
    anything (penalties included). Both networks run in training mode during
    training (BatchNorm uses batch statistics), as in the DCGAN reference
    code.

    Other objectives (``objective=``) replace the two losses above; the
    discriminator's output is then an unbounded score D(x) (a critic), and
    ``d_real`` / ``d_fake`` log the mean raw score on real / generated
    images (``d_real - d_fake`` is WGAN-GP's estimate of the Wasserstein
    distance):

    * ``"hinge"`` (Lim & Ye 2017; Miyato et al. 2018):
      ``L_D = mean relu(1 - D(x)) + mean relu(1 + D(G(z)))``,
      ``L_G = -mean D(G(z))``;
    * ``"wgan-gp"`` (Gulrajani et al. 2017):
      ``L_D = mean D(G(z)) - mean D(x) + gp_weight * gp``, with
      ``gp = mean (||grad D(x_hat)||_2 - 1)^2`` on random interpolates
      ``x_hat = eps x + (1 - eps) G(z)``, ``eps ~ U(0, 1)`` per example
      (from the model's SeedGenerator), logged as ``gp``;
      ``L_G = -mean D(G(z))``. The paper trains it with
      ``Adam(1e-4, beta_1=0.0, beta_2=0.9)`` for both players, 5 critic
      steps per generator step (the default ``d_steps`` here) and no
      BatchNormalization in the critic (its penalty is per example; use
      ``dcgan_discriminator(..., normalization="layer")`` or ``None``).

    ``"relativistic"`` (Jolicoeur-Martineau 2019, RaSGAN) keeps the logits
    but makes them relative, with batch means over the step's real and fake
    batches: ``L_D = mean softplus(-(D(x) - mean D(G(z)))) + mean
    softplus(D(G(z)) - mean D(x))`` and ``L_G`` the same with real and fake
    swapped; the generator's step then runs D on the real batch too (its
    scores as constants). Under data parallelism the means are each
    replica's (process's) own, over its share of the global batch.
    ``d_real`` / ``d_fake`` log the relativistic D, ``mean sigmoid(D(x) -
    mean D(G(z)))`` and ``mean sigmoid(D(G(z)) - mean D(x))``, and adaptive
    augmentation observes the relative real logits ``D(x) - mean D(G(z))``
    (the logits alone have no fixed zero under this objective). ``top_k``
    does not apply to it (its generator loss is not a sum over fakes alone).

    ``r1_gamma > 0`` adds the R1 penalty (Mescheder et al. 2018)
    ``r1_gamma / 2 * mean ||grad_x D(x)||^2`` on the real batch to the
    discriminator's loss under any objective, logged (without the weight)
    as ``r1``. Both penalties are taken with
    ``keras_gen.backend.input_gradient`` inside the one written step.

    ``reuse_fakes=True`` changes step 2: instead of drawing fresh z, the
    generator step trains G on the fakes G(z) of the last discriminator
    iteration, whose forward pass through G is kept
    (``keras_gen.backend.keep_forward``): the step runs D's forward and
    backward on those fakes (augmented afresh when ``augment`` is set) and
    pulls the gradient back through the kept pass
    (``keras_gen.backend.minimize_kept``, a vector-Jacobian product), so G
    runs forward ``d_steps`` times per step instead of ``d_steps + 1``
    (pytorch/examples' dcgan trains G on its D step's fakes the same way).
    G's weights do not change between the two uses, so the gradient is the
    one a fresh forward pass on the same z would give; what changes is that
    the generator step sees the z the discriminator was just trained on,
    and G's BatchNormalization moving statistics are updated once per step.
    With ``augment``, the penalties' inputs are the un-augmented images (the
    real batch for R1, the interpolates for the gradient penalty), which the
    discriminator sees augmented like every other batch: the gradient is
    taken through the augmentation, as StyleGAN2-ADA does for R1.

    ``consistency > 0`` adds balanced consistency regularization (bCR;
    Zhao et al. 2021, "Improved Consistency Regularization for GANs") to the
    discriminator's loss in training steps:
    ``consistency * (mean (D(x) - D(T(x)))^2 + mean (D(G(z)) - D(T(G(z))))^2)``
    on the logits (scores), where ``D(x)`` / ``D(G(z))`` are the outputs the
    loss above uses (through ``augment`` when set) and ``T`` is
    ``consistency_augment`` applied to the un-augmented batch, logged
    (without the weight) as ``cr``. D learns to give an image and its
    transformed copy the same output; the generator's step is unchanged.
    ``test_step`` leaves it out and logs no ``cr`` (it would draw from the
    transform's random stream).

    ``lecam > 0`` adds the LeCam regularizer (Tseng et al. 2021,
    "Regularizing Generative Adversarial Networks under Limited Data") to
    the discriminator's loss in training steps:
    ``lecam * (mean (D(x) - a_fake)^2 + mean (D(G(z)) - a_real)^2)`` on the
    logits, where ``a_real`` / ``a_fake`` are exponential moving averages
    (momentum ``lecam_decay``, starting at 0) of D's mean logit on the real
    and on the generated batches of the earlier discriminator steps, held in
    the non-trainable variable ``lecam_anchors`` (``[a_real, a_fake]``,
    saved with the weights). Each term pulls D's output on one kind of
    image towards its recent output on the other kind, which keeps D's
    predictions from drifting apart when it memorises a small training set.
    This is the paper's equation: both terms are two-sided (the authors'
    code keeps only ``relu(D(x) - a_fake)`` and ``relu(a_real - D(G(z)))``),
    and the averages start at 0 without a bias correction, so over the
    first few hundred discriminator steps the term also pulls all logits
    towards 0. Logged (without the weight) as ``lc``, in training steps
    only. The anchors are weights of the GAN: a file saved with ``lecam > 0``
    loads only into a GAN with ``lecam > 0``, and one saved without it only
    into a GAN without it (``load_weights`` across the two raises a
    ``ValueError`` naming ``lecam``).

    Args:
        generator: ``keras.Model`` mapping ``(batch, latent_dim)`` to images.
        discriminator: ``keras.Model`` mapping images of the generator's
            output shape to logits ``(batch, 1)``.
        latent_dim: int > 0, size of z.
        d_steps: int > 0 or None, K discriminator updates per generator
            update. Defaults to None: 5 with ``objective="wgan-gp"`` (the
            paper's n_critic), else 1 (the source notes' "usually 1"). An
            explicit value is always used as given.
        generator_loss: ``"non_saturating"``, ``"minimax"`` or None, the
            generator loss of ``objective="standard"``. Defaults to None
            (``"non_saturating"``); the other objectives have their own and
            refuse a value.
        label_smoothing: float in [0, 1), one-sided label smoothing of the
            real targets (1 -> 1 - label_smoothing), ``objective="standard"``
            only. Defaults to 0.
        seed: int or None, seed of the latent draws during training and of
            ``sample(seed=None)``.
        augment: None (default) or a ``keras.layers.Layer`` applied during
            training to every batch the discriminator sees, real and fake
            separately, as ``augment(images, training=True)``; it must be
            differentiable, since the generator's gradient passes through it
            (e.g. ``keras_gen.augment.DiffAugment``). If it has a method
            ``observe(real_logits)``, the discriminator step calls it with the
            logits of the augmented real batch (adaptive augmentation updates
            its strength there; not with ``objective="wgan-gp"``, whose
            critic's sign means nothing). ``test_step`` and ``sample`` never
            augment.
        objective: ``"standard"`` (default: the source notes' cross-entropy
            game), ``"hinge"``, ``"wgan-gp"`` or ``"relativistic"`` (see
            above).
        gp_weight: float >= 0 or None, lambda of WGAN-GP's gradient penalty,
            ``objective="wgan-gp"`` only. Defaults to None (10, the paper's).
        r1_gamma: float >= 0, weight gamma of the R1 penalty on real data,
            any objective. Defaults to 0 (off).
        reuse_fakes: bool, whether the generator step reuses the last
            discriminator iteration's fakes and G's forward pass (see
            above) instead of drawing fresh z. Defaults to False (the source
            notes' algorithm).
        top_k: None (default) or a fraction in (0, 1]: top-k training
            (Sinha et al. 2020). The generator's loss is averaged over only
            the ceil(top_k * batch) fakes with the lowest generator loss
            (those the discriminator finds most real), so G is not pulled
            towards the samples D rejects; ties at the cut all count. The
            discriminator's step and ``test_step`` are unchanged.
        top_k_steps: int >= 0, generator steps (``g_optimizer.iterations``)
            over which the share falls linearly from 1 to ``top_k``, then
            stays there. Defaults to 0: ``top_k`` from the first step.
        consistency: float >= 0, weight lambda of bCR (see above; the
            paper's is 10 for both terms). Defaults to 0 (off).
        consistency_augment: None or a ``keras.layers.Layer``, the transform
            T, called as ``layer(images, training=True)`` (differentiable
            or not: no gradient flows to the images); not adaptive (no
            ``observe``) and not the ``augment`` layer itself. Defaults to None:
            ``keras_gen.augment.DiffAugment("translation", seed=(seed + 1) % 2**31)``
            (shifts of up to 1/8 of the image, the paper's CIFAR-10
            translation) when ``consistency > 0``. Refused with
            ``consistency=0``.
        lecam: float >= 0, weight lambda of the LeCam regularizer (see
            above). Defaults to 0 (off).
        lecam_decay: None or a float in [0, 1), momentum of its moving
            averages. Defaults to None: 0.99 when ``lecam > 0``. Refused with
            ``lecam=0``.
        **kwargs: base ``keras.Model`` arguments.

    Example:

    >>> import keras, numpy as np, keras_gen
    >>> g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
    ...                       keras.layers.Reshape((4, 4, 1))])
    >>> d = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
    >>> gan = keras_gen.GAN(g, d, latent_dim=2, seed=0)
    >>> gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
    ...             g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    >>> real = np.random.uniform(-1, 1, (32, 4, 4, 1)).astype("float32")
    >>> sorted(gan.fit(real, batch_size=16, epochs=1, verbose=0).history)
    ['d_fake', 'd_loss', 'd_real', 'g_loss']
    >>> gan.sample(3, seed=1).shape
    (3, 4, 4, 1)
    """

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        d_steps=None,
        generator_loss=None,
        label_smoothing=0.0,
        seed=None,
        augment=None,
        objective="standard",
        gp_weight=None,
        r1_gamma=0.0,
        reuse_fakes=False,
        top_k=None,
        top_k_steps=0,
        consistency=0.0,
        consistency_augment=None,
        lecam=0.0,
        lecam_decay=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.generator = base.check_sub_model("generator", generator)
        self.discriminator = base.check_sub_model("discriminator", discriminator)
        self._latent_dim = checks.positive_int("latent_dim", latent_dim)
        self.objective = checks.choice("objective", objective, losses.OBJECTIVES)
        critic = self.objective != "standard"
        if d_steps is None:
            d_steps = WGAN_GP_D_STEPS if self.objective == "wgan-gp" else 1
        self.d_steps = checks.positive_int("d_steps", d_steps)
        if critic and generator_loss is not None:
            own = ("-log sigmoid(D(G(z)) - mean D(x)) - log(1 - sigmoid(D(x) - mean D(G(z))))"
                   if self.objective == "relativistic" else "-D(G(z))")
            raise ValueError(
                "generator_loss applies to objective='standard' only; the "
                f"{self.objective!r} objective's generator minimises {own}. "
                f"Received: generator_loss={generator_loss!r} with objective={self.objective!r}"
            )
        if not critic:
            generator_loss = "non_saturating" if generator_loss is None else generator_loss
            self.generator_loss_fn = losses.generator_loss(generator_loss)
        elif self.objective == "relativistic":
            self.generator_loss_fn = losses.relativistic_generator_loss
        else:
            self.generator_loss_fn = losses.critic_generator_loss
        self.generator_loss = generator_loss
        self.label_smoothing = checks.probability("label_smoothing", label_smoothing)
        if critic and self.label_smoothing > 0:
            raise ValueError(
                "label_smoothing applies to objective='standard' only. Received: "
                f"label_smoothing={label_smoothing!r} with objective={self.objective!r}"
            )
        if gp_weight is not None and self.objective != "wgan-gp":
            raise ValueError(
                "gp_weight is the weight of WGAN-GP's gradient penalty and applies to "
                f"objective='wgan-gp' only. Received: gp_weight={gp_weight!r} with "
                f"objective={self.objective!r}"
            )
        if self.objective == "wgan-gp":
            gp_weight = WGAN_GP_WEIGHT if gp_weight is None else gp_weight
            gp_weight = checks.non_negative_float("gp_weight", gp_weight)
        self.gp_weight = gp_weight
        self.r1_gamma = checks.non_negative_float("r1_gamma", r1_gamma)
        self.reuse_fakes = checks.boolean("reuse_fakes", reuse_fakes)
        if top_k is not None and self.objective == "relativistic":
            raise ValueError(
                "top_k does not apply to objective='relativistic' (its generator loss "
                f"is not a sum over fakes alone). Received: top_k={top_k!r}"
            )
        if top_k is not None:
            top_k = float(checks.positive_float("top_k", top_k))
            if top_k > 1:
                raise ValueError(f"top_k must be a fraction in (0, 1]. Received: top_k={top_k!r}")
        self.top_k = top_k
        self.top_k_steps = checks.non_negative_int("top_k_steps", top_k_steps)
        self.d_loss_fn = {
            "standard": lambda r, f: losses.discriminator_loss(r, f, self.label_smoothing),
            "hinge": losses.hinge_discriminator_loss,
            "wgan-gp": losses.wasserstein_critic_loss,
            "relativistic": losses.relativistic_discriminator_loss,
        }[self.objective]
        self.seed = checks.seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="latent_seed")
        self.augment = _check_augment(augment)
        if self.objective == "wgan-gp" and hasattr(self.augment, "observe") and not _LOADING_ADAPTIVE_CRITIC:
            raise ValueError(
                "An adaptive augment layer (one with observe(real_logits), such as "
                "AdaptiveAugment) does not apply to objective='wgan-gp': a critic's output has no "
                "sign that means real or fake (adding a constant changes neither its loss nor "
                "its gradient penalty), so the overfitting signal E[sign(D(x))] would steer the "
                "strength by the critic's arbitrary offset. Use a fixed-strength "
                "keras_gen.augment.DiffAugment, or another objective. Received: "
                f"augment={self.augment!r} with objective='wgan-gp'"
            )
        self.consistency = checks.non_negative_float("consistency", consistency)
        consistency_augment = _check_augment(consistency_augment, "consistency_augment")
        if consistency_augment is not None and (
                consistency_augment is self.augment or hasattr(consistency_augment, "observe")):
            raise ValueError(
                "consistency_augment must be a fixed transform of its own: not the augment "
                "layer itself (they would share one random stream) and not an adaptive one "
                "(nothing steers its strength; it would stay at its start). Received: "
                f"consistency_augment={consistency_augment!r}"
            )
        if consistency_augment is not None and self.consistency == 0:
            raise ValueError(
                "consistency_augment is the transform of the consistency term and needs "
                f"consistency > 0. Received: consistency={consistency!r}, "
                f"consistency_augment={consistency_augment!r}"
            )
        if consistency_augment is None and self.consistency > 0:
            from keras_gen import augment as augment_module

            # Its own stream: the latent draws use `seed` itself.
            consistency_augment = augment_module.DiffAugment(
                "translation", seed=checks.derived_seed(self.seed))
        self.consistency_augment = consistency_augment
        self.lecam = checks.non_negative_float("lecam", lecam)
        if lecam_decay is not None and self.lecam == 0:
            raise ValueError(
                "lecam_decay is the momentum of the LeCam term's moving averages and needs "
                f"lecam > 0. Received: lecam={lecam!r}, lecam_decay={lecam_decay!r}"
            )
        if lecam_decay is None and self.lecam > 0:
            lecam_decay = LECAM_DECAY
        self.lecam_decay = (None if lecam_decay is None
                            else checks.probability("lecam_decay", lecam_decay))
        self.lecam_anchors = None
        if self.lecam > 0:
            self.lecam_anchors = self.add_weight(
                shape=(2,), initializer="zeros", dtype="float32", trainable=False,
                aggregation="mean", name="lecam_anchors")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="d_real")
        self.d_fake_tracker = keras.metrics.Mean(name="d_fake")
        self.metric_trackers = [
            self.d_loss_tracker,
            self.g_loss_tracker,
            self.d_real_tracker,
            self.d_fake_tracker,
        ]
        if self.objective == "wgan-gp":
            self.gp_tracker = keras.metrics.Mean(name="gp")
            self.metric_trackers.append(self.gp_tracker)
        if self.r1_gamma > 0:
            self.r1_tracker = keras.metrics.Mean(name="r1")
            self.metric_trackers.append(self.r1_tracker)
        if self.consistency > 0:
            self.cr_tracker = keras.metrics.Mean(name="cr")
            self.metric_trackers.append(self.cr_tracker)
        if self.lecam > 0:
            self.lc_tracker = keras.metrics.Mean(name="lc")
            self.metric_trackers.append(self.lc_tracker)
        self.d_optimizer = None
        self.g_optimizer = None
        # call() takes latent vectors, so build now: the trainers must never
        # try to build the model by calling it on images.
        self.build(self._build_shape((None, self.latent_dim)))

    @property
    def metrics(self):
        # An augment layer's own metrics (AdaptiveAugment: augment_p,
        # augment_rt) are logged with the GAN's, reset each epoch, and carried
        # as step state on JAX like the GAN's trackers.
        extra = [] if self.augment is None else list(self.augment.metrics)
        return super().metrics + extra

    def build(self, input_shape):
        declared = base.known_input_shape(self.generator)
        if declared is not None and tuple(declared[1:]) != tuple(input_shape[1:]):
            raise ValueError(
                "latent_dim must match the generator's input size. Received: "
                f"latent_dim={input_shape[-1]}, generator input shape {declared}"
            )
        z = keras.KerasTensor(tuple(input_shape))
        images = self.generator(z)
        if isinstance(images, (list, tuple)):
            raise ValueError(
                "The generator must return one image tensor. "
                f"Received: generator outputs {[t.shape for t in images]}"
            )
        expected = base.known_input_shape(self.discriminator)
        if expected is not None and tuple(expected[1:]) != tuple(images.shape[1:]):
            raise ValueError(
                "The discriminator's input shape must equal the generator's "
                f"output shape. Received: generator output shape {tuple(images.shape)}, "
                f"discriminator input shape {expected}"
            )
        logits = self.discriminator(images)
        if isinstance(logits, (list, tuple)) or tuple(logits.shape[1:]) != (1,):
            shape = [t.shape for t in logits] if isinstance(logits, (list, tuple)) else tuple(logits.shape)
            raise ValueError(
                "The discriminator must return one logit per image, shape "
                f"(batch, 1). Received: discriminator output shape {shape}"
            )
        self.image_shape = tuple(images.shape[1:])
        self._build_augmentations(tuple(images.shape))

    def _symbolic_build(self, iterator=None, data_batch=None):
        # The GAN was built from latent vectors in __init__, so a layer still
        # unbuilt here is one that the networks' inference-mode forward pass
        # does not use. The JAX and PyTorch trainers (and TensorFlow's under
        # a distribution strategy) would build it by calling the GAN on a
        # batch of images, which call() does not take: they see it as built
        # while they build the optimizers. (A layer used in training steps
        # only must be built by its network's build(): JAX cannot create
        # weights inside a step.)
        unused = [layer for layer in self._flatten_layers() if not layer.built]
        for layer in unused:
            layer.built = True
        try:
            return super()._symbolic_build(iterator=iterator, data_batch=data_batch)
        finally:
            for layer in unused:
                layer.built = False

    def _check_for_training(self):
        """A discriminator ending in a squashing activation cannot train here
        (checked by ``fit``, so that such a model saved earlier still loads)."""
        activation = base.final_activation(self.discriminator)
        if activation in ("sigmoid", "hard_sigmoid", "tanh"):
            # read as logits, sigmoid outputs would keep D(x) in [0.5, 0.73]
            raise ValueError(
                "The discriminator must return logits (no final activation): the GAN's "
                "losses apply the sigmoid themselves. Received: a discriminator whose final "
                f"activation is {activation!r}"
            )

    def _build_augmentations(self, images_shape):
        """Build the augment layers before any step (in a step, JAX could not create their state)."""
        for layer in (self.augment, self.consistency_augment):
            if layer is not None and not layer.built:
                # The trainers build an unbuilt model by calling it on images.
                layer.build(images_shape)

    def call(self, inputs, training=False):
        """Generate images from latent vectors ``inputs``."""
        return self.generator(inputs, training=training)

    # ------------------------------------------------------------ training
    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Configure training with one optimizer per player.

        Args:
            d_optimizer: ``keras.optimizers.Optimizer`` (or its name) for the
                discriminator. Required.
            g_optimizer: optimizer for the generator. Required, and a
                different instance from ``d_optimizer``. An exponential
                moving average of the generator's weights for sampling is
                Keras' own optimizer option: ``keras.optimizers.Adam(2e-4,
                beta_1=0.5, use_ema=True, ema_momentum=0.99)``; ``fit`` then
                ends with the generator holding the averaged weights (the
                discriminator keeps its own), and
                ``keras.callbacks.SwapEMAWeights`` shows them during
                evaluation.
            **kwargs: other ``keras.Model.compile`` arguments
                (``jit_compile``, ``run_eagerly``, ``steps_per_execution``).
        """
        for name, value in (("d_optimizer", d_optimizer), ("g_optimizer", g_optimizer)):
            if value is None:
                raise ValueError(
                    "GAN.compile() needs both d_optimizer and g_optimizer, e.g. "
                    "keras.optimizers.Adam(2e-4, beta_1=0.5) for each. "
                    f"Received: {name}=None"
                )
        if "optimizer" in kwargs:
            raise ValueError(
                "GAN.compile() takes d_optimizer and g_optimizer, not optimizer. "
                f"Received: optimizer={kwargs['optimizer']!r}"
            )
        if kwargs.get("metrics") or kwargs.get("weighted_metrics"):
            raise ValueError(
                "A GAN reports d_loss, g_loss, d_real and d_fake; compile(metrics=...) "
                f"is not supported. Received: metrics={kwargs.get('metrics') or kwargs.get('weighted_metrics')!r}"
            )
        if kwargs.get("loss") is not None:
            raise ValueError(
                "A GAN computes its own losses (generator_loss=...); do not pass `loss`. "
                f"Received: loss={kwargs['loss']!r}"
            )
        self.d_optimizer = keras.optimizers.get(d_optimizer)
        self.g_optimizer = keras.optimizers.get(g_optimizer)
        if kwargs.pop("auto_scale_loss", True) and self.dtype_policy.name == "mixed_float16":
            # Keras would wrap the group in one LossScaleOptimizer; each
            # player needs its own dynamic loss scale instead.
            self.d_optimizer = _loss_scaled(self.d_optimizer)
            self.g_optimizer = _loss_scaled(self.g_optimizer)
        group = backend.OptimizerGroup(
            {"d_optimizer": self.d_optimizer, "g_optimizer": self.g_optimizer},
            {
                "d_optimizer": lambda: self.discriminator.trainable_variables,
                "g_optimizer": lambda: self.generator.trainable_variables,
            },
        )
        super().compile(optimizer=group, auto_scale_loss=False, **kwargs)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        # Backend-neutral optimizer classes: the file trains on any backend.
        return portable.portable_config({
            "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
            "g_optimizer": keras.saving.serialize_keras_object(self.g_optimizer),
        })

    def _latents(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    # The players, as the steps call them. A conditional subclass overrides
    # _condition (labels -> what the networks take) and _generate /
    # _discriminate (how the condition reaches G and D); the unconditional
    # GAN ignores labels (split_batch's rule).
    def _condition(self, labels):
        return None

    def _generate(self, z, condition, training):
        return self.generator(z, training=training)

    def _discriminate(self, images, condition, training):
        return self.discriminator(images, training=training)

    def _augmented(self, images, training):
        if self.augment is None or not training:
            return images
        return self.augment(images, training=True)

    def _seen(self, images, condition, training):
        """D's output on ``images`` as the losses see them: through the augmentation."""
        return self._discriminate(self._augmented(images, training), condition, training)

    def _relative(self, logits, others):
        """``logits`` as the objective reads them: relative to the mean of ``others``
        under "relativistic" (its D(x) is sigmoid(C(x) - mean C(G(z)))), else as given."""
        if self.objective != "relativistic":
            return logits
        return ops.cast(logits, "float32") - ops.mean(ops.cast(others, "float32"))

    def _scores(self, logits, others=None):
        """What d_real / d_fake report: D = sigmoid(logits) (relative ones under
        "relativistic", ``others`` the other batch's logits), or the raw critic score."""
        logits = ops.cast(self._relative(logits, others), "float32")
        return ops.mean(logits if self.objective in ("hinge", "wgan-gp") else ops.sigmoid(logits))

    def _d_losses(self, real, z, condition, training, fake=None):
        """The discriminator's loss and its logged terms (``d_real``, ``gp``, ``r1``, ``cr``, ``lc``).

        ``fake`` is the generated batch, or None to generate it from ``z``.
        In training steps with ``lecam > 0`` it also moves ``lecam_anchors``.
        """
        if fake is None:
            fake = self._generate(z, condition, training)

        def seen(images):
            return self._seen(images, condition, training)

        terms = {}
        if self.r1_gamma > 0:
            # R1 on the real images before augmentation, the gradient taken
            # through it (as StyleGAN2-ADA); the same pass gives the logits.
            real_logits, real_grad = backend.value_and_input_gradient(seen, ops.stop_gradient(real))
            terms["r1"] = ops.mean(losses.r1_penalty(real_grad))
        else:
            real_logits = seen(real)
        fake_logits = seen(fake)
        if training and self.augment is not None and hasattr(self.augment, "observe"):
            self.augment.observe(self._relative(real_logits, fake_logits))
        loss = ops.mean(self.d_loss_fn(real_logits, fake_logits))
        if self.objective == "wgan-gp":
            # Random interpolates of the un-augmented real and fake batches,
            # one eps ~ U(0, 1) per example; the critic sees them augmented
            # like every other batch and the gradient is taken through that.
            eps_shape = (ops.shape(real)[0],) + (1,) * (len(real.shape) - 1)
            eps = ops.cast(keras.random.uniform(eps_shape, seed=self.seed_generator), real.dtype)
            x_hat = eps * real + (1.0 - eps) * ops.cast(fake, real.dtype)
            grad = backend.input_gradient(seen, ops.stop_gradient(x_hat))
            terms["gp"] = ops.mean(losses.gradient_penalty(grad))
            loss = loss + self.gp_weight * terms["gp"]
        if self.r1_gamma > 0:
            loss = loss + 0.5 * self.r1_gamma * terms["r1"]
        if self.consistency > 0 and training:
            # bCR: D's outputs on each batch and on its transformed copy agree.
            def gap(images, logits):
                copy = self.consistency_augment(ops.stop_gradient(images), training=True)
                moved = self._discriminate(copy, condition, training)
                return ops.mean(ops.square(ops.cast(logits, "float32") - ops.cast(moved, "float32")))

            terms["cr"] = gap(real, real_logits) + gap(fake, fake_logits)
            loss = loss + self.consistency * terms["cr"]
        if self.lecam > 0 and training:
            r = ops.cast(real_logits, "float32")
            f = ops.cast(fake_logits, "float32")
            anchors = ops.cast(self.lecam_anchors, "float32")
            terms["lc"] = (ops.mean(ops.square(r - anchors[1]))
                           + ops.mean(ops.square(f - anchors[0])))
            loss = loss + self.lecam * terms["lc"]
            now = ops.stop_gradient(ops.stack([ops.mean(r), ops.mean(f)]))
            self.lecam_anchors.assign(self.lecam_decay * anchors + (1.0 - self.lecam_decay) * now)
        terms["d_real"] = self._scores(real_logits, fake_logits)
        return loss, terms

    def _g_losses(self, z, condition, training, real=None):
        return self._g_losses_on(self._generate(z, condition, training), condition, training, real)

    def _g_losses_on(self, fake, condition, training, real=None):
        """The generator's loss on generated images ``fake``, and the logged ``d_fake``.

        ``real``: the step's real batch, which the relativistic objective
        scores too (as constants); the other objectives ignore it.
        """
        fake_logits = self._seen(fake, condition, training)
        if self.objective == "relativistic":
            real_logits = ops.stop_gradient(self._seen(real, condition, training))
            return (ops.mean(self.generator_loss_fn(real_logits, fake_logits)),
                    self._scores(fake_logits, real_logits))
        per_example = self.generator_loss_fn(fake_logits)
        if self.top_k is None or not training:
            return ops.mean(per_example), self._scores(fake_logits)
        # Top-k: G learns only from the fakes D finds most real (lowest G loss).
        ranked = ops.stop_gradient(per_example)
        fraction = ops.convert_to_tensor(self.top_k, "float32")
        if self.top_k_steps:
            done = ops.minimum(ops.cast(self.g_optimizer.iterations, "float32")
                               / float(self.top_k_steps), 1.0)
            fraction = 1.0 - (1.0 - fraction) * done
        n = ops.cast(ops.shape(ranked)[0], "float32")
        k = ops.cast(ops.maximum(ops.ceil(fraction * n), 1.0), "int32")
        cut = ops.take(ops.sort(ranked), k - 1)  # the k-th lowest loss
        chosen = ops.cast(ranked <= cut, per_example.dtype)
        loss = ops.sum(per_example * chosen) / ops.sum(chosen)
        return loss, self._scores(fake_logits)

    def train_step(self, data):
        real, _, labels = base.split_batch(data)
        condition = self._condition(labels)
        batch_size = ops.shape(real)[0]
        kept = None
        for step in range(self.d_steps):
            z = self._latents(batch_size)
            given = {}
            if self.reuse_fakes and step == self.d_steps - 1:
                # G's forward pass on this z, kept for the generator step.
                kept = backend.keep_forward(
                    self,
                    lambda: self._generate(z, condition, training=True),
                    self.generator.trainable_variables,
                )
                given = {"fake": kept.output}
            d_loss, d_terms = self.minimize(
                lambda: self._d_losses(real, z, condition, training=True, **given),
                self.discriminator.trainable_variables,
                self.d_optimizer,
                has_aux=True,
            )
        if kept is None:
            z = self._latents(batch_size)
            g_loss, d_fake = self.minimize(
                lambda: self._g_losses(z, condition, training=True, real=real),
                self.generator.trainable_variables,
                self.g_optimizer,
                has_aux=True,
            )
        else:
            g_loss, d_fake = backend.minimize_kept(
                self,
                lambda fake: self._g_losses_on(fake, condition, training=True, real=real),
                kept,
                self.g_optimizer,
                has_aux=True,
            )
        return self.update_metrics({"d_loss": d_loss, "g_loss": g_loss, "d_fake": d_fake, **d_terms})

    def test_step(self, data):
        real, _, labels = base.split_batch(data)
        condition = self._condition(labels)
        batch_size = ops.shape(real)[0]
        d_loss, d_terms = self._d_losses(real, self._latents(batch_size), condition, training=False)
        g_loss, d_fake = self._g_losses(self._latents(batch_size), condition, training=False, real=real)
        logs = self.update_metrics({"d_loss": d_loss, "g_loss": g_loss, "d_fake": d_fake, **d_terms})
        # training-only terms: no val_cr, val_lc; the augment layer's metrics
        # (augment_p, augment_rt) follow its training steps, which evaluation
        # does not take, so they are not evaluation results either
        training_only = ["cr", "lc"] + ([] if self.augment is None else [m.name for m in self.augment.metrics])
        for name in training_only:
            logs.pop(name, None)
        return logs

    # ---------------------------------------------------------- inference
    # The model protocol (see GenerativeModel): ``sample(n, seed=None)``
    # draws z ~ N(0, I) and runs the generator.
    default_output_range = (-1.0, 1.0)

    @property
    def latent_dim(self):
        """Size of z (int)."""
        return self._latent_dim

    @property
    def decoding_network(self):
        """The generator."""
        return self.generator

    def _prior_seed_generator(self):
        return self.seed_generator

    def standing_statistics(self, num_samples=4096, labels=None, *, seed=0, batch_size=256):
        """Re-estimate G's BatchNormalization statistics for its current weights.

        In training G's BatchNormalization layers normalise with each
        batch's statistics and keep moving averages of them for inference;
        those averages were collected along the way by the weights G had
        then. After training with an exponential moving average of G's
        weights (``use_ema=True`` on ``g_optimizer``), G holds the averaged
        weights but the statistics of the raw ones, and samples suffer from
        the mismatch. This sets each trainable BatchNormalization layer's
        moving mean and variance to the mean over ``num_samples`` draws of
        z ~ N(0, I), in ``ceil(num_samples / batch_size)`` batches of equal
        size (give or take one draw, so at most ``batch_size`` each and no
        small last batch; with ``batch_size=2`` and an odd ``num_samples``,
        one batch of 3), of the batch statistics G computes in training mode
        with the weights it holds now, each batch weighted by its size (BigGAN's
        "standing statistics", Brock et al. 2019). G's weights, every other
        variable of G and the GAN's random streams do not change (with the
        default int ``seed``), so a ``fit`` after it trains exactly as it
        would have; the next training step's BatchNormalization update
        starts from the new statistics.

        Args:
            num_samples: int >= 2, draws of z used.
            labels: must be None for a ``GAN``; a ``ConditionalGAN`` needs
                the labels to generate for, as in its ``sample`` (one for all
                draws, or one per draw), best drawn like the training labels.
            seed: int or None: the draws of z are reproducible from an int;
                with None the model's SeedGenerator advances.
            batch_size: int >= 2, the most draws per batch (see above);
                the statistics are the mean of the per-batch ones, so use
                about the training batch size or more.

        Returns:
            The number of BatchNormalization layers whose statistics were
            set (0 when G has none, which leaves G unchanged).
        """
        num_samples = checks.positive_int("num_samples", num_samples)
        batch_size = checks.positive_int("batch_size", batch_size)
        for name, value in (("num_samples", num_samples), ("batch_size", batch_size)):
            if value < 2:
                raise ValueError(f"{name} must be at least 2: one sample gives no variance "
                                 "between samples. "
                                 f"Received: {name}={value}")
        condition = self._standing_condition(labels, num_samples)
        z = base.draw_latents(num_samples, self.latent_dim, seed, self._prior_seed_generator())
        # ceil(num_samples / batch_size) batches, but none of a single draw
        count = max(1, min(-(-num_samples // batch_size), num_samples // 2))
        edges = [num_samples * k // count for k in range(count + 1)]
        batches = (self._generator_inputs(z[a:b], None if condition is None else condition[a:b])
                   for a, b in zip(edges[:-1], edges[1:]))
        return base.batch_norm_statistics(self.generator, batches)

    def _standing_condition(self, labels, n):
        base.check_unconditional(self, labels)
        return None

    def _generator_inputs(self, z, condition):
        return z

    def generate(self, n, seed=None, batch_size=None):
        """Deprecated alias of :meth:`sample`: ``n`` images as NumPy ``(n, H, W, C)``."""
        warnings.warn(
            "GAN.generate() is deprecated; use GAN.sample(n, seed=None, batch_size=None), "
            "the name every keras-gen model uses for drawing samples.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.sample(n, seed=seed, batch_size=batch_size)

    # -------------------------------------------------------------- config
    def load_own_variables(self, store):
        """Keras' loading of the GAN's own variables, naming ``lecam`` when the file's LeCam state differs.

        The GAN's own variable is ``lecam_anchors`` (present with
        ``lecam > 0``); a file written with LeCam on holds one variable more
        than a GAN without it, and one fewer the other way round.
        """
        saved = sum(1 for key in store.keys() if not str(key).startswith(_saving._SEED_KEY))
        own = len(self._trainable_variables) + len(self._non_trainable_variables)
        with_anchors = self.lecam_anchors is not None
        if saved == own + (-1 if with_anchors else 1):
            file_state = "without LeCam (lecam=0)" if with_anchors else "with LeCam (lecam > 0)"
            raise ValueError(
                f"The weights were saved from a GAN {file_state}, whose LeCam anchors "
                f"{'it lacks' if with_anchors else 'this GAN lacks'}; this GAN has "
                f"lecam={self.lecam!r}. Build the GAN with "
                f"{'lecam=0' if with_anchors else 'the lecam > 0 it was trained with'} "
                "to load them")
        super().load_own_variables(store)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                "latent_dim": self.latent_dim,
                "d_steps": self.d_steps,
                "generator_loss": self.generator_loss,
                "label_smoothing": self.label_smoothing,
                "seed": self.seed,
                "augment": (
                    None if self.augment is None
                    else keras.saving.serialize_keras_object(self.augment)
                ),
                "objective": self.objective,
                "gp_weight": self.gp_weight,
                "r1_gamma": self.r1_gamma,
                "reuse_fakes": self.reuse_fakes,
                "top_k": self.top_k,
                "top_k_steps": self.top_k_steps,
                "consistency": self.consistency,
                "consistency_augment": (
                    None if self.consistency_augment is None
                    else keras.saving.serialize_keras_object(self.consistency_augment)
                ),
                "lecam": self.lecam,
                "lecam_decay": self.lecam_decay,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        for key in ("augment", "consistency_augment"):
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        if config.get("objective") == "wgan-gp" and hasattr(config.get("augment"), "observe"):
            # Saved before this pairing was refused (dcgan_celeba.py's grey defaults gave
            # wgan-gp ADA): such files still load, sample and export.
            global _LOADING_ADAPTIVE_CRITIC
            _LOADING_ADAPTIVE_CRITIC = True
            try:
                gan = cls(**config)
            finally:
                _LOADING_ADAPTIVE_CRITIC = False
            warnings.warn(
                "This GAN pairs objective='wgan-gp' with an adaptive augment layer, which new "
                "GANs refuse: a critic's sign means nothing, so further training would steer the "
                "augmentation strength by the critic's arbitrary offset.", UserWarning, stacklevel=2)
            return gan
        return cls(**config)


# True while from_config rebuilds a saved GAN that pairs wgan-gp with an
# adaptive augment layer (refused for new GANs, loaded with a warning).
_LOADING_ADAPTIVE_CRITIC = False

# The LeCam term's moving-average momentum (Tseng et al. 2021's 0.99).
LECAM_DECAY = 0.99

# WGAN-GP's defaults (Gulrajani et al. 2017, Algorithm 1): lambda = 10 and
# n_critic = 5 critic iterations per generator iteration.
WGAN_GP_WEIGHT = 10.0
WGAN_GP_D_STEPS = 5


def _check_augment(augment, name="augment"):
    if augment is None or isinstance(augment, keras.layers.Layer):
        return augment
    raise TypeError(
        f"{name} must be None or a keras.layers.Layer called as {name}(images, training=True) "
        f"(e.g. keras_gen.augment.DiffAugment). Received: {name}={augment!r}"
    )


def _loss_scaled(optimizer):
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer, name=f"loss_scaled_{optimizer.name}")
