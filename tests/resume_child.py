"""Child process of tests/test_resume.py: train a tiny GAN or VAE with backups.

    python tests/resume_child.py WORKDIR KIND:MODE[:KILL_AT] ...

Runs the given trainings in order, in this one process (one Python and
backend start-up for several runs). KIND is ``gan``, ``gan_ada`` (the GAN
with adaptive augmentation, whose probability and random stream are state)
or ``vae``; MODE is
``full`` (train, no backup), ``kill`` (train with BackupAndRestore; after
global step KILL_AT write ``WORKDIR/marker_KIND`` and sleep until killed)
or ``resume`` (train with the same BackupAndRestore, resuming from its
backup). ``full`` and ``resume`` write the final weights, optimizer
variables and seed states to ``WORKDIR/final_KIND_MODE.npz``.
"""

import os
import sys
import time

import keras
import numpy as np

import keras_gen

EPOCHS = 3
BATCH = 8
N = 48  # 6 steps per epoch
SAVE_FREQ = 4  # backups after global steps 4, 8, 12, 16
# Shuffled where the backup can hold the order's generator (JAX: NumPy's,
# PyTorch: torch's); TensorFlow's tf.data shuffle cannot be restored.
SHUFFLE = keras.backend.backend() != "tensorflow"


def build(kind):
    keras.utils.set_random_seed(0)
    if kind in ("gan", "gan_ada"):
        g = keras.Sequential(
            [keras.Input((2,)), keras.layers.Dense(16, activation="tanh"),
             keras.layers.Reshape((4, 4, 1))]
        )
        d = keras.Sequential(
            [keras.Input((4, 4, 1)), keras.layers.Flatten(),
             keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        augment = None
        if kind == "gan_ada":
            # p starts at 0.5 and moves by 8 / 64 per step: augmented from the first step.
            augment = keras_gen.augment.AdaptiveAugment(
                "translation,cutout", translation=0.25, seed=2, ramp_images=64,
                initial_probability=0.5)
        model = keras_gen.GAN(g, d, latent_dim=2, seed=1, augment=augment)
        model.compile(
            d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2)
        )
        low = -1.0
    else:
        x = keras.Input((4, 4, 1))
        h = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(x))
        encoder = keras.Model(x, [keras.layers.Dense(2)(h), keras.layers.Dense(2)(h)])
        decoder = keras.Sequential(
            [keras.Input((2,)), keras.layers.Dense(16, activation="sigmoid"),
             keras.layers.Reshape((4, 4, 1))]
        )
        model = keras_gen.VAE(encoder, decoder, seed=1)
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        low = 0.0
    data = np.random.default_rng(0).uniform(low, 1.0, (N, 4, 4, 1)).astype("float32")
    return model, data


class KillPoint(keras.callbacks.Callback):
    """After global step ``at``: write the marker, then wait to be killed."""

    def __init__(self, at, marker):
        super().__init__()
        self.at, self.marker, self.step = at, marker, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.at:
            with open(self.marker, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(600)


def run(work, kind, mode, kill_at=None):
    model, data = build(kind)
    np.random.seed(5)  # the global generators a shuffled epoch draws from
    keras.utils.set_random_seed(5)
    callbacks = []
    if mode != "full":
        callbacks.append(
            keras_gen.callbacks.BackupAndRestore(
                os.path.join(work, f"backup_{kind}"), save_freq=SAVE_FREQ
            )
        )
    if mode == "kill":
        callbacks.append(KillPoint(int(kill_at), os.path.join(work, f"marker_{kind}")))
    model.fit(data, batch_size=BATCH, epochs=EPOCHS, shuffle=SHUFFLE, verbose=0,
              callbacks=callbacks)
    states = [keras.ops.convert_to_numpy(v) for v in model.weights]
    states += [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    seeds = [
        keras.ops.convert_to_numpy(g.state.value)
        for g in keras_gen.models._saving.owned_seed_generators(model)
    ]
    extra = {}
    if getattr(model, "augment", None) is not None:
        extra["augment_p"] = keras.ops.convert_to_numpy(model.augment.probability)
    np.savez(os.path.join(work, f"final_{kind}_{mode}.npz"), *states, seeds=np.stack(seeds), **extra)


if __name__ == "__main__":
    for plan in sys.argv[2:]:
        run(sys.argv[1], *plan.split(":"))
