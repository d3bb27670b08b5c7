"""Explicit Keras <-> PyTorch weight maps (numpy only): names, layouts, gate orders and bias splits
between the reference's Keras variables and the port's parameters.

- ``rnn``: the six Figure-3 cells (LSTM, GRU, rsimplernn, ssimplernn, maLSNN, maLSNNb), the
  embedding and the Dense readout of ``lscrepro.models.rnn.DeepRNN``.
- ``lru``: the ResLRU block of Figure 4 and Table 1.

The maps move plain arrays; ``rnn.load_into`` (which imports torch only when called) copies a
mapped dict into a port module. The tests (tests/test_crosscheck_weightmap.py) pin every gate
block to the PyTorch gate that the formula needs.
"""
