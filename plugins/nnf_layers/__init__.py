"""nnf's built-in layers, registered through the ``nnf.layers`` entry-point group.

Import them as ``from nnf.layers import Dense``; this package is what that name resolves to.
Each module holds one layer family: ``dense``, ``convolutional``, ``reshape`` (Reshape,
Flatten), ``activations`` (Tanh, Sigmoid, ReLU, LeakyReLU), ``softmax``, ``pooling``
(MaxPool2D), ``averaging`` (AvgPool2D, GlobalAveragePooling2D), ``normalization``
(BatchNorm), ``residual`` (Residual) and ``dropout``; ``_common`` holds shared validators.
``kernels`` holds the batched fast paths the layers call, each beside a readable reference
(``kernels.reference``); ``onnx`` holds ONNX converters of the layers added since.
"""
