"""ONNX converters of the built-in layers, one module per layer family.

Registered in the ``nnf.onnx`` entry-point group of nnf's ``pyproject.toml`` exactly as a
third-party package registers its own (see ``examples/plugin``): the entry name is the layer
key, the value ``module:function``. A converter takes ``(layer, graph, x)``, where ``x`` names
the layer's input tensor ``(N, *layer.in_shape)``, adds nodes with ``graph.node``/
``graph.constant``/``graph.ints`` and returns the name of its output ``(N, *layer.out_shape)``.
Converters read only a layer's public surface: ``params``, shapes, config and its geometry
helpers. None of them imports ``onnx``.
"""
