"""Logistic regression as a ``tf.Module`` and its loss."""

import tensorflow as tf


class LogisticRegression(tf.Module):
    """Linear logits ``x @ w + b`` over normalized features.

    Weights and bias start from ``tf.random.uniform`` with the given seed, as
    in the TensorFlow guide "Logistic regression for binary classification
    with Core APIs".
    """

    def __init__(self, num_features: int, seed: int, name: str | None = None):
        super().__init__(name=name)
        self.w = tf.Variable(
            tf.random.uniform([num_features, 1], seed=seed), name="weights"
        )
        self.b = tf.Variable(tf.random.uniform([], seed=seed), name="bias")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        """Return logits [batch] for normalized features ``x`` [batch, 30]."""
        return tf.squeeze(tf.matmul(x, self.w), axis=1) + self.b


def per_example_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Return the sigmoid cross-entropy of each example, [batch]."""
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
