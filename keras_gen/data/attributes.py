"""Names of the attribute vectors that labelled datasets yield.

Loaders label images in one of two ways:

- **class ids**: int32, shape `(batch,)`: `"digits"`, `"mnist"`,
  `"fashion_mnist"`, `"cifar10"`, and `from_folder(..., with_labels=True)`
  (ids of the first-level subfolders, sorted by name);
- **attribute vectors**: float32 0/1, shape `(batch, k)`: `"celeb_a"` (40
  attributes), `"shapes"` (14), and `from_folder(..., with_labels=True,
  attributes_file=...)`.

`attribute_names` gives the name of each column of an attribute vector.
"""

from keras_gen.data.shapes import SHAPES_ATTRIBUTES

# CelebA's 40 binary attributes, in the order `load("celeb_a",
# with_labels=True)` stacks them: the sorted names of the TFDS `celeb_a`
# builder's "attributes" features (also the column order of CelebA's own
# list_attr_celeba.txt).
CELEB_A_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes",
    "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair",
    "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones",
    "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard",
    "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace",
    "Wearing_Necktie", "Young",
)

_ATTRIBUTES = {"shapes": SHAPES_ATTRIBUTES, "celeb_a": CELEB_A_ATTRIBUTES}
_CLASS_ID_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def attribute_names(name):
    """The names of the columns of a dataset's attribute vectors.

    Args:
        name: str, `"shapes"` or `"celeb_a"`.

    Returns:
        A tuple of str: column `j` of the labels that
        `keras_gen.data.load(name, with_labels=True)` yields is the 0/1
        value of attribute `attribute_names(name)[j]`.

    Raises:
        ValueError: for a dataset whose labels are int class ids rather than
            attribute vectors (`"digits"`, `"mnist"`, `"fashion_mnist"`,
            `"cifar10"`), or an unknown name.

    Example:

    >>> names = attribute_names("shapes")
    >>> len(names), names[:2], names.index("Large")
    (14, ('Circle', 'Square'), 11)
    >>> attribute_names("celeb_a")[-1]
    'Young'
    """
    if isinstance(name, str) and name in _ATTRIBUTES:
        return _ATTRIBUTES[name]
    if isinstance(name, str) and name in _CLASS_ID_DATASETS:
        raise ValueError(
            f"Dataset '{name}' has no attribute names: its labels are int "
            "class ids (int32, shape (batch,)), not attribute vectors. "
            f"Datasets with attribute vectors: {', '.join(_ATTRIBUTES)}. "
            f"Received: name={name!r}"
        )
    raise ValueError(
        "name must be a dataset with attribute labels, one of "
        f"{list(_ATTRIBUTES)}. Received: name={name!r}"
    )
