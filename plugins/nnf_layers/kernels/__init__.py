"""The built-in layers' batched fast paths, each beside a readable reference.

* ``convolution``: im2col + BLAS convolution in cache-sized blocks (``Convolutional``), on
  ``im2col`` (the window views and their adjoints);
* ``pooling``: max pooling and its gradient as strided whole-array operations (``MaxPool2D``);
* ``dense``: the weight-gradient product in a per-thread buffer (``Dense``);
* ``elementwise``: ReLU against a shared zeros array;
* ``reference``: the same computations one sample at a time in the tutorial's terms
  (``scipy.signal.correlate2d`` / ``convolve2d``, ``np.dot``): read these first; the tests
  check the fast paths against them.

Tuning constants live beside the code they tune, with the measurements that chose them
(benchmarks/README.md). Work buffers come from ``nnf.workspace`` (one set per thread).
"""
