"""Plain-Keras reference models for the quality comparison (benchmarks/quality.py).

What a user would write in an afternoon from the public examples, kept
deliberately plain so that anyone can check the comparison in
`recipes/evaluate.py --reproduce` is fair:

* `keras_io_vae`: the convolutional VAE of the keras.io example
  "Variational AutoEncoder" (fchollet): two stride-2 3x3 convolutions with
  32 and 64 filters, `Dense(16)`, a `z_mean` / `z_log_var` head; the
  decoder `Dense(7*7*64)` -> two stride-2 `Conv2DTranspose` (64, 32) ->
  `Conv2DTranspose(1, 3, sigmoid)`. Loss: per-image sum of binary
  cross-entropy over the pixels plus the KL to N(0, I), averaged over the
  batch; Adam with Keras' default learning rate. Written with Keras' own
  `fit` (the Sampling layer adds the KL through `add_loss`), so it trains
  on every backend; the maths is the example's.
* `tf_tutorial_dcgan`: the generator and discriminator of the TensorFlow
  tutorial "Deep Convolutional Generative Adversarial Network", trained by
  `train_tf_tutorial_dcgan` (or step by step with `TutorialDCGAN`) as the
  tutorial does: one `tf.GradientTape` pair per step, both players updated
  from the same forward pass, BCE from logits, 100-dimensional normal
  noise, images in [-1, 1]. Optimizers: `optimizer="tutorial"` is the
  tutorial's own Adam(1e-4) for each player (the default, as in the
  tutorial); `optimizer="paper"` is the DCGAN paper's Adam(2e-4,
  beta_1=0.5) (Radford et al., 2015), the stronger reference. It needs the
  TensorFlow backend (the tutorial is TensorFlow code).

  At 28x28x1 the networks are exactly the tutorial's. Other image shapes
  keep its pattern, scaled (`tutorial_layout`): the generator projects the
  noise with a bias-free `Dense` to a `s x s x 256` map (BN, LeakyReLU),
  then `Conv2DTranspose(128, 5, strides=1)`, then stride-2 5x5 transposed
  convolutions whose widths keep halving (64, 32, ...), the last one to the
  image's channels with tanh; `n` stride-2 stages, the most for which the
  start map `s = side / 2**n` is a whole number of at least 7 pixels (the
  tutorial's 7x7 at 28 px): 2 stages from 7x7 at 28 px, 3 from 8x8 at
  64 px (widths 256 -> 128 -> 64 -> 32 -> 3). The discriminator has as many
  stride-2 `Conv2D(5x5)` + LeakyReLU + Dropout(0.3) blocks, widths doubling
  from 64 (64, 128, 256 at 64 px), then Flatten -> Dense(1).

Nothing here imports keras_gen.
"""

import keras
from keras import layers
from keras import ops

IMAGE_SHAPE = (28, 28, 1)
TUTORIAL_NOISE_DIM = 100


class KerasIOSampling(layers.Layer):
    """z = mean + exp(0.5 * log_var) * eps; adds the example's KL via add_loss."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        self.add_loss(ops.mean(ops.sum(kl, axis=1)))
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps


def summed_binary_crossentropy(y_true, y_pred):
    """The example's reconstruction loss: BCE summed over the pixels of each image."""
    bce = keras.losses.binary_crossentropy(y_true[..., None], y_pred[..., None])
    return ops.sum(ops.reshape(bce, (ops.shape(bce)[0], -1)), axis=1)


def keras_io_vae(latent_dim, seed=0):
    """Build the keras.io example VAE for 28x28x1 images in [0, 1].

    Returns:
        `(encoder, decoder, vae)`: the encoder maps images to
        `[z_mean, z_log_var]`, the decoder codes to images, and `vae` is a
        functional model images -> reconstructions compiled with the
        example's loss and optimizer, ready for `fit(x, x)`.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(IMAGE_SHAPE)
    h = layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
    h = layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(16, activation="relu")(h)
    z_mean = layers.Dense(latent_dim, name="z_mean")(h)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(h)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")

    codes = keras.Input((latent_dim,))
    h = layers.Dense(7 * 7 * 64, activation="relu")(codes)
    h = layers.Reshape((7, 7, 64))(h)
    h = layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(h)
    h = layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(h)
    outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(h)
    decoder = keras.Model(codes, outputs, name="decoder")

    mean, log_var = encoder(inputs)
    z = KerasIOSampling(seed=seed)([mean, log_var])
    vae = keras.Model(inputs, decoder(z), name="keras_io_vae")
    vae.compile(optimizer=keras.optimizers.Adam(), loss=summed_binary_crossentropy)
    return encoder, decoder, vae


TUTORIAL_START_MIN = 7  # the tutorial's 7x7 start map at 28 px
# Adam settings of each player: the tutorial's own, and the DCGAN paper's.
OPTIMIZER_SETTINGS = {
    "tutorial": {"learning_rate": 1e-4},
    "paper": {"learning_rate": 2e-4, "beta_1": 0.5},
}


def tutorial_layout(image_shape=IMAGE_SHAPE):
    """`(start_height, start_width, stages)` of the scaled tutorial networks.

    `stages` is the number of stride-2 layers: the largest `n >= 1` for
    which both sides are divisible by `2**n` with a start map of at least
    `TUTORIAL_START_MIN` pixels. `(7, 7, 2)` for 28x28 (the tutorial),
    `(8, 8, 3)` for 64x64.
    """
    height, width, channels = (int(v) for v in image_shape)
    stages = 0
    while (height % 2 ** (stages + 1) == 0 and width % 2 ** (stages + 1) == 0
           and min(height, width) // 2 ** (stages + 1) >= TUTORIAL_START_MIN):
        stages += 1
    if stages == 0 or channels < 1:
        raise ValueError(
            "image_shape must be (height, width, channels) with even sides of at least "
            f"{2 * TUTORIAL_START_MIN} px. Received: image_shape={tuple(image_shape)}"
        )
    return height // 2 ** stages, width // 2 ** stages, stages


def tf_tutorial_dcgan(seed=0, image_shape=IMAGE_SHAPE):
    """Build the TensorFlow DCGAN tutorial's `(generator, discriminator)`.

    Exactly the tutorial's networks for 28x28x1 (the default); scaled as
    `tutorial_layout` says for other shapes (see the module docstring).
    """
    start_h, start_w, stages = tutorial_layout(image_shape)
    channels = int(image_shape[-1])
    keras.utils.set_random_seed(seed)
    g_layers = [
        keras.Input((TUTORIAL_NOISE_DIM,)),
        layers.Dense(start_h * start_w * 256, use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
        layers.Reshape((start_h, start_w, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.LeakyReLU(),
    ]
    for stage in range(1, stages):
        g_layers += [
            layers.Conv2DTranspose(128 // 2 ** stage, 5, strides=2, padding="same",
                                   use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
        ]
    g_layers.append(layers.Conv2DTranspose(
        channels, 5, strides=2, padding="same", use_bias=False, activation="tanh"))
    generator = keras.Sequential(g_layers, name="tutorial_generator")

    d_layers = [keras.Input(tuple(int(v) for v in image_shape))]
    for stage in range(stages):
        d_layers += [
            layers.Conv2D(64 * 2 ** stage, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
        ]
    d_layers += [layers.Flatten(), layers.Dense(1)]
    discriminator = keras.Sequential(d_layers, name="tutorial_discriminator")
    return generator, discriminator


def _require_tensorflow():
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "The TensorFlow DCGAN tutorial reference needs KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )


class TutorialDCGAN:
    """The tutorial DCGAN's networks, optimizers and train step, trainable in pieces.

    Args:
        image_shape: `(height, width, channels)` of the images. Defaults to
            the tutorial's 28x28x1.
        optimizer: `"tutorial"` (Adam(1e-4) each, the tutorial's own) or
            `"paper"` (Adam(2e-4, beta_1=0.5) each, the DCGAN paper's).
        seed: int, seed of the weights (and of TensorFlow's global seed,
            which draws the noise).

    `train(batches)` runs one tutorial step per batch of real images in
    [-1, 1] and returns the number of steps; call it again to continue
    (optimizer state and noise stream carry on). `steps` counts them all.
    """

    def __init__(self, image_shape=IMAGE_SHAPE, optimizer="tutorial", seed=0):
        import tensorflow as tf

        _require_tensorflow()
        if optimizer not in OPTIMIZER_SETTINGS:
            raise ValueError(
                f"optimizer must be one of {sorted(OPTIMIZER_SETTINGS)}. "
                f"Received: optimizer={optimizer!r}"
            )
        self.optimizer = optimizer
        self.generator, self.discriminator = tf_tutorial_dcgan(seed, image_shape)
        self.cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
        self.g_optimizer = keras.optimizers.Adam(**OPTIMIZER_SETTINGS[optimizer])
        self.d_optimizer = keras.optimizers.Adam(**OPTIMIZER_SETTINGS[optimizer])
        self.steps = 0
        self._step = tf.function(self._train_step)
        tf.random.set_seed(seed)

    def _train_step(self, real):
        import tensorflow as tf

        generator, discriminator = self.generator, self.discriminator
        cross_entropy = self.cross_entropy
        noise = tf.random.normal([tf.shape(real)[0], TUTORIAL_NOISE_DIM])
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(noise, training=True)
            real_output = discriminator(real, training=True)
            fake_output = discriminator(fake, training=True)
            g_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            d_loss = cross_entropy(tf.ones_like(real_output), real_output) + cross_entropy(
                tf.zeros_like(fake_output), fake_output
            )
        g_grads = g_tape.gradient(g_loss, generator.trainable_variables)
        d_grads = d_tape.gradient(d_loss, discriminator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, generator.trainable_variables))
        self.d_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        return g_loss, d_loss

    def train(self, batches):
        """One tutorial step per batch of `batches`; returns how many ran."""
        count = 0
        for real in batches:
            self.losses = self._step(real)
            count += 1
        self.steps += count
        return count


def train_tf_tutorial_dcgan(images, steps, batch_size=64, seed=0, optimizer="tutorial"):
    """Train the tutorial DCGAN for `steps` steps on `images` in [-1, 1].

    Batches are drawn as the tutorial's `tf.data` pipeline does
    (`shuffle(len).batch(batch_size)`, repeated), keeping the last partial
    batch. The networks fit the images' shape (`tf_tutorial_dcgan`);
    `optimizer` is `"tutorial"` (Adam(1e-4), the tutorial's own, the
    default) or `"paper"` (Adam(2e-4, beta_1=0.5)). Returns the trained
    generator.
    """
    import tensorflow as tf

    _require_tensorflow()
    model = TutorialDCGAN(tuple(images.shape[1:]), optimizer, seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=seed)
        .batch(batch_size)
        .repeat()
        .take(steps)
    )
    model.train(dataset)
    return model.generator
