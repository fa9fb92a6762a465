"""The ``keras-gen`` command line: images from a saved model or an exported artefact.

``keras-gen <command> PATH [options]`` (or ``python -m keras_gen <command> ...``):

* ``generate``: a grid of samples, z ~ N(0, I) decoded by the generator or decoder;
* ``interpolate``: rows of images along straight (or slerp) latent paths
  between two random codes, or between the codes of two test images;
* ``reconstruct``: test images above their reconstructions (a model with an
  encoder: VAE, AutoEncoder, ConditionalVAE, or an encoder and a decoder artefact);
* ``alter``: test digits of one class altered towards another, one column per
  ``alpha`` (a VAE / AutoEncoder: attribute vectors, the source notes'
  "altering"; a ConditionalVAE: the same code decoded with the label moved
  from one class to the other, ``alpha = 1`` being ``latent.transfer_style``);
* ``export``: a ``.keras`` model's generator, decoder or encoder as a TFLite,
  SavedModel or ONNX artefact with its manifest (``keras_gen.export.export``);
* ``info``: what a file holds (model class, latent size, condition, manifest).

PATH is a ``.keras`` file (``keras_gen.GAN``, ``VAE``, ``AutoEncoder``,
``ConditionalGAN``, ``ConditionalVAE``, or a plain ``keras.Model`` that maps
``z`` (and a condition) to images) or an artefact written by
``keras_gen.export`` (a ``.tflite`` or ``.onnx`` file or a SavedModel
directory, with its ``<path>.json`` manifest), which ``keras_gen.runtime``
runs without Keras.

Latent codes are drawn with NumPy, ``numpy.random.default_rng(seed)
.standard_normal((n, latent_dim))`` as ``keras_gen.runtime`` draws them, so a
``.keras`` model and an artefact exported from it draw the same images for
the same ``--seed``, on every backend.

Parsing imports only the standard library (``--help`` is instant); Keras and
its backend (``--backend``, set as ``KERAS_BACKEND`` first) are imported when
a command needs them. Exit status: 0 on success; 2 for a bad argument or an
input that cannot be used (a missing file, a model of an unknown kind,
labels for an unconditional model or none for a conditional one), with a
one-line message naming the argument and the received value; 1 when the
work itself fails (a conversion error, a file that cannot be written).

Example::

    keras-gen generate saved_models/pretrained/dcgan_digits_generator.tflite --n 64 --out grid.png
    keras-gen generate saved_models/pretrained/cvae_digits.keras --labels 0,1,2,3,4,5,6,7,8,9 --n 100
    keras-gen alter saved_models/pretrained/vae_digits.keras --from 3 --to 8 --out 3_to_8.png
"""

import argparse
import json
import math
import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DATASETS = ("digits", "shapes")
INTERPOLATION_METHODS = ("linear", "slerp")
ALTER_MODES = ("vector", "target")
# Parts and quantization modes are checked against keras_gen.export's own
# tables when the command runs (importing them at parse time imports Keras).
PART_NAMES = "generator, decoder, encoder"
QUANTIZATION_NAMES = "float16, dynamic_int8"
_ARTEFACT_SUFFIXES = (".tflite", ".onnx")
_DEFAULT_N = 64
# Images per predict call of a .keras model (Keras' default, 32, costs one
# step per 32 digits).
_BATCH_SIZE = 256
# The largest PNG a command writes (pixels, after --scale): about 200 MB as RGB.
MAX_PNG_PIXELS = 2**26
# --data .npy values may exceed PATH's value range by float round-off only.
_RANGE_SLACK = 1e-3


class CommandError(Exception):
    """A bad argument or an input that cannot be used: one line on stderr.

    ``status`` is the exit status: 2 (the default) for arguments and inputs,
    1 for a failure of the work itself.
    """

    def __init__(self, message, status=2):
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------ parsing
class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Shows every option's default unless its help already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (
            "default" in text
            or not action.option_strings
            or any(action.default is v for v in (None, False, argparse.SUPPRESS))
        ):
            return text
        return text + " (default: %(default)s)"


def _default_backend():
    """``$KERAS_BACKEND``, else the backend in Keras' config file, else tensorflow."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend:
        return backend
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def _integer(option, minimum=None, maximum=None):
    """An argparse type: an int within bounds, named ``option`` in errors."""

    def parse(text):
        bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
        what = " and ".join(b for b in bounds if b)
        message = f"must be an integer{' ' + what if what else ''}. Received: {option}={text}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(message) from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(message)
        return value

    return parse


def _floats(option):
    """An argparse type: comma-separated floats, at least one."""

    def parse(text):
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if not values or not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(
                f"must be comma-separated numbers such as 0,0.5,1 (write "
                f"{option}=-1,0,1 when the first is negative). Received: {option}={text}"
            )
        return values

    return parse


def _value_range(text):
    if text == "auto":
        return text
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise argparse.ArgumentTypeError(
            "must be 'auto' or LOW,HIGH with LOW < HIGH, e.g. -1,1 (write "
            f"--value-range=-1,1). Received: --value-range={text}"
        )
    return (low, high)


def _png_path(text):
    """An argparse type: a file name ending in .png (the grid is always written as PNG)."""
    if not text.lower().endswith(".png") or not os.path.basename(text)[:-4]:
        raise argparse.ArgumentTypeError(
            f"must be a file name ending in .png (the grid is written as PNG). Received: --out={text}"
        )
    return text


def _common_options():
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--backend",
        choices=BACKENDS,
        default=_default_backend(),
        help="the Keras backend a .keras model runs on, set as KERAS_BACKEND before Keras is "
        "imported (default: %(default)s, from $KERAS_BACKEND or ~/.keras/keras.json); "
        "artefacts run without Keras",
    )
    parent.add_argument(
        "--import", dest="imports", action="append", default=[], metavar="MODULE",
        help="import MODULE (a dotted name on the Python path; the current folder is on it) "
        "before loading a .keras file, so that the custom layers or networks it registers "
        "with keras.saving.register_keras_serializable load (may be repeated)",
    )
    parent.add_argument(
        "--traceback", action="store_true", help="show the Python traceback of an error"
    )
    return parent


def _image_options(out):
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--out", type=_png_path, default=out, help="the PNG file to write")
    parent.add_argument(
        "--npy",
        default=None,
        metavar="FILE",
        help="also save the images as a float32 .npy array, in the model's value range "
        "(default: not saved)",
    )
    parent.add_argument(
        "--scale", type=_integer("--scale", minimum=1), default=2,
        help="pixel enlargement of the PNG (nearest neighbour)",
    )
    parent.add_argument(
        "--padding", type=_integer("--padding", minimum=0), default=2,
        help="pixels of white space between images",
    )
    parent.add_argument(
        "--value-range", type=_value_range, default="auto", metavar="LOW,HIGH",
        help="the images' value range, mapped to black..white; auto: the model's output range "
        "(an artefact's manifest's), else 0,1 (default: auto)",
    )
    return parent


def _label_options(parser, what):
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--label",
        default=None,
        help=f"one label for {what} of a conditional model: a class id (7), or an attribute "
        "vector of k comma-separated values (1,0,0,1,...) (default: none; a conditional "
        "model needs --label or --labels)",
    )
    group.add_argument(
        "--labels",
        default=None,
        help=f"labels for {what} in turn (repeated to fill them): class ids 3,3,7, or "
        "attribute vectors separated by ';' (default: none)",
    )


def build_parser(prog=None):
    """The argument parser of the command line (standard library only)."""
    if prog is None:
        prog = "python -m keras_gen" if os.path.basename(sys.argv[0]) == "__main__.py" else "keras-gen"
    common = _common_options()
    parser = _Parser(
        prog=prog,
        description=(
            "Generate images from a keras-gen model without writing Python. PATH is a .keras "
            "file (GAN, VAE, AutoEncoder, ConditionalGAN, ConditionalVAE, or a plain "
            "keras.Model generator / decoder) or an artefact written by keras_gen.export "
            "(.tflite, .onnx, a SavedModel directory, with its .json manifest)."
        ),
        epilog=(
            "examples:\n"
            "  %(prog)s generate saved_models/pretrained/dcgan_digits_generator.tflite --n 64 --out grid.png\n"
            "  %(prog)s generate saved_models/pretrained/cvae_digits.keras --labels 0,1,2,3,4,5,6,7,8,9 --n 100\n"
            "  %(prog)s interpolate saved_models/pretrained/vae_digits.keras --steps 8 --rows 4\n"
            "  %(prog)s reconstruct saved_models/pretrained/vae_digits.keras --data digits --n 16\n"
            "  %(prog)s alter saved_models/pretrained/vae_digits.keras --from 3 --to 8\n"
            "  %(prog)s export saved_models/pretrained/vae_digits.keras vae_decoder.onnx\n"
            "  %(prog)s info saved_models/pretrained/dcgan_digits_generator.tflite\n"
            "run '%(prog)s COMMAND --help' for a command's options"
        ),
        formatter_class=_Formatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name, help, description, parents=()):
        return commands.add_parser(
            name, help=help, description=description, parents=[common, *parents],
            formatter_class=_Formatter,
        )

    path_help = "a .keras model, or a .tflite / .onnx file or SavedModel directory from keras_gen.export"

    p = command(
        "generate", "a grid of samples",
        "Decode --n draws of z ~ N(0, I) (NumPy, seeded by --seed) with the generator or "
        "decoder and write them as a PNG grid.",
        [_image_options("grid.png")],
    )
    p.add_argument("path", metavar="PATH", help=path_help)
    p.add_argument(
        "--n", type=_integer("--n", minimum=1), default=None,
        help=f"number of images (default: {_DEFAULT_N}, or the number of --labels)",
    )
    p.add_argument("--seed", type=_integer("--seed", minimum=0), default=0, help="seed of the latent draw")
    p.add_argument(
        "--nrow", type=_integer("--nrow", minimum=1), default=None,
        help="images per row (default: the number of --labels when they repeat, else "
        "ceil(sqrt(n)))",
    )
    _label_options(p, "every image")
    p.set_defaults(run=_generate)

    p = command(
        "interpolate", "images along latent paths",
        "Draw two codes per row (NumPy, seeded by --seed) and decode --steps codes on the "
        "path between them, both ends included. With --data, row i goes from the code of test "
        "image i to that of test image rows + i (an encoder is needed), drawn between the two "
        "originals; a conditional model's label moves along with the code.",
        [_image_options("interpolation.png")],
    )
    p.add_argument("path", metavar="PATH", help=path_help)
    p.add_argument("--steps", type=_integer("--steps", minimum=2), default=8, help="images per path")
    p.add_argument("--rows", type=_integer("--rows", minimum=1), default=4, help="paths, one per row")
    p.add_argument("--seed", type=_integer("--seed", minimum=0), default=0, help="seed of the end points")
    p.add_argument(
        "--method", choices=INTERPOLATION_METHODS, default="linear",
        help="linear: z(t) = (1 - t) a + t b; slerp: along the great circle (keras_gen.latent.slerp)",
    )
    p.add_argument(
        "--data", default=None,
        help="digits, shapes or a .npy file of images: paths between the codes of its test "
        "images instead of random codes (default: none, random codes)",
    )
    p.add_argument("--encoder", default=None, metavar="PATH", help="the encoder artefact for --data (default: found beside PATH)")
    _label_options(p, "every row")
    p.set_defaults(run=_interpolate)

    p = command(
        "reconstruct", "test images above their reconstructions",
        "Encode the first --n test images (posterior mean for a VAE) and decode them: each "
        "row of originals is followed by the row of their reconstructions. Needs an encoder: "
        "a VAE, AutoEncoder or ConditionalVAE .keras file, or a decoder artefact with its "
        "encoder artefact (--encoder, or the file named with 'encoder' for 'decoder').",
        [_image_options("reconstruction.png")],
    )
    p.add_argument("path", metavar="PATH", help=path_help)
    p.add_argument(
        "--data", default="digits",
        help="digits (keras_gen.data.load_digits' test split), shapes (the shapes test "
        "split) or a .npy file of images (n, H, W, C) in the model's value range",
    )
    p.add_argument("--n", type=_integer("--n", minimum=1), default=16, help="number of images")
    p.add_argument(
        "--nrow", type=_integer("--nrow", minimum=1), default=None,
        help="images per row (default: min(n, 16))",
    )
    p.add_argument("--encoder", default=None, metavar="PATH", help="the encoder artefact (default: found beside PATH)")
    _label_options(p, "every image (a conditional model on a .npy file; digits and shapes bring their own)")
    p.set_defaults(run=_reconstruct)

    p = command(
        "alter", "digits of one class altered towards another",
        "Alter the first --n test digits of class --from towards class --to, one column per "
        "alpha after the original. A VAE or AutoEncoder moves each code along the attribute "
        "vector z_to,avg - z_from,avg of the training digits' mean codes "
        "(keras_gen.latent.attribute_vectors; --mode target moves it towards z_to,avg); a "
        "ConditionalVAE decodes the code of the digit with the label (1 - alpha) "
        "onehot(from) + alpha onehot(to), so alpha=1 is style transfer "
        "(keras_gen.latent.transfer_style).",
        [_image_options("altered.png")],
    )
    p.add_argument("path", metavar="PATH", help=path_help)
    p.add_argument("--data", default="digits", choices=("digits",), help="the labelled data")
    p.add_argument(
        "--from", dest="source", metavar="CLASS", type=_integer("--from", 0, 9), default=3,
        help="the digit to alter",
    )
    p.add_argument(
        "--to", dest="target", metavar="CLASS", type=_integer("--to", 0, 9), default=8,
        help="the digit to move towards",
    )
    p.add_argument(
        "--alphas", type=_floats("--alphas"), default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="how far to move, comma-separated (default: 0,0.25,0.5,0.75,1)",
    )
    p.add_argument("--n", type=_integer("--n", minimum=1), default=8, help="digits to alter, one per row")
    p.add_argument(
        "--mode", choices=ALTER_MODES, default="vector",
        help="VAE / AutoEncoder: vector: z + alpha (z_to,avg - z_from,avg); target: "
        "z + alpha (z_to,avg - z) (the source notes' formula)",
    )
    p.add_argument("--encoder", default=None, metavar="PATH", help="the encoder artefact (default: found beside PATH)")
    p.set_defaults(run=_alter)

    p = command(
        "export", "a .keras model as a TFLite, SavedModel or ONNX artefact",
        "Export one part of a .keras model with keras_gen.export.export and write its .json "
        "manifest beside it.",
    )
    p.add_argument("path", metavar="PATH", help="the .keras model")
    p.add_argument("out", metavar="OUT", help="the artefact: a .tflite or .onnx file, or a SavedModel directory")
    p.add_argument(
        "--format", default=None,
        help="tflite, saved_model or onnx (default: from OUT: .tflite, .onnx, else saved_model)",
    )
    p.add_argument(
        "--quantization", default=None,
        help=f"TFLite weights: {QUANTIZATION_NAMES} (default: none, float32)",
    )
    p.add_argument("--part", default=None, help=f"{PART_NAMES} (default: the model's, a generator or decoder)")
    p.add_argument(
        "--batch-size", type=_integer("--batch-size", minimum=1), default=None,
        help="a fixed batch size (default: none, a dynamic batch)",
    )
    p.set_defaults(run=_export)

    p = command("info", "what a model or artefact holds", "Print what PATH holds.")
    p.add_argument("path", metavar="PATH", help=path_help)
    p.add_argument("--json", action="store_true", help="print an artefact's manifest as JSON")
    p.set_defaults(run=_info)
    return parser


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``).

    Returns:
        int, the exit status: 0 on success, 2 for a bad argument or an
        unusable input, 1 when the work fails. Messages go to stderr as one
        line, without a traceback (``--traceback`` shows it).

    Example:

    >>> main(["generate", "no_such_model.keras", "--n", "16"])  # the message goes to stderr
    2
    >>> build_parser().parse_args(["alter", "vae.keras", "--to", "1"]).alphas
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, or a usage error argparse has printed
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 2)
    prog = f"{parser.prog} {args.command}"
    try:
        return args.run(args) or 0
    except CommandError as error:
        status, failure = error.status, error
    except (ValueError, TypeError) as error:  # the library's checks: a value that does not fit
        if args.traceback:
            raise
        status, failure = 2, error
    except BrokenPipeError:  # the reader of stdout went away (keras-gen info ... | head)
        return 1
    except KeyboardInterrupt:  # Ctrl-C: outputs are published whole or not at all
        if args.traceback:
            raise
        print(f"{prog}: interrupted (no output was replaced by a partial file)", file=sys.stderr)
        return 130
    except MemoryError as error:  # NumPy's _ArrayMemoryError too: --n, --rows or --steps too large
        if args.traceback:
            raise
        sizes = ", ".join(
            f"--{name}={getattr(args, name)}" for name in ("n", "rows", "steps") if getattr(args, name, None) is not None
        )
        status, failure = 1, f"out of memory ({error}); ask for fewer images. Received: {sizes}"
    except (OSError, ImportError, RuntimeError) as error:  # the work failed
        if args.traceback:
            raise
        status, failure = 1, error
    message = " ".join(line.strip() for line in str(failure).splitlines() if line.strip())
    print(f"{prog}: error: {message or type(failure).__name__}", file=sys.stderr)
    return status


# ------------------------------------------------------------------ sources
def _keras_gen(args):
    """keras_gen with its whole API, imported under ``--backend``."""
    keras = sys.modules.get("keras")
    if keras is not None:
        running = keras.backend.backend()
        if running != args.backend:
            raise CommandError(
                f"--backend must be the backend Keras already runs on in this process "
                f"({running}). Received: --backend={args.backend}"
            )
    else:
        os.environ["KERAS_BACKEND"] = args.backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras_gen

    keras_gen._load_api()
    return keras_gen


def _path_kind(path, option="PATH"):
    """``"keras"`` or ``"artefact"`` for an existing ``path``, else CommandError."""
    if not os.path.exists(path):
        raise CommandError(
            f"{option} must be an existing .keras file, .tflite / .onnx file or SavedModel "
            f"directory. Received: {option}={path!r} (no such file or directory)"
        )
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")):
            return "artefact"
        raise CommandError(
            f"{option} is a directory but not a SavedModel (it has no saved_model.pb). "
            f"Received: {option}={path!r}"
        )
    if path.lower().endswith(".keras"):
        return "keras"
    if path.lower().endswith(_ARTEFACT_SUFFIXES):
        return "artefact"
    raise CommandError(
        f"{option} must be a .keras file, a .tflite or .onnx file, or a SavedModel directory. "
        f"Received: {option}={path!r}"
    )


def _import_modules(args):
    """Import each ``--import`` module (custom classes a .keras file needs)."""
    import importlib

    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    for name in getattr(args, "imports", None) or ():
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001  (a user module may raise anything)
            if args.traceback:
                raise
            raise CommandError(
                f"--import {name} failed ({type(error).__name__}: {' '.join(str(error).split())[:300]}). "
                f"Received: --import={name!r}"
            ) from None


# The longest part of a library's error message a command prints (Keras'
# messages for a file it cannot read quote the whole model config).
_DETAIL_CHARS = 400


def _load_keras_model(path, args, option="PATH"):
    keras_gen = _keras_gen(args)
    _import_modules(args)
    try:
        return keras_gen.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many kinds for a file it cannot read
        if args.traceback:
            raise
        detail = " ".join(str(error).split())
        if len(detail) > _DETAIL_CHARS:
            detail = detail[:_DETAIL_CHARS] + " ... (--traceback shows all)"
        hint = ""
        if any(text in detail for text in ("Could not locate class", "Unknown layer",
                                           "could not be deserialized")):
            hint = (" It uses custom classes: pass --import MODULE for the module that defines "
                    "and registers them (keras.saving.register_keras_serializable).")
        raise CommandError(
            f"{option} could not be loaded as a Keras model ({type(error).__name__}: {detail}).{hint} "
            f"Received: {option}={path!r}"
        ) from None


def _load_runner(path, args, option="PATH"):
    from keras_gen import runtime

    try:
        return runtime.load(path)
    except (ValueError, ImportError, RuntimeError) as error:
        if args.traceback:
            raise
        detail = " ".join(str(error).split())
        status = 1 if isinstance(error, ImportError) else 2
        raise CommandError(
            f"{option} could not be loaded as an exported artefact ({type(error).__name__}: "
            f"{detail}). Received: {option}={path!r}",
            status,
        ) from None


def _describe_condition(condition):
    if condition is None:
        return "none"
    names = condition.get("names")
    if condition["kind"] == "classes":
        text = f"{condition['size']} classes (class ids 0..{condition['size'] - 1})"
    else:
        text = f"attribute vectors of size {condition['size']}"
    return text + (f": {', '.join(names)}" if names else "")


class _Source:
    """A model the commands run: decode codes, encode images (NumPy in and out).

    Attributes:
        path: the file.
        what: a description for messages ("a keras_gen.VAE", "a TFLite decoder").
        latent_dim: int.
        condition: None, or a condition spec (``kind``, ``size``, ``names``).
        value_range: ``(low, high)`` of the images, or None if unknown.
        image_shape: ``(H, W, C)`` or None if unknown.
        decodes, encodes: bool, what it can do.
        has_prior: bool, whether its codes follow N(0, I) (not an AutoEncoder).
    """

    has_prior = True

    def decode(self, z, condition=None):
        raise NotImplementedError

    def encode(self, x, condition=None):
        raise NotImplementedError


class _KerasSource(_Source):
    """A model loaded from a ``.keras`` file."""

    def __init__(self, path, model):
        import keras

        from keras_gen.models import AutoEncoder
        from keras_gen.models import base

        self.path, self.model, self._base = path, model, base
        if isinstance(model, base.GenerativeModel):
            self.what = f"a keras_gen.{type(model).__name__}"
            self.latent_dim = int(model.latent_dim)
            self.condition = getattr(model, "condition_spec", None)
            self.value_range = tuple(float(v) for v in model.output_range)
            # the range --data must lie in: bounded by the decoding network's
            # activation or a BCE loss, else None (output_range's default)
            self.bounded_range = base.activation_range(model.decoding_network) or (
                (0.0, 1.0) if getattr(model, "reconstruction", None) == "bce" else None)
            self.decoder, self.encoder = model.decoding_network, model.encoding_network
            self.has_prior = not isinstance(model, AutoEncoder)
            self._generative = True
        elif isinstance(model, keras.Model):
            shapes = base.declared_input_shapes(model)
            try:
                output = model.output_shape
            except (AttributeError, ValueError):
                output = None
            plain = (
                shapes is not None
                and len(shapes) in (1, 2)
                and all(len(s) == 2 and s[1] is not None for s in shapes)
                and isinstance(output, tuple)
                and len(output) == 4
            )
            if not plain:
                raise CommandError(
                    f"PATH must hold a keras-gen model (GAN, VAE, AutoEncoder, ConditionalGAN, "
                    f"ConditionalVAE) or a keras.Model mapping z (batch, latent_dim), and "
                    f"optionally a condition (batch, k), to images (batch, H, W, C). Received: "
                    f"PATH={path!r}, a {type(model).__name__} with inputs {shapes} and output "
                    f"{output}"
                )
            self.what = f"a {type(model).__name__} generator"
            self.latent_dim = int(shapes[0][1])
            self.condition = None
            if len(shapes) == 2:
                self.condition = {"kind": "attributes", "size": int(shapes[1][1]), "names": None}
            self.value_range = self.bounded_range = base.activation_range(model)
            self.decoder, self.encoder = model, None
            self._generative = False
        else:
            raise CommandError(
                f"PATH must hold a keras.Model. Received: PATH={path!r}, a {type(model).__name__}"
            )
        self.decodes = True
        self.encodes = self.encoder is not None
        shape = getattr(self.decoder, "output_shape", None)
        self.image_shape = tuple(shape[1:]) if isinstance(shape, tuple) and len(shape) == 4 else None

    def decode(self, z, condition=None):
        import numpy as np

        z = np.asarray(z, dtype="float32")
        if condition is not None and self._generative:
            return np.asarray(
                self.model.decode(z, condition=condition, batch_size=_BATCH_SIZE), dtype="float32"
            )
        from keras_gen import backend

        inputs = z if condition is None else [z, condition]
        out = backend.predict(self.decoder, inputs, batch_size=_BATCH_SIZE, verbose=0)
        return np.asarray(self._base.as_float32(out), dtype="float32")

    def encode(self, x, condition=None):
        import numpy as np

        if condition is None:
            codes = self.model.latent_codes(x, batch_size=_BATCH_SIZE)
        else:
            codes = self.model.latent_codes(x, batch_size=_BATCH_SIZE, condition=condition)
        return np.asarray(codes, dtype="float32")


class _ArtefactSource(_Source):
    """Exported artefacts run by ``keras_gen.runtime``: a decoder, an encoder, or both."""

    def __init__(self, path, decoder=None, encoder=None):
        self.path, self.decoder, self.encoder = path, decoder, encoder
        main = decoder if decoder is not None else encoder
        self.decodes, self.encodes = decoder is not None, encoder is not None
        manifest = main.manifest or {}
        fmt = manifest.get("format") or ("saved_model" if os.path.isdir(main.path) else
                                         os.path.splitext(main.path)[1].lstrip(".").lower())
        name = _FORMAT_NAMES.get(fmt, fmt)
        self.what = f"{'an' if name[:1] in 'AEIOU' else 'a'} {name} {_part(main)}"
        self.condition = main.condition
        if decoder is not None:
            self.latent_dim = decoder.latent_dim
            out = (decoder.manifest or {}).get("outputs") or [{}]
            self.value_range = _pair(out[0].get("value_range"))
            shape = out[0].get("shape")
            self.image_shape = tuple(shape[1:]) if shape and len(shape) == 4 else None
        else:
            self.latent_dim = int(manifest.get("latent_dim") or 0) or None
            self.value_range = _pair(manifest["inputs"][0].get("value_range")) if manifest else None
            self.image_shape = None
        if encoder is not None:
            shape = encoder.input_shape
            self.image_shape = self.image_shape or tuple(shape[1:])
            if self.value_range is None and encoder.manifest:
                self.value_range = _pair(encoder.manifest["inputs"][0].get("value_range"))

    def decode(self, z, condition=None):
        import numpy as np

        out = self.decoder(np.asarray(z, dtype="float32"), condition)
        return np.asarray(out, dtype="float32")

    def encode(self, x, condition=None):
        import numpy as np

        out = self.encoder(np.asarray(x, dtype="float32"), condition)
        if isinstance(out, dict):
            out = out["z_mean"] if "z_mean" in out else out[self.encoder.output_names[0]]
        return np.asarray(out, dtype="float32")


_FORMAT_NAMES = {"tflite": "TFLite", "onnx": "ONNX", "saved_model": "SavedModel"}


def _part(runner):
    """A runner's part: the manifest's, else guessed from its input's rank."""
    if runner.manifest and runner.manifest.get("part"):
        return runner.manifest["part"]
    return "generator" if len(runner.input_shape) == 2 else "encoder"


def _pair(value):
    return None if value is None else (float(value[0]), float(value[1]))


def _open(args, need_encoder=False):
    """The ``_Source`` of ``args.path`` (and ``args.encoder``), checked for the command."""
    path = args.path
    kind = _path_kind(path)
    if kind == "keras":
        source = _KerasSource(path, _load_keras_model(path, args))
    else:
        runner = _load_runner(path, args)
        if _part(runner) == "encoder":
            if not need_encoder:
                raise CommandError(
                    f"PATH must be a generator or decoder artefact (z -> images) for "
                    f"'{args.command}'. Received: PATH={path!r}, an encoder (images -> codes)"
                )
            decoder_path = _sibling(path, "encoder", "decoder")
            decoder = _load_runner(decoder_path, args, "the decoder beside PATH") if decoder_path else None
            if decoder is None:
                raise CommandError(
                    f"PATH must be the decoder artefact (its encoder is found beside it or passed "
                    f"with --encoder). Received: PATH={path!r}, an encoder"
                )
            source = _ArtefactSource(decoder_path, decoder=decoder, encoder=runner)
        elif need_encoder:
            encoder_path = args.encoder or _sibling(path, "decoder", "encoder")
            if encoder_path is None:
                raise CommandError(
                    f"--encoder is required: '{args.command}' encodes images and PATH is a "
                    f"{_part(runner)} artefact with no '...encoder...' file beside it. "
                    f"Received: PATH={path!r}, --encoder=None"
                )
            if _path_kind(encoder_path, "--encoder") != "artefact":
                raise CommandError(
                    f"--encoder must be an exported encoder artefact. Received: --encoder={encoder_path!r}"
                )
            encoder = _load_runner(encoder_path, args, "--encoder")
            if _part(encoder) != "encoder":
                raise CommandError(
                    f"--encoder must be an encoder artefact (images -> codes). Received: "
                    f"--encoder={encoder_path!r}, a {_part(encoder)}"
                )
            source = _ArtefactSource(path, decoder=runner, encoder=encoder)
        else:
            source = _ArtefactSource(path, decoder=runner)
    if need_encoder and not source.encodes:
        raise CommandError(
            f"PATH must be a model with an encoder (VAE, AutoEncoder, ConditionalVAE) for "
            f"'{args.command}'. Received: PATH={path!r}, {source.what}"
        )
    return source


def _sibling(path, old, new):
    """``path`` with the last ``old`` in its file name replaced by ``new``, if that exists."""
    folder, name = os.path.split(path.rstrip("/\\"))
    index = name.rfind(old)
    if index < 0:
        return None
    candidate = os.path.join(folder, name[:index] + new + name[index + len(old):])
    return candidate if os.path.exists(candidate) else None


# ------------------------------------------------------------------ labels
def _labels_given(args):
    if getattr(args, "label", None) is not None:
        return "--label", args.label
    if getattr(args, "labels", None) is not None:
        return "--labels", args.labels
    return None, None


def _parse_labels(source, option, text):
    """The label list of ``--label`` / ``--labels``: (m, k) float32 condition vectors."""
    import numpy as np

    condition = source.condition
    k = int(condition["size"])
    if condition["kind"] == "classes":
        items = text.split(",") if option == "--labels" else [text]
        try:
            ids = [int(item) for item in items]
        except ValueError:
            ids = None
        if ids is None or not all(0 <= i < k for i in ids):
            raise CommandError(
                f"{option} must be {'comma-separated class ids' if option == '--labels' else 'a class id'} "
                f"in [0, {k}) for {source.what} ({_describe_condition(condition)}). "
                f"Received: {option}={text}"
            )
        return np.eye(k, dtype="float32")[ids]
    items = text.split(";") if option == "--labels" else [text]
    try:
        vectors = np.array([[float(v) for v in item.split(",")] for item in items], dtype="float32")
    except ValueError:
        vectors = None
    if vectors is None or vectors.ndim != 2 or vectors.shape[1] != k or not np.isfinite(vectors).all():
        raise CommandError(
            f"{option} must be {'attribute vectors separated by ;' if option == '--labels' else 'an attribute vector'} "
            f"of {k} comma-separated numbers for {source.what} ({_describe_condition(condition)}). "
            f"Received: {option}={text}"
        )
    return vectors


def _condition_vectors(source, args, n):
    """``(n, k)`` condition vectors from ``--label`` / ``--labels`` (repeated), or None."""
    import numpy as np

    option, text = _labels_given(args)
    if source.condition is None:
        if option is not None:
            raise CommandError(
                f"{option} must not be given: PATH holds {source.what}, an unconditional model. "
                f"Received: {option}={text}"
            )
        return None
    if option is None:
        raise CommandError(
            f"--label or --labels is required: PATH holds {source.what} conditioned on "
            f"{_describe_condition(source.condition)}. Received: no --label or --labels"
        )
    vectors = _parse_labels(source, option, text)
    if len(vectors) > n:
        raise CommandError(
            f"{option} must hold at most one label per item ({n}). Received: {len(vectors)} "
            f"labels in {option}={text}"
        )
    return np.tile(vectors, (math.ceil(n / len(vectors)), 1))[:n]


# ------------------------------------------------------------------ output
def _write_images(args, images, cols, source, summary, array=None):
    """Write ``images`` (..., H, W, C) as a PNG grid with ``cols`` per row.

    ``--npy`` saves ``array`` (default: ``images``) as float32.
    """
    array = images if array is None else array
    import numpy as np

    from keras_gen import images as grids

    if np.ndim(images) < 4:  # (n, d) or (rows, n, d): a model of vectors
        raise CommandError(
            f"PATH outputs vectors of shape {tuple(np.shape(images)[-1:])} per item, not images "
            "(height, width, channels): the commands write image grids. Use the model from "
            f"Python (keras_gen.runtime.load(PATH)) for vectors. Received: PATH={args.path!r}"
        )

    value_range = args.value_range
    if value_range == "auto":
        value_range = source.value_range
        if value_range is None:
            value_range = (0.0, 1.0)
            print(
                "note: the model does not record its output range; mapping 0..1 to black..white "
                "(pass --value-range=-1,1 for a tanh generator)",
                file=sys.stderr,
            )
    flat = images.reshape((-1,) + images.shape[-3:])
    grid = grids.image_grid(flat, cols=cols, value_range=value_range, padding=args.padding)
    pixels = grid.shape[0] * grid.shape[1] * args.scale**2
    if pixels > MAX_PNG_PIXELS:
        raise CommandError(
            f"--scale {args.scale} makes a {grid.shape[1] * args.scale}x{grid.shape[0] * args.scale} px "
            f"image, more than {MAX_PNG_PIXELS:,} px; use a smaller --scale (or fewer images). "
            f"Received: --scale={args.scale}"
        )
    if args.npy and os.path.abspath(args.npy) == os.path.abspath(args.out):
        raise CommandError(f"--npy and --out must be different files. Received: --npy={args.npy!r} "
                           f"and --out={args.out!r}")
    option, target = "--out", args.out
    try:
        grids.save_png(grid, args.out, scale=args.scale)
        if args.npy:
            option, target = "--npy", args.npy
            # A sibling moved into place: an interrupted write leaves any previous file whole.
            grids.write_atomically(args.npy, lambda f: np.save(f, np.asarray(array, dtype="float32")))
    except OSError as error:
        raise CommandError(
            f"could not write the output: {error}. Received: {option}={target!r}", status=1
        ) from None
    h, w, c = flat.shape[1:]
    rows = math.ceil(len(flat) / cols)
    print(
        f"wrote {args.out}: {summary} ({rows} row{'s' if rows > 1 else ''} x {cols} "
        f"column{'s' if cols > 1 else ''} of {h}x{w}x{c} images, "
        f"{grid.shape[1] * args.scale}x{grid.shape[0] * args.scale} px)"
        + (f"; {args.npy}: array {tuple(array.shape)}" if args.npy else "")
    )


def _draw(seed, shape):
    import numpy as np

    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _check_prior(source, args):
    if not source.has_prior:
        raise CommandError(
            f"PATH must be a model with a prior over its codes (GAN, VAE, their conditional "
            f"versions, or a generator) for '{args.command}'. Received: PATH={args.path!r}, "
            f"{source.what} (an AutoEncoder's codes do not follow N(0, I); try reconstruct)"
        )


# ------------------------------------------------------------------ commands
def _generate(args):
    source = _open(args)
    _check_prior(source, args)
    option, text = _labels_given(args)
    # --labels without --n: one image per label; with --n: repeated to fill n.
    count = None
    if option == "--labels" and source.condition is not None:
        count = len(_parse_labels(source, option, text))
    n = args.n if args.n is not None else (count or _DEFAULT_N)
    condition = _condition_vectors(source, args, n)
    images = source.decode(_draw(args.seed, (n, source.latent_dim)), condition)
    cols = args.nrow
    if cols is None:
        cols = count if count is not None and count < n else math.ceil(math.sqrt(n))
    labelled = f", {option} {text}" if condition is not None else ""
    _write_images(args, images, cols, source, f"{n} samples of {source.what} (seed {args.seed}{labelled})")
    return 0


def _interpolate(args):
    import numpy as np

    data = args.data is not None
    source = _open(args, need_encoder=data)  # imports Keras under --backend for a .keras file
    from keras_gen import latent
    rows, steps = args.rows, args.steps
    originals = None
    if data:  # from test image i to test image rows + i, each encoded with its own label
        x, labels = _load_data(args, source, 2 * rows, per_item=2, option="--rows")
        if source.condition is not None and labels is None:
            start = end = _condition_vectors(source, args, rows)
        else:
            both = _data_condition(source, args, labels, 2 * rows)
            start, end = (None, None) if both is None else (both[:rows], both[rows:])
        a, b = source.encode(x[:rows], start), source.encode(x[rows:], end)
        originals = (x[:rows, None], x[rows:, None])
    else:
        _check_prior(source, args)
        start = end = _condition_vectors(source, args, rows)
        a, b = _draw(args.seed, (2, rows, source.latent_dim))
    path = latent.interpolate_codes(a, b, steps, args.method)  # (rows, steps, d)
    condition = None
    if start is not None:
        if start is end:
            condition = start.repeat(steps, axis=0)
        else:  # the condition moves linearly from one end's to the other's
            t = np.linspace(0.0, 1.0, steps, dtype="float32")[None, :, None]
            mixed = (1.0 - t) * start[:, None] + t * end[:, None]
            low, high = np.minimum(start, end)[:, None], np.maximum(start, end)[:, None]
            condition = np.clip(mixed, low, high).reshape(rows * steps, -1)
    images = source.decode(path.reshape(-1, path.shape[-1]), condition)
    images = images.reshape((rows, steps) + images.shape[1:])
    grid = images
    if originals is not None:
        grid = np.concatenate([originals[0], images, originals[1]], axis=1)
    ends = f"between test images of {args.data}, shown at both ends" if data else f"seed {args.seed}"
    what = f"{rows} {args.method} paths of {steps} steps, {source.what} ({ends})"
    _write_images(args, grid, grid.shape[1], source, what, array=images)
    return 0


def _load_data(args, source, n, split="test", per_item=1, option="--n"):
    """``n`` images of ``--data`` at the model's size and range, and their labels (or None).

    ``option`` names the argument that asks for ``n // per_item`` items.
    """
    import numpy as np

    shape = source.image_shape
    if shape is None or None in shape:
        raise CommandError(
            f"PATH must declare its image shape to be fed --data (the artefact has no manifest). "
            f"Received: PATH={args.path!r}"
        )
    height, width, channels = shape
    value_range = source.value_range or (0.0, 1.0)
    name = args.data
    if name in DATASETS:
        wanted = 1 if name == "digits" else 3
        if channels != wanted:
            raise CommandError(
                f"--data {name} has {wanted} channel{'s' if wanted > 1 else ''} but PATH's images "
                f"have {channels}. Received: --data={name}"
            )
        if name == "digits":
            from keras_gen.data.digits import load_digits

            x, y = load_digits(split, image_size=(height, width), value_range=value_range)
        else:
            from keras_gen.data.shapes import SHAPES_SPLIT_SIZES
            from keras_gen.data.shapes import load_shapes

            # at most the split (more is the usage error below, naming the option)
            x, y = load_shapes(split, image_size=(height, width), value_range=value_range,
                               num_examples=min(n, SHAPES_SPLIT_SIZES[split]))
    elif name.lower().endswith(".npy"):
        if not os.path.isfile(name):
            raise CommandError(f"--data must be digits, shapes or an existing .npy file. Received: --data={name!r}")
        x, y = np.load(name).astype("float32"), None
        if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
            raise CommandError(
                f"--data must hold images of shape (n, {height}, {width}, {channels}), PATH's. "
                f"Received: --data={name!r} of shape {x.shape}"
            )
        finite = np.isfinite(x).reshape(len(x), -1).all(axis=1)
        if not finite.all():
            raise CommandError(
                f"--data must hold finite values; {int((~finite).sum())} of its {len(x)} images "
                f"hold NaN or Inf (the first is image {int(np.argmin(finite))}). Received: --data={name!r}"
            )
        given = getattr(args, "value_range", "auto")
        bounds = given if given != "auto" else getattr(source, "bounded_range", source.value_range)
        low, high = (float(x.min()), float(x.max())) if len(x) else (0.0, 0.0)
        if bounds is not None and len(x) and (low < bounds[0] - _RANGE_SLACK
                                              or high > bounds[1] + _RANGE_SLACK):
            where = "--value-range" if given != "auto" else "PATH's value range"
            raise CommandError(
                f"--data must hold images in {where} [{bounds[0]:g}, {bounds[1]:g}]; its values "
                f"span [{low:g}, {high:g}] (rescale them, e.g. 0..255 images / 255, or pass "
                f"--value-range=LOW,HIGH for a model trained on another range). Received: --data={name!r}"
            )
    else:
        raise CommandError(
            f"--data must be {', '.join(DATASETS)} or a .npy file of images. Received: --data={name!r}"
        )
    if n > len(x):
        raise CommandError(
            f"{option} must be at most {len(x) // per_item} for the {len(x)} images in --data "
            f"{name}. Received: {option}={n // per_item}"
        )
    return x[:n], (None if y is None else y[:n])


def _data_condition(source, args, labels, n):
    """The condition of ``n`` data images: their own labels, else --label / --labels."""
    import numpy as np

    if source.condition is None or labels is None:
        return _condition_vectors(source, args, n)
    option, _ = _labels_given(args)
    if option is not None:
        raise CommandError(
            f"{option} must not be given with --data {args.data}: its images bring their own "
            f"labels. Received: {option}"
        )
    k = int(source.condition["size"])
    if source.condition["kind"] == "classes":
        if labels.ndim != 1 or labels.max() >= k:
            raise CommandError(
                f"--data {args.data} has class labels that PATH ({_describe_condition(source.condition)}) "
                f"does not take. Received: --data={args.data}"
            )
        return np.eye(k, dtype="float32")[labels]
    if labels.ndim != 2 or labels.shape[1] != k:
        raise CommandError(
            f"--data {args.data} has labels of shape {labels.shape[1:]} but PATH is conditioned on "
            f"{_describe_condition(source.condition)}. Received: --data={args.data}"
        )
    return labels.astype("float32")


def _reconstruct(args):
    import numpy as np

    source = _open(args, need_encoder=True)
    x, labels = _load_data(args, source, args.n)
    condition = _data_condition(source, args, labels, args.n)
    reconstructions = source.decode(source.encode(x, condition), condition)
    cols = args.nrow or min(args.n, 16)
    blank = np.full((1,) + x.shape[1:], (source.value_range or (0.0, 1.0))[1], dtype="float32")
    rows = []
    for start in range(0, args.n, cols):
        for part in (x, reconstructions):
            chunk = part[start : start + cols]
            rows.append(np.concatenate([chunk] + [blank] * (cols - len(chunk))))
    error = float(np.mean((reconstructions - x) ** 2))
    what = (
        f"{args.n} {'test ' if args.data in DATASETS else ''}images of {args.data} above their "
        f"reconstructions by {source.what}; "
        f"mean squared error per pixel {error:.5f}"
    )
    _write_images(args, np.stack(rows), cols, source, what, array=reconstructions)
    return 0


def _alter(args):
    import numpy as np

    if args.source == args.target:
        raise CommandError(f"--to must differ from --from. Received: --from={args.source}, --to={args.target}")
    source = _open(args, need_encoder=True)
    from keras_gen import latent
    from keras_gen.data.digits import load_digits

    shape = source.image_shape
    if shape is None or shape[-1] != 1:
        raise CommandError(
            f"--data digits has 1 channel but PATH's images have shape {shape}. Received: --data=digits"
        )
    value_range = source.value_range or (0.0, 1.0)
    x_test, y_test = load_digits("test", image_size=shape[:2], value_range=value_range)
    x = x_test[y_test == args.source]
    if args.n > len(x):
        raise CommandError(
            f"--n must be at most {len(x)}, the test digits {args.source}. Received: --n={args.n}"
        )
    x = x[: args.n]
    alphas = np.asarray(args.alphas, dtype="float32")
    condition = source.condition
    if condition is None:
        x_train, y_train = load_digits("train", image_size=shape[:2], value_range=value_range)
        keep = (y_train == args.source) | (y_train == args.target)
        codes = source.encode(x_train[keep])
        onehot = np.eye(10, dtype="float32")
        z = source.encode(x)
        if args.mode == "vector":
            vectors = latent.attribute_vectors(
                codes, onehot[y_train[keep]], target=args.target, group=tuple(range(10)),
                source_labels=onehot[np.full(len(x), args.source)],
            )
            altered = latent.alter_codes(z, vectors, alphas, mode="vector")
        else:
            z_target = codes[y_train[keep] == args.target].mean(axis=0)
            altered = latent.alter_codes(z, z_target, alphas, mode="target")
        flat = source.decode(altered.reshape(-1, z.shape[1]))
        how = f"attribute vector ({args.mode} mode)"
    elif condition["kind"] == "classes" and condition["size"] == 10:
        if alphas.min() < 0 or alphas.max() > 1:
            raise CommandError(
                "--alphas must lie in [0, 1] for a conditional model: alpha mixes the two labels. "
                f"Received: --alphas={','.join(f'{a:g}' for a in args.alphas)}"
            )
        eye = np.eye(10, dtype="float32")
        c_from, c_to = eye[[args.source] * len(x)], eye[[args.target] * len(x)]
        z = source.encode(x, c_from)
        z_all = np.repeat(z, len(alphas), axis=0)
        mix = alphas[None, :, None]
        c_all = ((1.0 - mix) * c_from[:, None, :] + mix * c_to[:, None, :]).reshape(-1, 10)
        flat = source.decode(z_all, c_all)
        how = "label moved from one class to the other (alpha=1: style transfer)"
    else:
        raise CommandError(
            f"PATH must be a VAE, AutoEncoder or a ConditionalVAE with 10 classes to alter digits. "
            f"Received: PATH={args.path!r}, {source.what} conditioned on {_describe_condition(condition)}"
        )
    altered_images = flat.reshape((len(x), len(alphas)) + flat.shape[1:])
    images = np.concatenate([x[:, None], altered_images], axis=1)
    what = (
        f"{len(x)} test digits {args.source} -> {args.target} by {source.what}, {how}; columns: "
        f"original, alpha={','.join(f'{a:g}' for a in args.alphas)}"
    )
    _write_images(args, images, 1 + len(alphas), source, what, array=altered_images)
    return 0


def _export(args):
    import importlib

    if _path_kind(args.path) != "keras":
        raise CommandError(f"PATH must be a .keras model to export. Received: PATH={args.path!r}")
    model = _load_keras_model(args.path, args)
    export = importlib.import_module("keras_gen.export")
    fmt = args.format
    if fmt is None:
        suffix = os.path.splitext(args.out.rstrip("/\\"))[1].lower()
        fmt = {".tflite": "tflite", ".onnx": "onnx"}.get(suffix, "saved_model")
    if fmt not in export.FORMATS:
        raise CommandError(
            f"--format must be one of {', '.join(export.FORMATS)} (this keras-gen's formats). "
            f"Received: --format={fmt}"
        )
    quantization = None if args.quantization in (None, "none") else args.quantization
    if quantization not in export.QUANTIZATIONS:
        raise CommandError(
            f"--quantization must be none or one of "
            f"{', '.join(q for q in export.QUANTIZATIONS if q)}. Received: --quantization={args.quantization}"
        )
    if args.part is not None and args.part not in export.PARTS:
        raise CommandError(f"--part must be one of {', '.join(export.PARTS)}. Received: --part={args.part}")
    manifest = export.export(
        model, args.out, format=fmt, quantization=quantization, part=args.part,
        batch_size=args.batch_size,
    )
    print(
        f"wrote {args.out} and {args.out.rstrip('/')}.json: the {manifest.get('part')} of "
        f"a {type(model).__name__}, {_FORMAT_NAMES.get(fmt, fmt)}"
        f"{', ' + quantization if quantization else ''}, {manifest.get('size_bytes')} bytes"
    )
    return 0


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _info(args):
    kind = _path_kind(args.path)
    if kind == "keras" and args.json:
        raise CommandError("--json applies to artefacts (it prints their manifest). Received: --json with a .keras PATH")
    lines = []
    if kind == "keras":
        source = _KerasSource(args.path, _load_keras_model(args.path, args))
        model = source.model
        lines.append(f"path: {args.path} ({os.path.getsize(args.path)} bytes, .keras{_saved_with(args.path)})")
        lines.append(f"model: {source.what} named {model.name!r}, {model.count_params()} parameters")
        lines.append(f"latent_dim: {source.latent_dim}")
        lines.append(f"condition: {_describe_condition(source.condition)}")
        lines.append(f"value range: {list(source.value_range) if source.value_range else 'unknown'}")
        for name, network in (("decoder", source.decoder), ("encoder", source.encoder)):
            if network is not None:
                lines.append(f"{name}: {_io_text(network)}")
        commands = ["generate", "interpolate"] if source.has_prior else []
        if source.encodes:
            grey = source.image_shape is not None and source.image_shape[-1] == 1
            commands += (["reconstruct"] + (["alter"] if grey else [])  # alter reads the digits
                         + ([] if source.has_prior else ["interpolate --data"]))
        lines.append(f"commands: {', '.join(commands + ['export', 'info'])}")
    else:
        runner = _load_runner(args.path, args)
        manifest = runner.manifest
        if args.json:
            print(json.dumps(manifest, indent=2))
            return 0
        source = _ArtefactSource(args.path, **{("encoder" if _part(runner) == "encoder" else "decoder"): runner})
        from keras_gen import runtime

        size = runtime.artefact_size(args.path)
        lines.append(f"path: {args.path} ({size} bytes, {source.what})")
        if manifest:
            lines.append(
                f"exported from: a {manifest.get('model_class')} named "
                f"{manifest.get('model_name')!r} on {manifest.get('source_backend')} (Keras "
                f"{manifest.get('keras_version')}), quantization {manifest.get('quantization') or 'none (float32)'}"
            )
            for key in ("inputs", "outputs"):
                entries = ", ".join(
                    f"{e['name']} {_shape_text(e['shape'])}"
                    + (f" in {e['value_range']}" if e.get("value_range") else "")
                    for e in manifest[key]
                )
                lines.append(f"{key}: {entries}")
        else:
            lines.append(f"inputs: {', '.join(runner.input_names)}; outputs: {', '.join(runner.output_names)}")
        lines.append(f"latent_dim: {source.latent_dim}")
        lines.append(f"condition: {_describe_condition(source.condition)}")
        lines.append(f"manifest: {args.path.rstrip('/')}.json" if manifest else "manifest: none")
    print("\n".join(lines))
    return 0


def _saved_with(path):
    """", saved with Keras X on DATE" from a .keras file's metadata, or ""."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            metadata = json.loads(archive.read("metadata.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return ""
    return f", saved with Keras {metadata.get('keras_version')} on {metadata.get('date_saved')}"


def _io_text(network):
    def shapes(value):
        if isinstance(value, list):
            return " + ".join(_shape_text(s) for s in value)
        return _shape_text(value)

    try:
        return f"{shapes(network.input_shape)} -> {shapes(network.output_shape)}"
    except (AttributeError, ValueError):
        return type(network).__name__
