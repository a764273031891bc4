// Autograd for the four differentiable operators, registered for the Autograd key (so for every device whose
// kernels exist): lif_forward and network_forward differentiate through the EventProp adjoint (lif_backward,
// network_backward); network_forward_loss and spike_loss return their gradients from the forward call, so
// their backward only scales them by the incoming gradient. In C++ rather than with
// torch.library.register_autograd: the Python wrapper costs ~0.2 ms per call with tensor-list arguments, a
// third of a Yin-Yang training step. The fake kernels are in snn/_ops.py.
#include <ATen/ATen.h>
#include <ATen/TensorSubclassLikeUtils.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

namespace snn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using TensorVector = std::vector<at::Tensor>;

template <typename Signature>
c10::TypedOperatorHandle<Signature> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// The neuron parameters (tau_m, tau_s, threshold, resistance, t_end), kept for the backward call.
void save_params(AutogradContext* ctx, std::initializer_list<double> params) {
  ctx->saved_data["params"] = std::vector<double>(params);
}
std::vector<double> saved_params(AutogradContext* ctx) { return ctx->saved_data["params"].toDoubleVector(); }

// One gradient per differentiable input first, then enough undefined ones for every other input (autograd
// drops undefined extras), so the caller need not count the non-tensor arguments.
//
// materialize_grads_off: every Function here turns off autograd's zero-filling of the gradients its outputs
// did not get (the spike times, counts and gradients a training step returns are not differentiated, and
// filling MNIST-sized zeros each step costs more than the step's scaling) and handles undefined ones itself.
variable_list gradients(TensorVector grads) {
  grads.resize(grads.size() + 32);
  return grads;
}

TensorVector slice(const variable_list& v, size_t begin, size_t n) { return TensorVector(v.begin() + begin, v.begin() + begin + n); }

// g * grad_loss (a scalar) as a fresh tensor, which AccumulateGrad can keep as .grad without a copy. Plain CPU
// tensors by a loop: at::mul opens an OpenMP parallel region for MNIST-sized gradients, and OpenMP's idle
// threads then spin for milliseconds, taking a core from the next step's kernel (csrc/workers.h). Traced or
// wrapped tensors (torch.compile, functorch) take at::mul.
at::Tensor scaled(const at::Tensor& g, const at::Tensor& grad_loss) {
  const bool plain = g.is_cpu() && grad_loss.is_cpu() && grad_loss.numel() == 1 && g.is_contiguous() &&
                     g.scalar_type() == grad_loss.scalar_type() && at::isFloatingType(g.scalar_type()) &&
                     !at::isTensorSubclassLike(g) && !at::isTensorSubclassLike(grad_loss);
  if (!plain) return g * grad_loss;
  at::Tensor out = at::empty_like(g);
  AT_DISPATCH_FLOATING_TYPES(g.scalar_type(), "scaled", [&] {
    const scalar_t factor = grad_loss.item<scalar_t>();
    const scalar_t* src = g.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    for (int64_t i = 0; i < g.numel(); ++i) dst[i] = src[i] * factor;
  });
  return out;
}

class LifForward : public torch::autograd::Function<LifForward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input_times, const at::Tensor& weight,
                               int64_t max_spikes, double tau_m, double tau_s, double threshold, double resistance,
                               double t_end) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = find_op<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
        const at::Tensor&, const at::Tensor&, int64_t, double, double, double, double, double)>("snn::lif_forward");
    auto [times, currents, counts] = op.call(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end);
    ctx->mark_non_differentiable({currents, counts});
    ctx->set_materialize_grads(false);  // see materialize_grads_off above
    ctx->save_for_backward({input_times, weight, times, currents});
    save_params(ctx, {tau_m, tau_s, threshold, resistance, t_end});
    return {times, currents, counts};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op = find_op<std::tuple<at::Tensor, at::Tensor>(
        const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double, double,
        double, double, double, bool)>("snn::lif_backward");
    if (!grads[0].defined()) return gradients({});
    const auto saved = ctx->get_saved_variables();
    const auto p = saved_params(ctx);
    const bool input_grad = ctx->needs_input_grad(0);
    auto [grad_in, grad_w] = op.call(grads[0].contiguous(), saved[0], saved[1], saved[2], saved[3], p[0], p[1], p[2],
                                     p[3], p[4], input_grad);
    return gradients({input_grad ? grad_in : at::Tensor(), grad_w});
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> lif_forward_autograd(const at::Tensor& input_times, const at::Tensor& weight,
                                                                     int64_t max_spikes, double tau_m, double tau_s,
                                                                     double threshold, double resistance, double t_end) {
  auto out = LifForward::apply(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end);
  return {out[0], out[1], out[2]};
}

using NetworkOutputs = std::tuple<TensorVector, TensorVector, TensorVector, TensorVector>;

class NetworkForward : public torch::autograd::Function<NetworkForward> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input_times, at::TensorList weights,
                               at::IntArrayRef max_spikes, double tau_m, double tau_s, double threshold,
                               double resistance, double t_end) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = find_op<NetworkOutputs(const at::Tensor&, at::TensorList, at::IntArrayRef, double, double,
                                                  double, double, double)>("snn::network_forward");
    auto [times, currents, counts, orders] = op.call(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end);
    variable_list out;
    for (const TensorVector* group : {&times, &currents, &counts, &orders}) out.insert(out.end(), group->begin(), group->end());
    const size_t n = weights.size();
    ctx->mark_non_differentiable(slice(out, n, 3 * n));
    ctx->set_materialize_grads(false);
    variable_list saved{input_times};
    saved.insert(saved.end(), weights.begin(), weights.end());
    saved.insert(saved.end(), out.begin(), out.begin() + 2 * n);  // times, currents
    saved.insert(saved.end(), orders.begin(), orders.end());
    ctx->save_for_backward(saved);
    save_params(ctx, {tau_m, tau_s, threshold, resistance, t_end});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    static const auto op = find_op<std::tuple<at::Tensor, TensorVector>(
        at::TensorList, const at::Tensor&, at::TensorList, at::TensorList, at::TensorList, at::TensorList, double,
        double, double, double, double, bool)>("snn::network_backward");
    const auto saved = ctx->get_saved_variables();
    const size_t n = (saved.size() - 1) / 4;
    const auto p = saved_params(ctx);
    TensorVector grad_times;  // a layer whose times got no gradient contributes none
    for (size_t l = 0; l < n; ++l) {
      grad_times.push_back(grads[l].defined() ? grads[l].contiguous() : at::zeros_like(saved[1 + n + l]));
    }
    const bool input_grad = ctx->needs_input_grad(0);
    auto [grad_in, grad_weights] = op.call(grad_times, saved[0], slice(saved, 1, n), slice(saved, 1 + n, n),
                                           slice(saved, 1 + 2 * n, n), slice(saved, 1 + 3 * n, n), p[0], p[1], p[2],
                                           p[3], p[4], input_grad);
    TensorVector out{input_grad ? grad_in : at::Tensor()};
    out.insert(out.end(), grad_weights.begin(), grad_weights.end());
    return gradients(out);
  }
};

NetworkOutputs network_forward_autograd(const at::Tensor& input_times, at::TensorList weights, at::IntArrayRef max_spikes,
                                        double tau_m, double tau_s, double threshold, double resistance, double t_end) {
  const auto out = NetworkForward::apply(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end);
  const size_t n = weights.size();
  return {slice(out, 0, n), slice(out, n, n), slice(out, 2 * n, n), slice(out, 3 * n, n)};
}

using StepOutputs = std::tuple<at::Tensor, at::Tensor, TensorVector, TensorVector, at::Tensor, TensorVector>;

class NetworkForwardLoss : public torch::autograd::Function<NetworkForwardLoss> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& input_times, at::TensorList weights,
                               at::IntArrayRef max_spikes, double tau_m, double tau_s, double threshold,
                               double resistance, double t_end, const at::Tensor& labels, int64_t kind, double alpha,
                               double eta, double tau_0, double tau_1, bool input_grad, bool weight_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = find_op<StepOutputs(const at::Tensor&, at::TensorList, at::IntArrayRef, double, double,
                                               double, double, double, const at::Tensor&, int64_t, double, double,
                                               double, double, bool, bool)>("snn::network_forward_loss");
    auto [loss, excess, times, counts, grad_input, grad_weights] = op.call(
        input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end, labels, kind, alpha, eta, tau_0,
        tau_1, input_grad, weight_grad);
    variable_list out{loss, excess};
    for (const TensorVector* group : {&times, &counts}) out.insert(out.end(), group->begin(), group->end());
    out.push_back(grad_input);
    out.insert(out.end(), grad_weights.begin(), grad_weights.end());
    ctx->mark_non_differentiable(slice(out, 1, out.size() - 1));
    ctx->set_materialize_grads(false);
    variable_list saved{grad_input};
    saved.insert(saved.end(), grad_weights.begin(), grad_weights.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["n_layers"] = int64_t(weights.size());
    ctx->saved_data["input_grad"] = input_grad;
    ctx->saved_data["weight_grad"] = weight_grad;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t n = ctx->saved_data["n_layers"].toInt();
    const bool input_grad = ctx->saved_data["input_grad"].toBool(), weight_grad = ctx->saved_data["weight_grad"].toBool();
    bool weights_needed = false;
    for (int64_t l = 0; l < n; ++l) weights_needed |= ctx->needs_input_grad(1 + l);
    TORCH_CHECK((input_grad || !ctx->needs_input_grad(0)) && (weight_grad || !weights_needed),
                "snn::network_forward_loss computes gradients only where asked: call it with input_grad=True / "
                "weight_grad=True to differentiate w.r.t. input_times / weights");
    if (!grads[0].defined()) return gradients({});
    const auto saved = ctx->get_saved_variables();
    TensorVector out{input_grad ? scaled(saved[0], grads[0]) : at::Tensor()};
    for (int64_t l = 0; l < n; ++l) out.push_back(weight_grad ? scaled(saved[1 + l], grads[0]) : at::Tensor());
    return gradients(out);
  }
};

StepOutputs network_forward_loss_autograd(const at::Tensor& input_times, at::TensorList weights,
                                          at::IntArrayRef max_spikes, double tau_m, double tau_s, double threshold,
                                          double resistance, double t_end, const at::Tensor& labels, int64_t kind,
                                          double alpha, double eta, double tau_0, double tau_1, bool input_grad,
                                          bool weight_grad) {
  const auto out = NetworkForwardLoss::apply(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end,
                                             labels, kind, alpha, eta, tau_0, tau_1, input_grad, weight_grad);
  const size_t n = weights.size();
  return {out[0], out[1], slice(out, 2, n), slice(out, 2 + n, n), out[2 + 2 * n], slice(out, 3 + 2 * n, out.size() - 3 - 2 * n)};
}

class SpikeLoss : public torch::autograd::Function<SpikeLoss> {
 public:
  static variable_list forward(AutogradContext* ctx, at::TensorList layer_times, const at::Tensor& labels, int64_t kind,
                               double alpha, double eta, double tau_0, double tau_1, double t_end) {
    at::AutoDispatchBelowADInplaceOrView guard;
    static const auto op = find_op<std::tuple<at::Tensor, TensorVector>(
        at::TensorList, const at::Tensor&, int64_t, double, double, double, double, double)>("snn::spike_loss");
    auto [loss, grads] = op.call(layer_times, labels, kind, alpha, eta, tau_0, tau_1, t_end);
    ctx->mark_non_differentiable(grads);
    ctx->set_materialize_grads(false);
    ctx->save_for_backward(grads);
    variable_list out{loss};
    out.insert(out.end(), grads.begin(), grads.end());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    if (!grads[0].defined()) return gradients({});
    TensorVector out;
    for (const auto& g : ctx->get_saved_variables()) out.push_back(scaled(g, grads[0]));
    return gradients(out);
  }
};

std::tuple<at::Tensor, TensorVector> spike_loss_autograd(at::TensorList layer_times, const at::Tensor& labels, int64_t kind,
                                                         double alpha, double eta, double tau_0, double tau_1, double t_end) {
  const auto out = SpikeLoss::apply(layer_times, labels, kind, alpha, eta, tau_0, tau_1, t_end);
  return {out[0], slice(out, 1, out.size() - 1)};
}

}  // namespace

TORCH_LIBRARY_IMPL(snn, Autograd, m) {
  m.impl("lif_forward", &lif_forward_autograd);
  m.impl("network_forward", &network_forward_autograd);
  m.impl("network_forward_loss", &network_forward_loss_autograd);
  m.impl("spike_loss", &spike_loss_autograd);
}

}  // namespace snn
