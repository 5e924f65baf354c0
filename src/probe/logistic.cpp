#include "patchbay/probe/logistic.hpp"

#include <cmath>
#include <deque>

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

LogisticProbe train_logistic(const at::Tensor& X_in, const at::Tensor& y, std::int64_t n_classes,
                             const ProbeOptions& o) {
  if (X_in.dim() != 2 || y.dim() != 1 || X_in.size(0) != y.size(0) || X_in.size(0) == 0)
    fail<InputError>("probe training needs X [N, F] and y [N] with N > 0, got X {} and y {}", shape_str(X_in.sizes()),
                     shape_str(y.sizes()));
  if (n_classes < 2) fail<InputError>("probe needs at least 2 classes, got {}", n_classes);
  if (!(o.C > 0) || !(o.tol > 0) || o.max_iter < 1 || o.history < 1)
    fail<InputError>("probe options out of range: C = {}, tol = {}, max_iter = {}", o.C, o.tol, o.max_iter);
  auto labels = y.to(at::kCPU, at::kLong);
  auto [lo, hi] = at::aminmax(labels);
  if (lo.item<std::int64_t>() < 0 || hi.item<std::int64_t>() >= n_classes)
    fail<InputError>("probe labels must lie in [0, {}), got {}..{}", n_classes, lo.item<std::int64_t>(), hi.item<std::int64_t>());

  LogisticProbe probe;
  auto X = X_in.to(at::kDouble);
  if (o.standardize) {
    auto mean = X.mean(0);
    auto std = X.std(0, /*unbiased=*/false);
    std = at::where(std > 1e-12, std, at::ones_like(std));  // constant features stay unscaled
    X = (X - mean) / std;
    probe.mean = mean.to(at::kFloat);
    probe.std = std.to(at::kFloat);
  }
  const auto F = X.size(1), K = n_classes;
  auto Y = at::one_hot(labels.to(X.device()), K).to(at::kDouble);
  auto theta = at::zeros({F * K + K}, X.options());
  auto [f, g] = logistic_objective(theta, X, Y, o.C);

  // Two-loop L-BFGS with a backtracking (Armijo) line search; pairs with poor curvature are skipped.
  std::deque<std::pair<at::Tensor, at::Tensor>> memory;  // (s, y)
  probe.stop_reason = "max iterations";
  int it = 0;
  for (; it < o.max_iter; ++it) {
    if (g.abs().max().item<double>() <= o.tol) {
      probe.converged = true;
      probe.stop_reason = "gradient tolerance";
      break;
    }
    auto q = g.clone();
    std::vector<double> alpha(memory.size());
    for (std::size_t i = memory.size(); i-- > 0;) {
      const auto& [s, yv] = memory[i];
      double rho = 1.0 / yv.dot(s).item<double>();
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
      double rho = 1.0 / yv.dot(s).item<double>();
      double beta = rho * yv.dot(q).item<double>();
      q += (alpha[i] - beta) * s;
    }
    auto direction = -q;
    double slope = g.dot(direction).item<double>();
    if (slope >= 0) {  // not a descent direction: restart from steepest descent
      memory.clear();
      direction = -g;
      slope = -g.dot(g).item<double>();
    }
    double step = 1.0, f_new = f;
    at::Tensor theta_new, g_new;
    bool accepted = false;
    for (int ls = 0; ls < 50; ++ls) {
      theta_new = theta + step * direction;
      std::tie(f_new, g_new) = logistic_objective(theta_new, X, Y, o.C);
      if (f_new <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) {
      probe.stop_reason = "line search failed";
      break;
    }
    auto s = theta_new - theta, yv = g_new - g;
    if (yv.dot(s).item<double>() > 1e-10 * yv.dot(yv).item<double>()) {
      memory.emplace_back(s, yv);
      if (static_cast<int>(memory.size()) > o.history) memory.pop_front();
    }
    const double reduction = (f - f_new) / std::max({std::abs(f), std::abs(f_new), 1.0});
    theta = theta_new;
    f = f_new;
    g = g_new;
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
