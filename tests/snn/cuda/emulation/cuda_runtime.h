// Emulation stand-in for <cuda_runtime.h>: see cuda_shim.h.
#pragma once
#include "cuda_shim.h"
