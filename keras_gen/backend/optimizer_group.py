"""Several optimizers presented to the Keras trainer as one."""

import keras


@keras.saving.register_keras_serializable(package="keras_gen")
class OptimizerGroup(keras.optimizers.Optimizer):
    """Several optimizers, each owning a subset of a model's variables.

    Keras trainers know one ``model.optimizer``; JAX's ``fit()`` carries only
    ``model.optimizer.variables`` through the jitted step. A model with two
    players (a GAN's discriminator and generator optimizers) registers both
    in one group at ``compile`` time, so that every member's variables
    (iterations, Adam moments, ...) travel in the jitted state and advance.

    The group never applies gradients itself: models call
    ``keras_gen.backend.minimize`` with one member at a time.

    Args:
        optimizers: dict mapping a name to a ``keras.optimizers.Optimizer``.
        variables: dict mapping the same names to functions of no arguments
            that return the variables each optimizer updates; used to build
            every member's slots eagerly (variables cannot be created inside
            ``jax.jit``).
        name: str, the group's name. Defaults to ``"optimizer_group"``.
    """

    def __init__(self, optimizers, variables, name="optimizer_group"):
        super().__init__(learning_rate=0.0, name=name)
        if not isinstance(optimizers, dict) or not optimizers:
            raise ValueError(
                "optimizers must be a non-empty dict of name -> optimizer. "
                f"Received: optimizers={optimizers!r}"
            )
        if set(variables) != set(optimizers):
            raise ValueError(
                "variables must name the same optimizers as `optimizers`. "
                f"Received: optimizers={sorted(optimizers)}, "
                f"variables={sorted(variables)}"
            )
        seen = set()
        for key, opt in optimizers.items():
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise TypeError(
                    f"{key} must be a keras.optimizers.Optimizer. "
                    f"Received: {key}={opt!r}"
                )
            if id(opt) in seen:
                raise ValueError(
                    "Each player needs its own optimizer instance (their "
                    f"state must not mix). Received the same object twice: {opt!r}"
                )
            seen.add(id(opt))
        self.names = list(optimizers)
        self.optimizers = [optimizers[k] for k in self.names]
        self._variable_fns = [variables[k] for k in self.names]

    def build(self, var_list):
        for opt, fn in zip(self.optimizers, self._variable_fns):
            if not opt.built:
                opt.build(list(fn()))
        super().build(var_list)

    @property
    def variables(self):
        out = list(self._variables)
        for opt in self.optimizers:
            out.extend(opt.variables)
        return out

    @property
    def iterations(self):
        # The last member is the one stepped once per train step (a GAN's
        # generator optimizer); callbacks read this as the global step.
        return self.optimizers[-1].iterations

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "An OptimizerGroup does not apply gradients itself; call "
            "keras_gen.backend.minimize(model, loss_fn, variables, member) "
            f"with one of its members: {self.names}"
        )

    def finalize_variable_values(self, var_list):
        for opt, fn in zip(self.optimizers, self._variable_fns):
            opt.finalize_variable_values(list(fn()))

    # Members save and load their own variables (the saving walk visits the
    # `optimizers` attribute), so the group stores only its own.
    def save_own_variables(self, store):
        for i, v in enumerate(self._variables):
            store[str(i)] = v.numpy()

    def load_own_variables(self, store):
        for i, v in enumerate(self._variables):
            v.assign(store[str(i)])

    def get_config(self):
        return {
            "name": self.name,
            "optimizers": {
                k: keras.saving.serialize_keras_object(o)
                for k, o in zip(self.names, self.optimizers)
            },
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        raise NotImplementedError(
            "An OptimizerGroup is rebuilt by its model's compile_from_config, "
            "not deserialised on its own."
        )
