"""How fast the shapes dataset renders, and what streaming it costs a DCGAN.

    KERAS_BACKEND=tensorflow python benchmarks/shapes_speed.py [--steps 30]

1. load_shapes (NumPy): 5,000 test images at 64x64 and 32x32, images/s.
2. load("shapes") alone: batches of 64 at 64x64, images/s and CPU s/batch.
3. The default DCGAN (keras_gen.networks.dcgan_*, batch 64, 64x64x3) fit
   for --steps steps on (a) load("shapes") as it streams and (b) the same
   batches pre-rendered in memory; alternated twice, s/step of each.
"""

import argparse
import time

import keras
import numpy as np

import keras_gen
from keras_gen.data import load, load_shapes


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    for size in (64, 32):
        load_shapes("test", image_size=size, num_examples=64)
        t = time.perf_counter()
        load_shapes("test", image_size=size, with_labels=False)
        dt = time.perf_counter() - t
        print(f"load_shapes 5000 images at {size}x{size}: {dt:.2f} s = {5000 / dt:.0f} images/s")

    ds = load("shapes", batch_size=64, seed=0, drop_remainder=True, value_range=(-1, 1))
    it = iter(ds)
    next(it)
    t, c = time.perf_counter(), time.process_time()
    for _ in range(100):
        next(it)
    wall, cpu = (time.perf_counter() - t) / 100, (time.process_time() - c) / 100
    del it
    print(f'load("shapes") 64x64, batch 64: {wall * 1e3:.1f} ms/batch wall '
          f"({64 / wall:.0f} images/s), {cpu * 1e3:.1f} ms CPU per batch")

    keras.utils.set_random_seed(0)
    generator = keras_gen.networks.dcgan_generator(100, (64, 64, 3))
    discriminator = keras_gen.networks.dcgan_discriminator((64, 64, 3))
    gan = keras_gen.GAN(generator, discriminator, latent_dim=100, seed=0)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    cached = ds.take(args.steps).cache().repeat()
    for _ in cached.take(args.steps):
        pass  # Render the cached batches once, before timing.
    streamed = ds.repeat()
    gan.fit(cached, epochs=1, steps_per_epoch=3, verbose=0)  # Build and trace.
    results = {"streamed": [], "in memory": []}
    for _ in range(2):
        for name, data in (("streamed", streamed), ("in memory", cached)):
            t = time.perf_counter()
            gan.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
            results[name].append((time.perf_counter() - t) / args.steps)
    for name, times in results.items():
        print(f"DCGAN step, batch 64, 64x64x3, data {name}: "
              + ", ".join(f"{s:.3f}" for s in times) + " s/step")
    s, m = np.mean(results["streamed"]), np.mean(results["in memory"])
    print(f"streaming overhead: {100 * (s / m - 1):+.1f}% per step")


if __name__ == "__main__":
    main()
