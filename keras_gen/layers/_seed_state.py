"""A layer's SeedGenerator state in its saved variables.

Keras does not save SeedGenerator state, so a reloaded or resumed layer
would draw a different noise stream. Layers that own one (``Sampling``,
``keras_gen.augment.DiffAugment``) store it under one extra key beside
their weights with these two functions.
"""

from keras import ops

KEY = "seed_state"


def save_seed_state(store, seed_generator):
    """Add ``seed_generator``'s state to a ``save_own_variables`` store."""
    store[KEY] = ops.convert_to_numpy(seed_generator.state.value)


def load_seed_state(store, seed_generator):
    """Restore the state if ``store`` holds one; return the store's other entries (a dict)."""
    keys = list(store.keys())
    if KEY in keys:
        state = seed_generator.state
        state.assign(ops.cast(store[KEY], state.dtype))
    return {k: store[k] for k in keys if k != KEY}
