// The operators, declared once. Device implementations register under them: lif_cpu.cpp, network_cpu.cpp and
// loss_cpu.cpp (CPU, all six) and lif_cuda.cpp (CUDA: lif_forward, lif_backward). Autograd is registered in
// C++ (autograd.cpp), the fake-tensor kernels in Python (snn/_ops.py).
#include <torch/library.h>

TORCH_LIBRARY(snn, m) {
  // Exact spike times of one feed-forward layer of current-based LIF neurons.
  // Returns (spike_times [B, N_out, K], spike_currents [B, N_out, K], spike_counts [B, N_out] int64):
  // the first K spike times per neuron (+inf padded), the synaptic current at each spike (needed by
  // the adjoint for dV/dt there), and the true number of spikes (larger than K on overflow).
  m.def(
      "lif_forward(Tensor input_times, Tensor weight, int max_spikes, float tau_m, float tau_s, "
      "float threshold, float resistance, float t_end) -> (Tensor, Tensor, Tensor)");
  // EventProp adjoint: gradients w.r.t. input_times (zeros unless input_grad) and weight given
  // dL/d(spike_times).
  m.def(
      "lif_backward(Tensor grad_spike_times, Tensor input_times, Tensor weight, Tensor spike_times, "
      "Tensor spike_currents, float tau_m, float tau_s, float threshold, float resistance, float t_end, "
      "bool input_grad) -> (Tensor, Tensor)");
  // The same for a whole feed-forward stack in one call (layer l's spikes are layer l+1's inputs; all
  // layers share the neuron parameters). Returns per-layer lists of times, currents, counts and event orders
  // (int32 [batch, n_in * k_in + 1]: each layer input's events in the order the forward pass took them,
  // count first; network_backward replays them instead of sorting again).
  m.def(
      "network_forward(Tensor input_times, Tensor[] weights, int[] max_spikes, float tau_m, float tau_s, "
      "float threshold, float resistance, float t_end) -> (Tensor[], Tensor[], Tensor[], Tensor[])");
  // A training step in one call: network_forward plus the paper's loss (as spike_loss: kind, alpha, eta,
  // tau_0, tau_1) and, on request, its EventProp gradients w.r.t. input_times and the weights (each sample's
  // adjoint runs right after its forward pass). Returns (loss, excess, times, counts, grad_input,
  // grad_weights): excess [n_layers] int64 counts the spikes beyond max_spikes per layer; grad_input is
  // [0]-shaped unless input_grad, grad_weights empty unless weight_grad.
  m.def(
      "network_forward_loss(Tensor input_times, Tensor[] weights, int[] max_spikes, float tau_m, float tau_s, "
      "float threshold, float resistance, float t_end, Tensor labels, int kind, float alpha, float eta, "
      "float tau_0, float tau_1, bool input_grad, bool weight_grad) -> (Tensor, Tensor, Tensor[], Tensor[], Tensor, "
      "Tensor[])");
  m.def(
      "network_backward(Tensor[] grad_spike_times, Tensor input_times, Tensor[] weights, Tensor[] spike_times, "
      "Tensor[] spike_currents, Tensor[] event_orders, float tau_m, float tau_s, float threshold, "
      "float resistance, float t_end, bool input_grad) -> (Tensor, Tensor[])");
  // The paper's loss (kind 0 = L_W, 1 = L, 2 = L_A) over a network's spike times, and its gradient w.r.t.
  // every layer's spike times (computed together: the gradient is a by-product of the forward pass).
  m.def(
      "spike_loss(Tensor[] layer_times, Tensor labels, int kind, float alpha, float eta, float tau_0, float tau_1, "
      "float t_end) -> (Tensor, Tensor[])");
}
