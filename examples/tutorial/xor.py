# The tutorial's XOR network, with only the imports changed (matplotlib is optional:
# `pip install 'nnf-framework[plot]'` to see the decision surface). Without a display,
# plt.show() saves the plot to xor.png instead (nnf.visual.headless).
import numpy as np
try:
    from nnf.visual.headless import pyplot_or_png
    plt = pyplot_or_png("xor.png")
except ImportError:
    plt = None

from nnf.layers import Dense
from nnf.layers import Tanh
from nnf.losses import mse, mse_prime
from nnf import train, predict

X = np.reshape([[0, 0], [0, 1], [1, 0], [1, 1]], (4, 2, 1))
Y = np.reshape([[0], [1], [1], [0]], (4, 1, 1))

network = [
    Dense(2, 3),
    Tanh(),
    Dense(3, 1),
    Tanh()
]

# train
train(network, mse, mse_prime, X, Y, epochs=10000, learning_rate=0.1)

# decision boundary plot
points = []
for x in np.linspace(0, 1, 20):
    for y in np.linspace(0, 1, 20):
        z = predict(network, [[x], [y]])
        points.append([x, y, z[0,0]])

points = np.array(points)

if plt is not None:
    fig = plt.figure()
    ax = fig.add_subplot(111, projection="3d")
    ax.scatter(points[:, 0], points[:, 1], points[:, 2], c=points[:, 2], cmap="winter")
    plt.show()
