#!/usr/bin/python3
"""The tutorial's Keras experiment, rebuilt step for step in PyTorch, as a reference for `xgrad train`.

TensorFlow is not packaged by Debian, so Keras itself cannot run here; this script reproduces what
Keras does by default for

    model = Sequential([SimpleRNN(50, activation='tanh', input_shape=(10, 1)), Dense(1)])
    model.compile(optimizer='adam', loss='mse'); model.fit(X, y, epochs=20, batch_size=32)

- SimpleRNN: h_t = tanh(x_t K + h_{t-1} R + b) with ONE bias b (PyTorch's nn.RNN has two; not used);
  K glorot_uniform, R orthogonal, b zeros. Dense: glorot_uniform kernel, zero bias.
- Adam as Keras writes it: lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t), w -= lr_t * m / (sqrt(v) + 1e-7).
- fit(): the training set shuffled every epoch, batches of 32 (the last one smaller); the printed
  epoch loss is the mean over the epoch's samples (each batch's loss weighted by its size); evaluate() is the MSE over the test set.

Usage: scripts/keras_reference.py [--seeds N] [--epochs E]   (needs python3-torch, python3-numpy:
XGRAD_FIXTURES=1 scripts/install-deps.sh). Prints one "seed S: Test Loss: L" line per seed and the
median; docs/tutorial.md compares it with `xgrad train --seed S`.
"""
import argparse
import math

import numpy as np
import torch


def glorot_uniform(fan_in, fan_out, gen):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return (torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float32) * 2 - 1) * limit


def orthogonal(n, gen):
    a = torch.randn(n, n, generator=gen, dtype=torch.float32)
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r))


def run(seed, epochs, hidden=50, steps=10, n_train=1000, n_test=100, batch=32, lr=1e-3):
    rs = np.random.RandomState(seed)
    x_train = rs.rand(n_train, steps, 1).astype(np.float32)
    y_train = x_train.sum(axis=1)
    x_test = rs.rand(n_test, steps, 1).astype(np.float32)
    y_test = x_test.sum(axis=1)
    x_train, y_train, x_test, y_test = map(torch.from_numpy, (x_train, y_train, x_test, y_test))

    gen = torch.Generator().manual_seed(seed)
    params = {
        "kernel": glorot_uniform(1, hidden, gen),
        "recurrent": orthogonal(hidden, gen),
        "bias": torch.zeros(hidden),
        "dense": glorot_uniform(hidden, 1, gen),
        "dense_bias": torch.zeros(1),
    }
    for p in params.values():
        p.requires_grad_(True)

    def forward(x):
        h = torch.zeros(x.shape[0], hidden)
        for t in range(x.shape[1]):
            h = torch.tanh(x[:, t, :] @ params["kernel"] + h @ params["recurrent"] + params["bias"])
        return h @ params["dense"] + params["dense_bias"]

    m = {k: torch.zeros_like(p) for k, p in params.items()}
    v = {k: torch.zeros_like(p) for k, p in params.items()}
    b1, b2, eps, t = 0.9, 0.999, 1e-7, 0
    for _ in range(epochs):
        order = torch.from_numpy(rs.permutation(n_train))
        for start in range(0, n_train, batch):
            idx = order[start:start + batch]
            loss = torch.mean((forward(x_train[idx]) - y_train[idx]) ** 2)
            for p in params.values():
                p.grad = None
            loss.backward()
            t += 1
            lr_t = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            with torch.no_grad():
                for k, p in params.items():
                    m[k].mul_(b1).add_(p.grad, alpha=1 - b1)
                    v[k].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    p.sub_(lr_t * m[k] / (v[k].sqrt() + eps))
    with torch.no_grad():
        return torch.mean((forward(x_test) - y_test) ** 2).item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    losses = []
    for s in range(args.seeds):
        losses.append(run(s, args.epochs))
        print(f"seed {s}: Test Loss: {losses[-1]:.6g}", flush=True)
    print(f"median over {args.seeds} seeds: {float(np.median(losses)):.6g} "
          f"(min {min(losses):.6g}, max {max(losses):.6g})")


if __name__ == "__main__":
    main()
