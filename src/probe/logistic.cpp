#include "patchbay/probe/logistic.hpp"

#include <cmath>
#include <deque>
#include <optional>
#include <tuple>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/core/shape.hpp"

namespace patchbay {

std::pair<double, at::Tensor> logistic_objective(const at::Tensor& theta, const at::Tensor& X, const at::Tensor& Y,
                                                 double C) {
  const auto N = X.size(0), F = X.size(1), K = Y.size(1);
  auto W = theta.narrow(0, 0, F * K).view({F, K});
  auto b = theta.narrow(0, F * K, K);
  auto z = at::addmm(b, X, W);                       // [N, K]
  auto log_p = at::log_softmax(z, 1);                // [N, K]
  const double inv_n = 1.0 / static_cast<double>(N);
  const double l2 = inv_n / C;
  double loss = -(log_p * Y).sum().item<double>() * inv_n + 0.5 * l2 * W.pow(2).sum().item<double>();
  auto residual = (log_p.exp() - Y) * inv_n;         // [N, K]
  auto grad_W = at::addmm(W, X.t(), residual, /*beta=*/l2, /*alpha=*/1.0);
  auto grad_b = residual.sum(0);
  return {loss, at::cat({grad_W.reshape(-1), grad_b})};
}

at::Tensor LogisticProbe::logits(const at::Tensor& x) const {
  if (x.dim() != 2 || x.size(1) != n_features())
    fail<InputError>("probe expects features of shape [N, {}], got {}", n_features(), shape_str(x.sizes()));
  auto xs = x.to(W.device(), at::kFloat);
  if (mean.defined()) xs = (xs - mean) / std;
  return at::addmm(b, xs, W);
}

at::Tensor LogisticProbe::predict(const at::Tensor& x) const { return logits(x).argmax(1); }

at::Tensor LogisticProbe::logit_diff_direction(std::int64_t from, std::int64_t to) const {
  if (from < 0 || to < 0 || from >= n_classes() || to >= n_classes())
    fail<InputError>("probe classes {} and {} out of range (the probe has {} classes)", from, to, n_classes());
  auto d = W.select(1, to) - W.select(1, from);  // [F]
  return mean.defined() ? d / std : d;
}

namespace {

void check_training_inputs(const at::Tensor& X, const at::Tensor& y, std::int64_t n_classes, const ProbeOptions& o) {
  if (X.dim() != 2 || y.dim() != 1 || X.size(0) != y.size(0) || X.size(0) == 0)
    fail<InputError>("probe training needs X [N, F] and y [N] with N > 0, got X {} and y {}", shape_str(X.sizes()), shape_str(y.sizes()));
  if (n_classes < 2) fail<InputError>("probe needs at least 2 classes, got {}", n_classes);
  if (!(o.C > 0) || !(o.tol > 0) || o.max_iter < 1 || o.history < 1)
    fail<InputError>("probe options out of range: C = {}, tol = {}, max_iter = {}", o.C, o.tol, o.max_iter);
  auto [lo, hi] = at::aminmax(y.to(at::kCPU, at::kLong));
  if (lo.item<std::int64_t>() < 0 || hi.item<std::int64_t>() >= n_classes)
    fail<InputError>("probe labels must lie in [0, {}), got {}..{}", n_classes, lo.item<std::int64_t>(), hi.item<std::int64_t>());
}

// Features standardised to zero mean and unit variance (constant features stay unscaled); the
// probe keeps the statistics so it applies them to new features.
at::Tensor standardise(at::Tensor X, LogisticProbe& probe) {
  auto mean = X.mean(0);
  auto std = X.std(0, /*unbiased=*/false);
  std = at::where(std > 1e-12, std, at::ones_like(std));
  probe.mean = mean.to(at::kFloat);
  probe.std = std.to(at::kFloat);
  return (X - mean) / std;
}

// The L-BFGS curvature pairs (s, y) of the last few steps.
using CurvatureMemory = std::deque<std::pair<at::Tensor, at::Tensor>>;

// The two-loop recursion: an approximation of -H^-1 g from the curvature memory. Falls back to
// steepest descent (and forgets the memory) when that is not a descent direction.
std::pair<at::Tensor, double> search_direction(const at::Tensor& g, CurvatureMemory& memory) {
  auto q = g.clone();
  std::vector<double> alpha(memory.size());
  for (std::size_t i = memory.size(); i-- > 0;) {
    const auto& [s, yv] = memory[i];
    const double rho = 1.0 / yv.dot(s).item<double>();
    alpha[i] = rho * s.dot(q).item<double>();
    q -= alpha[i] * yv;
  }
  if (!memory.empty()) {
    const auto& [s, yv] = memory.back();
    q *= s.dot(yv).item<double>() / yv.dot(yv).item<double>();
  } else {
    q *= 1.0 / std::max(1.0, g.norm().item<double>());
  }
  for (std::size_t i = 0; i < memory.size(); ++i) {
    const auto& [s, yv] = memory[i];
    const double rho = 1.0 / yv.dot(s).item<double>();
    const double beta = rho * yv.dot(q).item<double>();
    q += (alpha[i] - beta) * s;
  }
  auto direction = -q;
  const double slope = g.dot(direction).item<double>();
  if (slope < 0) return {direction, slope};
  memory.clear();
  return {-g, -g.dot(g).item<double>()};
}

struct Step {
  at::Tensor theta, grad;
  double loss = 0;
};

// Backtracking (Armijo) line search along `direction`; nullopt when no step decreases enough.
std::optional<Step> line_search(const at::Tensor& theta, double f, const at::Tensor& direction, double slope, const at::Tensor& X,
                                const at::Tensor& Y, double C) {
  double step = 1.0;
  for (int tries = 0; tries < 50; ++tries, step *= 0.5) {
    Step s{theta + step * direction};
    std::tie(s.loss, s.grad) = logistic_objective(s.theta, X, Y, C);
    if (s.loss <= f + 1e-4 * step * slope) return s;
  }
  return std::nullopt;
}

void remember(CurvatureMemory& memory, const at::Tensor& s, const at::Tensor& yv, int history) {
  if (yv.dot(s).item<double>() <= 1e-10 * yv.dot(yv).item<double>()) return;  // poor curvature: skipped
  memory.emplace_back(s, yv);
  if (static_cast<int>(memory.size()) > history) memory.pop_front();
}

}  // namespace

LogisticProbe train_logistic(const at::Tensor& X_in, const at::Tensor& y, std::int64_t n_classes, const ProbeOptions& o) {
  check_training_inputs(X_in, y, n_classes, o);
  LogisticProbe probe;
  auto X = X_in.to(at::kDouble);
  if (o.standardize) X = standardise(X, probe);
  const auto F = X.size(1), K = n_classes;
  const auto Y = at::one_hot(y.to(X.device(), at::kLong), K).to(at::kDouble);  // [N, K]
  auto theta = at::zeros({F * K + K}, X.options());                            // W [F, K] then b [K], flat
  auto [f, g] = logistic_objective(theta, X, Y, o.C);

  CurvatureMemory memory;
  probe.stop_reason = "max iterations";
  int it = 0;
  for (; it < o.max_iter; ++it) {
    if (g.abs().max().item<double>() <= o.tol) {
      probe.converged = true;
      probe.stop_reason = "gradient tolerance";
      break;
    }
    const auto [direction, slope] = search_direction(g, memory);
    const auto next = line_search(theta, f, direction, slope, X, Y, o.C);
    if (!next) {
      probe.stop_reason = "line search failed";
      break;
    }
    remember(memory, next->theta - theta, next->grad - g, o.history);
    const double reduction = (f - next->loss) / std::max({std::abs(f), std::abs(next->loss), 1.0});
    std::tie(theta, f, g) = std::tuple{next->theta, next->loss, next->grad};
    if (reduction <= 64 * 2.220446049250313e-16) {  // scipy's ftol as scikit-learn sets it
      probe.converged = g.abs().max().item<double>() <= o.tol;
      probe.stop_reason = "no further decrease";
      ++it;
      break;
    }
  }
  probe.iterations = it;
  probe.loss = f;
  probe.max_abs_grad = g.abs().max().item<double>();
  if (!probe.converged && probe.max_abs_grad <= o.tol) {
    probe.converged = true;
    probe.stop_reason = "gradient tolerance";
  }
  probe.W = theta.narrow(0, 0, F * K).view({F, K}).to(at::kFloat);
  probe.b = theta.narrow(0, F * K, K).to(at::kFloat);
  return probe;
}

}  // namespace patchbay
