"""Attribute altering in colour: z = z1 + alpha (z_t,avg - z1), measured.

Trains keras_gen.VAE (the convolutional encoder/decoder of keras_gen.networks,
sigmoid output, images in [0, 1]; by default with a spatial code, 8 values per
cell of the encoder's 8x8 map at 64 px, --latent-channels 0 for a code made by
Dense layers) on the offline `shapes` dataset at 64x64
RGB, or on CelebA with --data-dir (an img_align_celeba folder) and
--attributes-file (its list_attr_celeba.txt). Then, for --attribute NAME, it
alters test images that do not have the attribute, in two ways (source notes,
"Variational Auto-Encoders" -> "Applications" -> "Altering"):

  target  z = z1 + alpha (z_t,avg - z1), the source notes' formula: move
          towards z_t,avg, a mean code of training images with the
          attribute (alpha = 1 lands on it);
  vector  z = z1 + alpha (z_t,avg - z_s,avg), where z_s,avg is the mean code
          of the training images that share z1's current value of the
          attribute's group (its own colour or shape for a one-hot group;
          "without it" for a binary attribute).

With --match others (the default) both means are taken over the training
images that look like z1's image in every other attribute (the same true
labels outside the attribute's group: same shape, background, size, side...),
so z_t,avg is "this kind of image, with the attribute" (matched_means); with
--match none over all the training images (keras_gen.latent's
attribute_vectors; target mode then moves every image to one code). The
codes are the encoder's posterior means, optionally improved by a latent
search through the decoder (--refine-steps, keras_gen.latent.refine_codes).

A decode keeps only what the VAE reconstructs. With --residual added (and
both, the default, which shows each mode both ways, "+res" in the table)
the image's residual, the original minus its reconstruction, is added back
to every decode (keras_gen.latent.add_residual): alpha = 0 is then the
original itself, and the edit changes it only where the decodes differ. By
default (--transport) the residual is first carried through the colour change
the edit makes to the decode (add_residual(..., transport=True)), so the sharp
edges it restores take the new colour instead of fringing the object with the
old one; --no-transport adds it as it is.

It writes, per attribute,

    <out-dir>/<dataset>_alter_<attribute>.png   rows: test images (first
        column the original), then one column per alpha; one block of rows
        per mode (--modes order; with --residual both, each mode without
        and then with the residual), blocks apart by a blank row

and, on shapes, measures success with the shapes attribute classifier
(keras_gen.metrics.shapes_feature_extractor and predict_attributes, trained
for --classifier-epochs on --classifier-examples images with a cosine-decayed
learning rate: by default longer, on more images and more exactly than the
FID extractor, so that it is sure of the size and side of an object whatever
its colour) on the altered test images
(alpha = 1):

  target@1     share that the classifier labels with the target value;
  kept         share whose other attributes (those outside the target's
               one-hot group: 5 groups for a colour, a shape; 13 columns
               for a binary attribute) all get the same labels as the
               alpha = 0 image (the reconstruction; with the residual
               added, the original) gets;
  both         share with both;
  kept/true    as kept, against the original's true labels (needs the
               reconstruction itself to be right, and the classifier);
  kept/orig    as kept, against the classifier's labels of the original;
  ceiling/true share whose originals the classifier labels like their
               true labels on those attributes: the most kept/true can be.

On shapes the table also has a "perfect" row per attribute: the same test
scenes rendered again from their factors with the attribute set and nothing
else changed (keras_gen.data.render_shapes; Large: radius + 0.08, Left /
Top: the centre mirrored), scored like the +res rows. It is what an exact
edit scores with this classifier: the ceiling of "kept", since a classifier
unsure near the size and side thresholds can call an object that only
changed colour "moved" or "resized".

--attribute all measures every attribute (one training run). Paths are
relative to the current working directory. --deterministic (the default)
makes a TensorFlow run repeat its numbers exactly. Training stops with an
error, writing nothing, if the losses or weights become NaN/Inf.

Runs on any backend: KERAS_BACKEND=jax python recipes/alter_attributes.py
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from recipes import _common  # noqa: E402  (argparse and os only: --help stays fast)

MODES = ("vector", "target")
# --residual: whether each mode's decodes get the image's residual added back.
RESIDUAL = {"none": (False,), "added": (True,), "both": (False, True)}
# The VAE's code: spatial (8 x 8 x 8 at 64 px: three stride-2 stages), or
# made by Dense layers (--latent-channels 0; what earlier versions used).
SPATIAL_CHANNELS = 8
SPATIAL_FILTERS = (32, 64, 128)
DENSE_LATENT_DIM = 64
DENSE_FILTERS = (16, 32, 64, 128)
DEFAULT_ATTRIBUTE = "Blue"
# The judge: keras_gen.metrics.shapes_feature_extractor trained longer, on the
# whole train split and with a cosine-decayed rate, unlike its defaults (the
# FID extractor's), since a classifier unsure near the Large / Left / Top
# thresholds calls a perfect recolouring "changed" (see "perfect" in the table).
CLASSIFIER_EPOCHS = 12
CLASSIFIER_EXAMPLES = 40_000
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
COLUMNS = ("target@1", "kept", "both", "kept/true", "kept/orig", "ceiling/true")
WIDTHS = (10, 7, 7, 11, 11, 14)
KEPT_NOTE = (
    "target@1: the classifier labels the alpha = 1 decode with the attribute. kept: every other "
    "attribute\n(outside the attribute's one-hot group) has the same label at alpha = 1 as in the "
    "alpha = 0 decode\n(for +res the original itself); kept/true: as the original's true labels; "
    "kept/orig: as the\nclassifier's labels of the original; ceiling/true: the classifier's "
    "labels of the originals\nmatch their true labels there (the most kept/true can be). "
    "perfect: the test scenes re-rendered with\nthe attribute and nothing else changed, "
    "scored as the +res rows (what an exact edit scores).")


def build_parser():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=_common.HelpFormatter,
                                epilog=_common.OUTPUTS_NOTE)
    p.add_argument("--attribute", default=DEFAULT_ATTRIBUTE,
                   help="the attribute to add, by name (shapes: keras_gen.data.SHAPES_ATTRIBUTES; "
                        "CelebA: its 40 names), or 'all' to measure every attribute")
    p.add_argument("--alphas", type=float, nargs="+", default=list(DEFAULT_ALPHAS),
                   help="the alphas of the grid's columns; success is measured at alpha = 1")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES),
                   help="altering modes, measured and drawn in this order (see above)")
    p.add_argument("--residual", choices=("both", "added", "none"), default="both",
                   help="add back what the VAE did not reconstruct of each image "
                        "(keras_gen.latent.add_residual): 'added', 'none' (the decodes alone), "
                        "or 'both' (measure and draw each mode both ways)")
    p.add_argument("--transport", action=argparse.BooleanOptionalAction, default=True,
                   help="carry the residual through the colour change of each decode "
                        "(keras_gen.latent.add_residual(..., transport=True)) before adding it")
    p.add_argument("--match", choices=("others", "none"), default="others",
                   help="others: the mean codes z_t,avg and z_s,avg are taken over the training "
                        "images whose other attributes equal the altered image's (see above); "
                        "none: over all the training images")
    p.add_argument("--data-dir", default=None,
                   help="an img_align_celeba folder (CelebA) instead of the offline shapes")
    p.add_argument("--attributes-file", default=None,
                   help="CelebA's list_attr_celeba.txt (needed with --data-dir)")
    _common.add_center_crop_flag(p)
    p.add_argument("--image-size", type=int, default=64, help="image side in pixels")
    p.add_argument("--train-examples", type=int, default=20000,
                   help="training images (the first of the split)")
    p.add_argument("--test-examples", type=int, default=1000,
                   help="test images from which the altered ones are taken")
    p.add_argument("--num-altered", type=int, default=400,
                   help="altered test images per attribute (those without it, at most this many)")
    p.add_argument("--grid-rows", type=int, default=6, help="test images per mode in the grid")
    p.add_argument("--epochs", type=int, default=12, help="VAE training epochs")
    p.add_argument("--batch-size", type=int, default=32, help="batch size")
    p.add_argument("--latent-channels", type=int, default=SPATIAL_CHANNELS,
                   help="a spatial code: this many values per cell of the encoder's last "
                        "feature map (keras_gen.networks.conv_encoder(latent_channels=...)), "
                        "latent_dim = cells x channels (8 x 8 x 8 = 512 at 64 px with the default "
                        "filters); 0: a code of --latent-dim made by Dense layers")
    p.add_argument("--latent-dim", type=int, default=None,
                   help=f"latent dimensions of a Dense code (--latent-channels 0; default "
                        f"{DENSE_LATENT_DIM}); with a spatial code it follows from "
                        "--latent-channels, --filters and --image-size")
    p.add_argument("--filters", type=int, nargs="+", default=None,
                   help="encoder filters per stride-2 stage (the decoder mirrors them); default "
                        f"{' '.join(map(str, SPATIAL_FILTERS))} with a spatial code, "
                        f"{' '.join(map(str, DENSE_FILTERS))} with a Dense one")
    p.add_argument("--kl-weight", type=float, default=5e-5,
                   help="lambda in L_rec + lambda * KL (BCE averaged over the 12,288 "
                        "values of a 64x64x3 image: the ELBO is lambda = 1/12288)")
    p.add_argument("--learning-rate", type=float, default=1e-3,
                   help="Adam's initial learning rate, cosine-decayed to 5%% of it by the end")
    p.add_argument("--refine-steps", type=int, default=0,
                   help="latent search: Adam steps that improve each test image's code through "
                        "the frozen decoder before altering (keras_gen.latent.refine_codes; 0: "
                        "the encoder's codes)")
    p.add_argument("--classifier-epochs", type=int, default=CLASSIFIER_EPOCHS,
                   help="epochs of the shapes attribute classifier that measures the edits")
    p.add_argument("--classifier-examples", type=int, default=CLASSIFIER_EXAMPLES,
                   help="training images of the shapes attribute classifier (the first ones of "
                        "the train split; at most 40,000)")
    p.add_argument("--save-model", default=None,
                   help="save the trained VAE here (a .keras file; missing folders are made) "
                        "for --load-model")
    p.add_argument("--load-model", default=None,
                   help="alter with this saved VAE (--save-model) instead of training one; "
                        "the data options must match the run that saved it")
    p.add_argument("--seed", type=_common.seed, default=0, help="seed of weights, noise and pictures")
    p.add_argument("--out-dir", default=os.path.join("outputs", "alter_attributes"),
                   help="where the PNG grids go")
    p.add_argument("--verbose", default="auto", help="Keras fit verbosity (auto, 0, 1, 2)")
    p.add_argument("--smoke", action="store_true",
                   help="a seconds-long run (1 epoch, 256 training images, few test images, "
                        "the first two --filters, latent_dim <= 8 or a one-channel spatial code) "
                        "to check the pipeline")
    _common.add_deterministic_flag(p, default=True)
    return p


def parse_args(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if args.load_model is not None and not os.path.isfile(args.load_model):
        p.error(f"--load-model must be an existing .keras file. Received: --load-model={args.load_model}")
    # Output paths are checked now: found when the files are written, after
    # training, they would lose the run.
    _common.check_out_dir(p, "--out-dir", args.out_dir)
    if args.save_model is not None:
        _common.check_keras_path(p, "--save-model", args.save_model)
    _common.check_flags(p, args, positive_ints=("image_size", "train_examples", "test_examples",
                                                "num_altered", "grid_rows", "batch_size", "filters"),
                        non_negative_ints=("refine_steps",), positive_floats=("learning_rate",),
                        non_negative_floats=("kl_weight",), finite_floats=("alphas",))
    if args.verbose != "auto":
        args.verbose = int(args.verbose)
    for name in ("image_size", "train_examples", "test_examples", "num_altered", "epochs",
                 "batch_size", "latent_dim", "grid_rows", "classifier_epochs",
                 "classifier_examples"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1. "
                    f"Received: --{name.replace('_', '-')}={getattr(args, name)}")
    if args.classifier_examples > CLASSIFIER_EXAMPLES:
        p.error(f"--classifier-examples must be <= {CLASSIFIER_EXAMPLES:,} (the shapes train "
                f"split). Received: --classifier-examples={args.classifier_examples}")
    if args.latent_channels < 0:
        p.error(f"--latent-channels must be >= 0. Received: --latent-channels={args.latent_channels}")
    spatial = args.latent_channels > 0
    if args.filters is None:
        args.filters = list(SPATIAL_FILTERS if spatial else DENSE_FILTERS)
    if any(f < 1 for f in args.filters):
        p.error(f"--filters must be positive. Received: --filters={args.filters}")
    if args.refine_steps < 0:
        p.error(f"--refine-steps must be >= 0. Received: --refine-steps={args.refine_steps}")
    if args.kl_weight < 0:
        p.error(f"--kl-weight must be >= 0. Received: --kl-weight={args.kl_weight}")
    if (args.data_dir is None) != (args.attributes_file is None):
        p.error("--data-dir and --attributes-file go together (a CelebA image folder and its "
                f"list_attr_celeba.txt). Received: --data-dir={args.data_dir}, "
                f"--attributes-file={args.attributes_file}")
    if len(set(args.modes)) != len(args.modes):
        p.error(f"--modes must not repeat a mode. Received: --modes={args.modes}")
    if args.smoke:
        args.epochs, args.train_examples = 1, min(args.train_examples, 256)
        args.test_examples, args.num_altered = min(args.test_examples, 48), min(args.num_altered, 16)
        args.grid_rows = min(args.grid_rows, 2)
        args.classifier_epochs = 1
        args.classifier_examples = min(args.classifier_examples, 512)
        args.filters = args.filters[:2]
        if not spatial:
            args.latent_dim = min(args.latent_dim or DENSE_LATENT_DIM, 8)
        args.latent_channels = min(args.latent_channels, 1)
    side = -(-args.image_size // 2 ** len(args.filters))  # the encoder's last map: side x side
    if spatial:
        cells = side * side * args.latent_channels
        if args.latent_dim is not None and args.latent_dim != cells:
            p.error(f"--latent-dim must be {side} x {side} x --latent-channels = {cells} with a "
                    f"spatial code (or pass --latent-channels 0 for a Dense code). Received: "
                    f"--latent-dim={args.latent_dim}, --latent-channels={args.latent_channels}")
        args.latent_dim = cells
    elif args.latent_dim is None:
        args.latent_dim = DENSE_LATENT_DIM
    args.dataset = "celeb_a" if args.data_dir else "shapes"  # a folder: CelebA-style
    args.crop = _common.center_crop(args, p.error) if args.data_dir else None
    return p, args


def check_attribute(parser, args, names):
    """The attribute names to alter; an unknown one is an argparse error listing the valid ones."""
    if args.attribute == "all":
        return list(names)
    if args.attribute not in names:
        parser.error(f"--attribute must be 'all' or one of the {args.dataset} attributes: "
                     f"{', '.join(names)}. Received: --attribute={args.attribute}")
    return [args.attribute]


def attribute_groups(dataset, names):
    """Column indices of each attribute's one-hot group (itself for a binary attribute)."""
    if dataset == "shapes":
        from keras_gen.data.shapes import SHAPES_ATTRIBUTE_GROUPS

        groups = [tuple(names.index(n) for n in g) for g in SHAPES_ATTRIBUTE_GROUPS]
    else:  # CelebA's attributes are all binary
        groups = [(j,) for j in range(len(names))]
    return {j: g for g in groups for j in g}


def group_agreement(predicted, labels, groups):
    """Share of rows whose `predicted` labels equal `labels` on each group, in column order.

    `groups` maps each column to its group (`attribute_groups`); returns
    `{group (column indices): share}`.
    """
    import numpy as np

    return {group: float(np.mean(np.all(predicted[:, list(group)] == labels[:, list(group)],
                                        axis=1)))
            for group in dict.fromkeys(groups.values())}


def agreement_text(agreement, names):
    """`group_agreement`'s shares as 'Circle..Star 0.912, Red..Cyan 1.000, ...'."""
    return ", ".join(f"{names[g[0]]}{'..' + names[g[-1]] if len(g) > 1 else ''} {v:.3f}"
                     for g, v in agreement.items())


def load_data(args):
    """(x_train, y_train, x_test, y_test) float32 arrays in [0, 1], 0/1 labels."""
    import numpy as np

    if args.dataset == "shapes":
        from keras_gen.data.shapes import load_shapes

        x_train, y_train = load_shapes("train", args.image_size, num_examples=args.train_examples)
        x_test, y_test = load_shapes("test", args.image_size, num_examples=args.test_examples)
        return x_train, y_train, x_test, y_test
    from keras_gen.data import from_folder

    dataset = from_folder(args.data_dir, args.image_size, batch_size=256, shuffle=False,
                          with_labels=True, attributes_file=args.attributes_file,
                          center_crop=args.crop)
    xs, ys, total = [], [], args.train_examples + args.test_examples
    for x, y in dataset.as_numpy_iterator():
        xs.append(x), ys.append(y)
        if sum(len(b) for b in xs) >= total:
            break
    x, y = np.concatenate(xs)[:total], np.concatenate(ys)[:total].astype("float32")
    if len(x) < 2:
        raise SystemExit(f"error: {args.data_dir} holds {len(x)} labelled image(s); need at least 2")
    # The last images (by file name) are the test images.
    n_test = min(args.test_examples, len(x) // 5 or 1)
    return x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]


def matched_means(codes, labels, source_labels, target, group):
    """Per-example mean codes with and without the target, among look-alikes.

    For each row of `source_labels` (an example without the target), its
    look-alikes are the rows of `labels` whose attributes outside `group`
    equal the example's. Returns `(z_t, z_s, fallback)`: `z_t[i]` the mean of
    `codes` over look-alikes that have the target, `z_s[i]` over look-alikes
    with the example's own value of the group (its own class of a one-hot
    group; without the attribute for a binary one), and `fallback` how many
    examples lacked such look-alikes and got the means over all the
    examples instead (then matching nothing, as `keras_gen.latent`'s
    `attribute_vectors`).
    """
    import numpy as np

    codes, labels = np.asarray(codes, "float64"), np.asarray(labels)
    source_labels = np.asarray(source_labels)
    others = [j for j in range(labels.shape[1]) if j not in group]
    group = list(group)
    has_target = labels[:, target] == 1
    z_t = np.zeros((len(source_labels), codes.shape[1]))
    z_s = np.zeros_like(z_t)
    fallback = 0
    keys = {}  # the look-alike rows of each distinct value of the other attributes
    for i, row in enumerate(source_labels):
        key = row[others].tobytes()
        if key not in keys:
            keys[key] = np.all(labels[:, others] == row[others], axis=1)
        alike = keys[key]
        own = np.all(labels[:, group] == row[group], axis=1)
        with_t, with_s = alike & has_target, alike & own
        if not with_t.any() or not with_s.any():
            fallback += 1
            with_t, with_s = has_target, own
        if not with_t.any() or not with_s.any():
            raise ValueError(f"no example has attribute column {target}, or none has the "
                             f"values {row[group].tolist()} of columns {group}")
        z_t[i], z_s[i] = codes[with_t].mean(axis=0), codes[with_s].mean(axis=0)
    return z_t.astype("float32"), z_s.astype("float32"), fallback


# A perfect edit of a shapes scene: the factor that sets the attribute,
# changed, everything else kept. Large: radius + 0.08 maps the small radii
# [0.12, 0.20] onto the large ones [0.20, 0.28]; Left / Top: the centre
# mirrored to the other half (centres lie in [0.3, 0.7]).
def perfect_edit(factors, name):
    """`factors` (keras_gen.data.shape_factors' form) edited to have attribute `name`."""
    import numpy as np

    from keras_gen.data.shapes import COLORS
    from keras_gen.data.shapes import SHAPES

    edited = {k: np.array(v, copy=True) for k, v in factors.items()}
    n = len(edited["shape"])
    if name in SHAPES:
        edited["shape"] = np.full(n, SHAPES.index(name))
    elif name in COLORS:
        edited["color"] = np.full(n, COLORS.index(name))
    elif name == "Light_Background":
        edited["background"] = np.ones(n)
    elif name == "Large":
        edited["radius"] = edited["radius"] + 0.08
    elif name in ("Left", "Top"):
        key = "center_x" if name == "Left" else "center_y"
        edited[key] = 1.0 - edited[key]
    else:
        raise ValueError(f"name must be a shapes attribute. Received: name={name!r}")
    return edited


def shares(pred0, pred1, y_true, target, group, pred_x=None):
    """The measured shares for one attribute and mode (see the module docstring).

    `pred0`, `pred1`: the classifier's 0/1 labels of the alpha = 0 and the
    alpha = 1 decodes; `y_true`: the originals' true labels; `pred_x`: the
    classifier's labels of the originals themselves (adds "kept/orig").
    """
    import numpy as np

    others = [j for j in range(pred0.shape[1]) if j not in group]
    hit = pred1[:, target] == 1
    kept = np.all(pred1[:, others] == pred0[:, others], axis=1)
    kept_true = np.all(pred1[:, others] == y_true[:, others], axis=1)
    result = {"target@1": float(hit.mean()), "kept": float(kept.mean()),
              "both": float((hit & kept).mean()), "kept/true": float(kept_true.mean())}
    if pred_x is not None:
        result["kept/orig"] = float(np.all(pred1[:, others] == pred_x[:, others], axis=1).mean())
        # What kept/true can reach with perfect altering: the classifier's own
        # agreement with the true labels of the other attributes on the originals.
        same = pred_x[:, others] == y_true[:, others]
        result["ceiling/true"] = float(np.all(same, axis=1).mean())
    return result


def load_vae(parser, args, x_test, shape):
    """The VAE of --load-model, checked before anything trains.

    A usage error (exit 2, through ``parser``) names the path and what it
    holds when it does not load, is not an unconditional ``keras_gen.VAE``,
    or does not take and make images of ``shape`` (the data's: its declared
    input shape, then two test images encoded and decoded).
    """
    import keras_gen
    import keras_gen.saving
    from keras_gen import latent
    from keras_gen.models.base import known_input_shape

    path = args.load_model

    def fail(what):
        parser.error(f"--load-model must be a saved unconditional keras_gen.VAE (--save-model) "
                     f"for this run's images of shape {shape}. Received: --load-model={path}, {what}")

    def first_line(error):
        text = str(error).strip()
        return f"{type(error).__name__}: {text.splitlines()[0][:300] if text else ''}"

    try:  # keras_gen's loader names a damaged file (Keras says "File not found")
        vae = keras_gen.saving.load_model(path)
    except Exception as error:  # noqa: BLE001  (Keras raises many kinds for a bad file)
        fail(f"which could not be loaded ({first_line(error)})")
    if not isinstance(vae, keras_gen.VAE) or isinstance(vae, keras_gen.ConditionalVAE):
        fail(f"a {type(vae).__name__}")
    hint = "; pass the data options (--image-size, --data-dir) of the run that saved it"
    declared = known_input_shape(vae.encoding_network)
    if declared is not None and tuple(declared[1:]) != shape:
        fail(f"a VAE for images of shape {tuple(declared[1:])}{hint}")
    try:
        made = latent.decode(vae, latent.encode(vae, x_test[:2]))
    except Exception as error:  # noqa: BLE001  (the backend's error for a wrong shape)
        fail(f"a VAE that fails on images of shape {shape} ({first_line(error)}){hint}")
    if tuple(made.shape[1:]) != shape:
        fail(f"a VAE that makes images of shape {tuple(made.shape[1:])}{hint}")
    return vae


def get_vae(parser, args, keras, x_train, x_test, shape):
    """The trained VAE, its fit history (None if loaded) and the training seconds."""
    import keras_gen

    if args.load_model:
        vae = load_vae(parser, args, x_test, shape)
        print(f"Loaded the VAE of {args.load_model} (not trained here)")
        return vae, None, 0.0
    spatial = {"latent_channels": args.latent_channels} if args.latent_channels else {}
    encoder = keras_gen.networks.encoder(shape, args.latent_dim, variational=True,
                                         filters=args.filters, **spatial)
    decoder = keras_gen.networks.decoder(args.latent_dim, shape, variational=True,
                                         filters=tuple(reversed(args.filters)), **spatial)
    vae = keras_gen.VAE(encoder, decoder, kl_weight=args.kl_weight, reconstruction="bce",
                        seed=args.seed)
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps, alpha=0.05)
    vae.compile(optimizer=keras.optimizers.Adam(schedule))
    print(f"Training a VAE on {len(x_train)} {args.dataset} images {shape} "
          f"(backend: {keras.backend.backend()}, latent_dim={args.latent_dim}"
          f"{f' = a spatial code of {args.latent_channels} channel(s)' if spatial else ''}, "
          f"filters={tuple(args.filters)}, kl_weight={args.kl_weight}, epochs={args.epochs})")
    start = time.perf_counter()
    history = vae.fit(x_train, epochs=args.epochs, batch_size=args.batch_size,
                      verbose=args.verbose, callbacks=[_common.nan_callback()])
    seconds = time.perf_counter() - start
    _common.stop_if_non_finite(vae, history, kept=[args.out_dir])
    _common.status(f"Trained {args.epochs} epochs in {seconds:.0f} s")
    if args.save_model:  # atomic: a failed write leaves an earlier file as it was
        _common.save_keras(vae, args.save_model)
        print(f"Saved the VAE to {args.save_model}")
    return vae, history, seconds


def main(argv=None):
    parser, args = parse_args(argv)
    keras = _common.start(args)
    import numpy as np

    import keras_gen
    from keras_gen import images
    from keras_gen import latent
    from keras_gen.data import attribute_names

    if args.dataset == "shapes":
        names = list(attribute_names("shapes"))
    else:  # the names the attribute file gives (CelebA's 40 for list_attr_celeba.txt)
        from keras_gen.data.folder import read_attributes_file

        try:
            names = list(read_attributes_file(args.attributes_file)[0])
        except (OSError, ValueError) as error:
            parser.error(f"--attributes-file: {error}")
    chosen = check_attribute(parser, args, names)
    groups = attribute_groups(args.dataset, names)
    alphas = [float(a) for a in args.alphas]

    _common.status(f"Loading {args.data_dir or 'shapes'} at {args.image_size}x{args.image_size}")
    try:
        x_train, y_train, x_test, y_test = load_data(args)
    except (ValueError, OSError) as error:
        if args.data_dir is None:
            raise
        # from_folder's errors name the folder, the file and the attributes file
        parser.error(f"--data-dir / --attributes-file cannot be read: {error}")
    shape = tuple(x_train.shape[1:])
    vae, history, seconds = get_vae(parser, args, keras, x_train, x_test, shape)

    z_train = latent.encode(vae, x_train)
    z_test = latent.encode(vae, x_test)
    if args.refine_steps:
        _common.status(f"Latent search: {args.refine_steps} steps per test code")
        z_test = latent.refine_codes(vae, x_test, z_test, steps=args.refine_steps)
    recon_test = latent.decode(vae, z_test)  # alpha = 0: the reconstructions
    variants = [(mode, added) for mode in args.modes for added in RESIDUAL[args.residual]]

    classifier = None
    if args.dataset == "shapes":
        from keras_gen import metrics

        _common.status("Training the shapes attribute classifier (keras_gen.metrics)")
        kwargs = {"epochs": args.classifier_epochs, "num_examples": args.classifier_examples,
                  "learning_rate_decay": "cosine"}
        classifier = metrics.shapes_feature_extractor(image_size=shape[:2], seed=args.seed,
                                                      **kwargs)
        predict = lambda images_: metrics.predict_attributes(images_, classifier)  # noqa: E731
        pred_test0 = predict(recon_test)
        pred_x = predict(x_test)  # the originals as the classifier sees them
        accuracy = ", ".join(f"{k} {v:.3f}" for k, v in classifier.test_accuracy.items())
        print(f"Attribute classifier, test accuracy: {accuracy}")
        agreement = agreement_text(group_agreement(pred_test0, y_test, groups), names)
        print("Its labels of the alpha = 0 decodes (reconstructions) match the originals' "
              f"true labels, per group: {agreement}")
    else:
        print("No attribute classifier for CelebA: grids only, no measured shares.")

    os.makedirs(args.out_dir, exist_ok=True)
    rows, paths = [], []
    for name in chosen:
        target = names.index(name)
        group = groups[target]
        candidates = np.flatnonzero(y_test[:, target] == 0)[:args.num_altered]
        if len(candidates) == 0:
            print(f"{name}: every test image has it; nothing to alter")
            continue
        z1, y1 = z_test[candidates], y_test[candidates]
        try:  # z_t,avg - z_s,avg per image; raises when a class has no training image
            if args.match == "others":
                z_t, z_s, fallback = matched_means(z_train, y_train, y1, target, group)
                vectors = z_t - z_s
                if fallback:
                    print(f"{name}: {fallback} of {len(y1)} test images have no look-alike "
                          "training image with or without the attribute: unmatched means")
            else:
                vectors = latent.attribute_vectors(z_train, y_train, target, group,
                                                   source_labels=y1)
                z_t = np.broadcast_to(z_train[y_train[:, target] == 1].mean(axis=0), z1.shape)
        except ValueError as error:
            print(f"{name}: skipped ({error})")
            continue
        steps = {"target": z_t, "vector": vectors}
        blocks = []
        show = slice(0, min(args.grid_rows, len(candidates)))
        x1, reconstruction = x_test[candidates], recon_test[candidates]
        for mode, added in variants:
            codes = latent.alter_codes(z1[show], steps[mode][show], alphas, mode=mode)
            decoded = latent.decode(vae, codes.reshape(-1, codes.shape[-1]))
            decoded = decoded.reshape(codes.shape[:2] + decoded.shape[1:])
            if added:
                decoded = latent.add_residual(decoded, x1[show], reconstruction[show],
                                              transport=args.transport)
            blocks.append(np.concatenate([x1[show][:, None], decoded], axis=1))
            if classifier is not None:
                altered = latent.decode(vae, latent.alter_codes(z1, steps[mode], 1.0, mode=mode))
                if added:  # alpha = 0 is then the original itself
                    altered = latent.add_residual(altered, x1, reconstruction,
                                                  transport=args.transport)
                before = pred_x[candidates] if added else pred_test0[candidates]
                result = shares(before, predict(altered), y1, target, group,
                                pred_x=pred_x[candidates])
                rows.append((name, mode + ("+res" if added else ""), len(candidates), result))
        if classifier is not None and args.dataset == "shapes":
            # The same scenes re-rendered with the attribute: what a perfect
            # edit scores with this classifier (the ceiling of "kept").
            from keras_gen.data import render_shapes
            from keras_gen.data import shape_factors

            factors = {k: v[candidates] for k, v in
                       shape_factors("test", num_examples=len(x_test)).items()}
            perfect, _ = render_shapes(perfect_edit(factors, name), shape[:2])
            result = shares(pred_x[candidates], predict(perfect), y1, target, group,
                            pred_x=pred_x[candidates])
            rows.append((name, "perfect", len(candidates), result))
        blank = np.ones((1,) + blocks[0].shape[1:], "float32")
        grid = np.concatenate([b if i == 0 else np.concatenate([blank, b])
                               for i, b in enumerate(blocks)])
        path = os.path.join(args.out_dir, f"{args.dataset}_alter_{name}.png")
        paths.append(images.save_image_grid(grid.reshape((-1,) + shape), path,
                                            cols=grid.shape[1]))

    if history is not None:
        print(f"\nTrained {args.epochs} epochs on {len(x_train)} images in {seconds:.0f} s "
              f"({keras.backend.backend()}{', deterministic' if args.deterministic else ''}).")
    if rows:
        print(f"Shares of altered test images (alpha = 1; modes: {', '.join(args.modes)}; "
              "+res: the image's residual added back):")
        print(f"{'attribute':<17}{'mode':<12}{'n':>5}"
              + "".join(f"{k:>{w}}" for k, w in zip(COLUMNS, WIDTHS)))
        for name, mode, n, r in rows:
            print(f"{name:<17}{mode:<12}{n:>5}"
                  + "".join(f"{r[k]:>{w}.3f}" for k, w in zip(COLUMNS, WIDTHS)))
        if len(chosen) > 1:
            for mode in dict.fromkeys(m for _, m, _, _ in rows):
                mine = [r for _, m, _, r in rows if m == mode]
                print(f"{'mean':<17}{mode:<12}{'':>5}"
                      + "".join(f"{np.mean([r[k] for r in mine]):>{w}.3f}"
                                for k, w in zip(COLUMNS, WIDTHS)))
        print(KEPT_NOTE)
    for path in paths:
        print(f"{'grid':>8}: {os.path.relpath(path)}")
    return {"seconds": seconds, "rows": rows, "paths": paths,
            "history": history.history if history is not None else None}


if __name__ == "__main__":
    main()
