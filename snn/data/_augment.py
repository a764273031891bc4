"""Training augmentation for MNIST: random shifts and rotations, a whole batch at once."""

import math

import torch
import torch.nn.functional as F

__all__ = ["augment_mnist"]


def augment_mnist(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    max_shift: float = 0.1,
    max_rotation: float = 20.0,
) -> torch.Tensor:
    """Rotate each image about its centre by an angle uniform in ``+-max_rotation`` degrees, then shift it by
    amounts uniform in ``+-max_shift`` of the image size along x and y, independently (bilinear
    interpolation, zeros outside the image). The paper's augmentation: shifts up to 10 %, rotations up
    to 20 degrees.

    ``images``: floating ``[N, H, W]`` on any device; the random parameters come from ``generator`` (the
    global torch RNG if None), drawn on the generator's device, so a fixed seed gives the same images.
    Returns a new tensor of the same shape, dtype and device, clamped to [0, 1].
    """
    if not images.is_floating_point() or images.ndim != 3:
        raise ValueError(f"images must be a floating [N, H, W] tensor, got {images.dtype} {tuple(images.shape)}")
    if not (0.0 <= max_shift <= 1.0 and 0.0 <= max_rotation <= 180.0):
        raise ValueError(f"need 0 <= max_shift <= 1 and 0 <= max_rotation <= 180, got {max_shift=}, {max_rotation=}")
    n = images.shape[0]
    device = generator.device if generator is not None else torch.device("cpu")
    uniform = torch.rand(n, 3, generator=generator, device=device, dtype=torch.float64)
    uniform = (2.0 * uniform - 1.0).to(images.device)  # in [-1, 1)
    angle = uniform[:, 0] * math.radians(max_rotation)
    # affine_grid works in [-1, 1] coordinates, so a shift of a fraction f of the image is 2 f.
    shift = uniform[:, 1:] * (2.0 * max_shift)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps output to input coordinates: input = R(-angle) (output - shift), the inverse of
    # "rotate by angle, then shift", so the shift is exactly the drawn amount along each axis.
    inverse_rotation = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], -2)
    offset = -(inverse_rotation @ shift.unsqueeze(-1))
    theta = torch.cat([inverse_rotation, offset], dim=-1).to(images.dtype)
    batch = images.unsqueeze(1)
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    warped = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return warped.squeeze(1).clamp_(0.0, 1.0)
