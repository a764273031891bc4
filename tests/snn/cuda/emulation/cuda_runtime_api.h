// Emulation stand-in for <cuda_runtime_api.h>: see cuda_shim.h.
#pragma once
#include "cuda_shim.h"
