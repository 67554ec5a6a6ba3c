"""Feed-forward style networks: the architecture, training with Keras `fit`
(across devices and machines with tf.distribute), the training photos, and
painting pictures and clips with a trained network."""
