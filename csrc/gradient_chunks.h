// Weight gradients of a batch, summed per chunk of consecutive samples into the chunk's own buffer (per layer
// [n_in, lanes], as the adjoint writes them), then over the chunks in order: the same bits whichever worker
// takes which chunk (the chunks depend on the batch size and the thread count only).
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "network_sample.h"
#include "workers.h"

namespace snn {
namespace cpu {

template <typename T>
struct GradientChunks {
  int64_t size = 0;              // values in one chunk's buffer
  std::vector<int64_t> offsets;  // of each layer in a chunk's buffer
  std::vector<int64_t> starts;   // chunk c holds samples [starts[c], starts[c + 1])
  std::unique_ptr<T[]> buffer;   // chunks x size, uninitialised: each task zeroes its own chunk (begin)

  // Where the buffers are small (Yin-Yang: 16 kB), chunks shrink towards the end of the batch, each a
  // 1 / (2 workers) share of the samples left but at least `grain` samples (the forward pass takes a chunk's
  // samples in groups of that many, whose crossing searches share vectors: 32 samples on two threads give
  // 8, 8, 8, 8), so that the workers finish close together with few chunks to sum. Where they are large
  // (MNIST's first layer alone is 1.75 MB in float64), one chunk per worker keeps zeroing and summing them small.
  GradientChunks(const Stack& s, int64_t batch, int64_t workers, bool wanted, int64_t grain) {
    for (int64_t l = 0; l < s.layers(); ++l) {
      offsets.push_back(size);
      size += s.inputs(l) * s.lanes[l];
    }
    const bool small = size * int64_t(sizeof(T)) <= (int64_t(1) << 17);
    workers = std::max<int64_t>(workers, 1);
    starts.push_back(0);
    for (int64_t b = 0; b < batch;) {
      const int64_t left = batch - b;
      const int64_t n = workers == 1 ? left : small ? std::min(left, std::max(grain, (left + 2 * workers - 1) / (2 * workers))) : (batch + workers - 1) / workers;
      b = std::min(batch, b + n);
      starts.push_back(b);
    }
    if (batch == 0) starts.push_back(0);  // one empty chunk, so that the gradients come out as zeros
    if (wanted) buffer.reset(new T[chunks() * size]);
  }

  int64_t chunks() const { return int64_t(starts.size()) - 1; }

  // Chunk c's buffer per layer, zeroed (the task that fills a chunk calls this first: the zeroing runs in
  // parallel); null pointers when the gradients are not wanted.
  std::vector<T*> begin(int64_t c) {
    std::vector<T*> out;
    if (buffer) std::fill_n(buffer.get() + c * size, size, T(0));
    for (const int64_t o : offsets) out.push_back(buffer ? buffer.get() + c * size + o : nullptr);
    return out;
  }

  // dL/dW per layer as [n_out, n_in]: the chunks summed in chunk order into the first (in parallel slices),
  // then transposed.
  std::vector<at::Tensor> reduce(at::TensorList weights, const Stack& s) {
    constexpr int64_t slice = 1 << 10;
    T* sum = buffer.get();
    const int64_t n_chunks = chunks();
    run_tasks((size + slice - 1) / slice, [&](int64_t task) {
      const int64_t first = task * slice, last = std::min(size, first + slice);
      for (int64_t c = 1; c < n_chunks; ++c) {
        const T* __restrict__ other = sum + c * size;
        for (int64_t k = first; k < last; ++k) sum[k] += other[k];
      }
    });
    std::vector<at::Tensor> grads;
    for (size_t l = 0; l < weights.size(); ++l) {
      const int64_t n_out = weights[l].size(0), n_in = weights[l].size(1), lanes = s.lanes[l];
      at::Tensor g = at::empty({n_out, n_in}, weights[l].options().memory_format(at::MemoryFormat::Contiguous));
      T* out = g.data_ptr<T>();
      const T* src = sum + offsets[l];
      for (int64_t j = 0; j < n_in; ++j) {
        for (int64_t i = 0; i < n_out; ++i) out[i * n_in + j] = src[j * lanes + i];
      }
      grads.push_back(g);
    }
    return grads;
  }
};

}  // namespace cpu
}  // namespace snn
