// Comparisons across a layer's lanes in vectors, with their results as bits. Pass 1 of the CPU forward walk
// (forward_walk.h), run for every neuron at every input event: each neuron's state at the next event if it
// does not fire, and which neurons might fire on the way (crossing_possible). With AVX-512 a comparison yields
// the bits of a whole vector of neurons at once; compiled from the scalar loop, the bits are gathered one
// neuron at a time (a fifth of the forward pass's time at Yin-Yang sizes), and GCC's own vectorisation of it,
// unrolled by two vectors, leaves the 8-lane layers scalar and is slower than the scalar loop. And the
// adjoint's choice of the neurons that fired on an interval (backward_sample).
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "lif_math.h"

namespace snn {
namespace cpu {

// Lanes [begin, end), at most 64 of them: (v0, i0) decayed by (em, es) into (v1, i1); returns bit
// i - begin set where neuron i may cross the threshold on the interval.
template <typename T>
inline uint64_t decay_lanes_scalar(const T* __restrict__ v0, const T* __restrict__ i0, T* __restrict__ v1,
                                   T* __restrict__ i1, int64_t begin, int64_t end, T em, T es, const LifParams<T>& p) {
  uint64_t bits = 0;
  for (int64_t i = begin; i < end; ++i) {
    const T ve = membrane(v0[i], p.kappa * i0[i], em, es), ie = i0[i] * es;
    bits |= uint64_t(crossing_possible(v0[i], i0[i], ve, ie, p)) << (i - begin);
    v1[i] = ve;
    i1[i] = ie;
  }
  return bits;
}

template <typename T>
inline uint64_t decay_lanes(const T* v0, const T* i0, T* v1, T* i1, int64_t begin, int64_t end, T em, T es,
                            const LifParams<T>& p) {
  return decay_lanes_scalar(v0, i0, v1, i1, begin, end, em, es, p);
}

// Bit i - begin set where values[i] > t, for lanes [begin, end) (at most 64).
template <typename T>
inline uint64_t lanes_after_scalar(const T* values, int64_t begin, int64_t end, T t) {
  uint64_t bits = 0;
  for (int64_t i = begin; i < end; ++i) bits |= uint64_t(values[i] > t) << (i - begin);
  return bits;
}

template <typename T>
inline uint64_t lanes_after(const T* values, int64_t begin, int64_t end, T t) {
  return lanes_after_scalar(values, begin, end, t);
}

#if defined(__AVX512F__)
#define SNN_LANES_AFTER(T, W, V, S)                                                                         \
  template <>                                                                                              \
  inline uint64_t lanes_after<T>(const T* values, int64_t begin, int64_t end, T t) {                        \
    const V vt = _mm512_set1_##S(t);                                                                       \
    uint64_t bits = 0;                                                                                     \
    int64_t i = begin;                                                                                     \
    for (; i + W <= end; i += W) {                                                                         \
      bits |= uint64_t(_mm512_cmp_##S##_mask(_mm512_loadu_##S(values + i), vt, _CMP_GT_OQ)) << (i - begin);  \
    }                                                                                                      \
    if (i < end) bits |= lanes_after_scalar(values, i, end, t) << (i - begin);                             \
    return bits;                                                                                           \
  }
SNN_LANES_AFTER(double, 8, __m512d, pd)
SNN_LANES_AFTER(float, 16, __m512, ps)
#undef SNN_LANES_AFTER

// The same operations as the scalar loop (membrane's (v0 - c) em + c es as one fused multiply-add, as the
// compiler contracts it there), so both give the same bits. Ordered comparisons: NaN fails them, as in C++.
#define SNN_DECAY_LANES(T, W, V, MASK, S)                                                                        \
  template <>                                                                                                   \
  inline uint64_t decay_lanes<T>(const T* v0, const T* i0, T* v1, T* i1, int64_t begin, int64_t end, T em, T es, \
                                 const LifParams<T>& p) {                                                       \
    const V kappa = _mm512_set1_##S(p.kappa), resistance = _mm512_set1_##S(p.resistance);                        \
    const V theta = _mm512_set1_##S(p.threshold), vem = _mm512_set1_##S(em), ves = _mm512_set1_##S(es);          \
    uint64_t bits = 0;                                                                                          \
    int64_t i = begin;                                                                                          \
    for (; i + W <= end; i += W) {                                                                              \
      const V v = _mm512_loadu_##S(v0 + i), cur = _mm512_loadu_##S(i0 + i);                                     \
      const V c = _mm512_mul_##S(kappa, cur);                                                                   \
      const V ve = _mm512_fmadd_##S(_mm512_sub_##S(v, c), vem, _mm512_mul_##S(c, ves));                         \
      const V ie = _mm512_mul_##S(cur, ves);                                                                    \
      const V r0 = _mm512_mul_##S(resistance, cur), r_end = _mm512_mul_##S(resistance, ie);                     \
      const MASK above = _mm512_cmp_##S##_mask(ve, theta, _CMP_GE_OQ);                                          \
      const MASK peak = _mm512_cmp_##S##_mask(r0, v, _CMP_GT_OQ) & _mm512_cmp_##S##_mask(r_end, ve, _CMP_LT_OQ) & \
                        _mm512_cmp_##S##_mask(r0, theta, _CMP_GE_OQ);                                           \
      _mm512_storeu_##S(v1 + i, ve);                                                                            \
      _mm512_storeu_##S(i1 + i, ie);                                                                            \
      bits |= uint64_t(MASK(above | peak)) << (i - begin);                                                      \
    }                                                                                                           \
    if (i < end) bits |= decay_lanes_scalar(v0, i0, v1, i1, i, end, em, es, p) << (i - begin); /* lanes_for: never */ \
    return bits;                                                                                                \
  }
SNN_DECAY_LANES(double, 8, __m512d, __mmask8, pd)
SNN_DECAY_LANES(float, 16, __m512, __mmask16, ps)
#undef SNN_DECAY_LANES
#endif

}  // namespace cpu
}  // namespace snn
