"""Attribute altering on `shapes`, judged by a network the recipe never uses.

`recipes/alter_attributes.py` measures its edits with the package's shapes
attribute classifier. This script scores the same edits of a saved VAE
(`--save-model` of that recipe) with the independent network of
`independent_extractors.shapes_extractor` instead: a BatchNorm CNN trained
on another draw of the dataset to classify shape and colour and to regress
the continuous factors; its attributes are the arg-max shape and colour and
the dataset's own rules on the regressed background, radius and centre
(`independent_extractors.shapes_attributes`). For each attribute it alters
the first `--num-altered` test images without it, `vector` mode at
alpha = 1 with look-alike means (the recipe's defaults), and prints
target@1 / kept / kept/true (the recipe's definitions) for: the decodes
alone (`vector`, kept against the judge's labels of the reconstruction),
with the plain residual (`vector+res`), with the residual carried through
the colour change (`vector+res transported`, the recipe's default), and the
perfect edit (the scenes re-rendered with the attribute).

    KERAS_BACKEND=tensorflow python benchmarks/alter_independent.py --load-model vae.keras
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "recipes"))

COLOURS = ("Red", "Green", "Blue", "Yellow", "Magenta", "Cyan")
COLUMNS = ("target@1", "kept", "kept/true")


def edits(vae, x1, z1, step, reconstruction):
    """The alpha = 1 `vector` edits: decodes alone, plain residual, transported residual."""
    from keras_gen import latent

    decoded = latent.decode(vae, z1 + step)
    return {
        "vector": decoded,
        "vector+res": latent.add_residual(decoded, x1, reconstruction),
        "vector+res transported": latent.add_residual(decoded, x1, reconstruction,
                                                      transport=True),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--load-model", required=True, help="a VAE saved by alter_attributes.py")
    p.add_argument("--attributes", nargs="+", default=list(COLOURS))
    p.add_argument("--num-altered", type=int, default=400)
    p.add_argument("--train-examples", type=int, default=20000)
    p.add_argument("--test-examples", type=int, default=1000)
    p.add_argument("--extractor-examples", type=int, default=None,
                   help="training images of the independent network (its default if not given)")
    p.add_argument("--extractor-epochs", type=int, default=None)
    args = p.parse_args(argv)

    import keras
    import numpy as np

    import alter_attributes as recipe
    import independent_extractors
    from keras_gen import latent
    from keras_gen.data import SHAPES_ATTRIBUTES
    from keras_gen.data import load_shapes
    from keras_gen.data import render_shapes
    from keras_gen.data import shape_factors

    names = list(SHAPES_ATTRIBUTES)
    unknown = [a for a in args.attributes if a not in names]
    if unknown:
        p.error(f"--attributes must be shapes attributes ({', '.join(names)}). "
                f"Received: {unknown}")
    vae = keras.saving.load_model(args.load_model)
    size = tuple(vae.encoding_network.input_shape[1:3])
    x_train, y_train = load_shapes("train", size, num_examples=args.train_examples)
    x_test, y_test = load_shapes("test", size, num_examples=args.test_examples)
    z_train = latent.encode(vae, x_train)
    del x_train
    z_test = latent.encode(vae, x_test)
    reconstruction = latent.decode(vae, z_test)

    start = time.perf_counter()
    kwargs = {k: v for k, v in (("num_examples", args.extractor_examples),
                                ("epochs", args.extractor_epochs)) if v is not None}
    judge = independent_extractors.shapes_extractor(image_size=size, **kwargs)
    predict = lambda images: independent_extractors.shapes_attributes(images, judge)  # noqa: E731
    groups = recipe.attribute_groups("shapes", names)
    pred_x = predict(x_test)
    accuracy = recipe.group_agreement(pred_x, y_test, groups)
    print(f"Independent judge trained in {time.perf_counter() - start:.0f} s; right on the "
          f"test originals, per group: {recipe.agreement_text(accuracy, names)}")
    factors = shape_factors("test", num_examples=len(x_test))
    rows = []
    for name in args.attributes:
        target = names.index(name)
        group = groups[target]
        candidates = np.flatnonzero(y_test[:, target] == 0)[:args.num_altered]
        z1, y1, x1 = z_test[candidates], y_test[candidates], x_test[candidates]
        z_t, z_s, _ = recipe.matched_means(z_train, y_train, y1, target, group)
        before = pred_x[candidates]
        for mode, images in edits(vae, x1, z1, z_t - z_s, reconstruction[candidates]).items():
            # Without the residual, alpha = 0 is the reconstruction: compare with its labels.
            reference = predict(reconstruction[candidates]) if mode == "vector" else before
            rows.append((name, mode, recipe.shares(reference, predict(images), y1, target,
                                                   group, pred_x=before)))
        perfect, _ = render_shapes(recipe.perfect_edit(
            {k: v[candidates] for k, v in factors.items()}, name), size)
        rows.append((name, "perfect", recipe.shares(before, predict(perfect), y1, target,
                                                    group, pred_x=before)))
    print(f"\n{'attribute':<17}{'edit':<25}" + "".join(f"{c:>11}" for c in COLUMNS))
    for name, mode, r in rows:
        print(f"{name:<17}{mode:<25}" + "".join(f"{r[c]:>11.3f}" for c in COLUMNS))
    return {"accuracy": accuracy, "rows": rows}


if __name__ == "__main__":
    main()
