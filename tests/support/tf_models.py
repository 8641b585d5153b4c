"""Small TensorFlow SavedModels built in fixtures, each with TensorFlow's own answer.

- `dense`: a `tf.Module` whose `serving_default` is one dense layer with fixed weights: `x` FP32
  [N, 4] -> `y` FP32 [N, 3].
- `pair`: two inputs of different dtypes, `features` FP32 [N, 4] and `ids` INT64 [N], giving
  `probabilities` and `doubled`; a second signature, `strings`, takes `text` (strings) and gives
  `length` and `upper_bytes` (a name TF Serving answers in base64).
- `flowers`: a TensorFlow 1 graph, saved by `tf.compat.v1`'s builder under version directory
  `0001/`, shaped as KServe's flowers sample: `image_bytes` and `key` (strings) in; `scores`,
  `prediction` and `key` out.

Each builder returns the SavedModel's directory and a function computing the signature's own
outputs by name (TensorFlow running the saved model): what modelplane's answers must equal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Named = dict[str, np.ndarray[Any, Any]]
Reference = Callable[[Named], Named]

WEIGHTS = (np.arange(12, dtype=np.float32).reshape(4, 3) - 6) / 10
BIAS = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def runner(directory: Path, signature: str = "serving_default") -> Reference:
    """TensorFlow's own outputs of one signature of the SavedModel in `directory`, by name."""
    import tensorflow as tf

    function = tf.saved_model.load(str(directory)).signatures[signature]
    names = sorted(function.structured_outputs)  # as modelplane lists them

    def run(inputs: Named) -> Named:
        results = function(**{name: tf.constant(array) for name, array in inputs.items()})
        return {name: results[name].numpy() for name in names}

    return run


def dense(directory: Path) -> tuple[Path, Reference]:
    import tensorflow as tf

    class Dense(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(WEIGHTS)
            self.b = tf.Variable(BIAS)

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Dense()
    tf.saved_model.save(module, str(directory), signatures={"serving_default": module.serve})
    return directory, runner(directory)


def pair(directory: Path) -> tuple[Path, Reference]:
    import tensorflow as tf

    class Pair(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(WEIGHTS)

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, 4], tf.float32, name="features"),
                tf.TensorSpec([None], tf.int64, name="ids"),
            ]
        )
        def serve(self, features: Any, ids: Any) -> dict[str, Any]:
            return {"probabilities": tf.nn.softmax(features @ self.w), "doubled": ids * 2}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def strings(self, text: Any) -> dict[str, Any]:
            return {"length": tf.strings.length(text), "upper_bytes": tf.strings.upper(text)}

    module = Pair()
    signatures = {"serving_default": module.serve, "strings": module.strings}
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory, runner(directory)


def flowers(directory: Path) -> tuple[Path, Reference]:
    """A TF 1 SavedModel in `directory/0001`; scores come from each image's length in bytes."""
    import tensorflow as tf

    v1 = tf.compat.v1
    version = directory / "0001"
    with tf.Graph().as_default(), v1.Session() as session:
        image = v1.placeholder(tf.string, [None], name="image_bytes")
        key = v1.placeholder(tf.string, [None], name="key")
        size = tf.cast(tf.strings.length(image), tf.float32)
        scale = v1.get_variable("scale", initializer=tf.constant([0.01, 0.02, 0.03]))
        scores = tf.nn.softmax(size[:, None] * scale)
        prediction = tf.argmax(scores, axis=1)
        session.run(v1.global_variables_initializer())
        builder = v1.saved_model.Builder(str(version))
        signature = v1.saved_model.predict_signature_def(
            inputs={"image_bytes": image, "key": key},
            outputs={"scores": scores, "prediction": prediction, "key": tf.identity(key)},
        )
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature}
        )
        builder.save()
    return directory, runner(version)
