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
  `train_tf_tutorial_dcgan` exactly as the tutorial does: one
  `tf.GradientTape` pair per step, both players updated from the same
  forward pass, BCE from logits, Adam(1e-4) each, 100-dimensional normal
  noise, images in [-1, 1]. It needs the TensorFlow backend (the tutorial is
  TensorFlow code).

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


def tf_tutorial_dcgan(seed=0):
    """Build the TensorFlow DCGAN tutorial's `(generator, discriminator)`."""
    keras.utils.set_random_seed(seed)
    generator = keras.Sequential(
        [
            keras.Input((TUTORIAL_NOISE_DIM,)),
            layers.Dense(7 * 7 * 256, use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Reshape((7, 7, 256)),
            layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
            layers.BatchNormalization(),
            layers.LeakyReLU(),
            layers.Conv2DTranspose(
                1, 5, strides=2, padding="same", use_bias=False, activation="tanh"
            ),
        ],
        name="tutorial_generator",
    )
    discriminator = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE),
            layers.Conv2D(64, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Conv2D(128, 5, strides=2, padding="same"),
            layers.LeakyReLU(),
            layers.Dropout(0.3),
            layers.Flatten(),
            layers.Dense(1),
        ],
        name="tutorial_discriminator",
    )
    return generator, discriminator


def train_tf_tutorial_dcgan(images, steps, batch_size=64, seed=0):
    """Train the tutorial DCGAN for `steps` steps on `images` in [-1, 1].

    Batches are drawn as the tutorial's `tf.data` pipeline does
    (`shuffle(len).batch(batch_size)`, repeated), keeping the last partial
    batch. Returns the trained generator.
    """
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "The TensorFlow DCGAN tutorial reference needs KERAS_BACKEND=tensorflow. "
            f"Received: backend={keras.backend.backend()!r}"
        )
    generator, discriminator = tf_tutorial_dcgan(seed)
    cross_entropy = keras.losses.BinaryCrossentropy(from_logits=True)
    g_optimizer = keras.optimizers.Adam(1e-4)
    d_optimizer = keras.optimizers.Adam(1e-4)

    @tf.function
    def train_step(real):
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
        g_optimizer.apply_gradients(zip(g_grads, generator.trainable_variables))
        d_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        return g_loss, d_loss

    tf.random.set_seed(seed)
    dataset = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=seed)
        .batch(batch_size)
        .repeat()
        .take(steps)
    )
    for real in dataset:
        train_step(real)
    return generator
