// The probe's objective, gradient and optimum, checked against finite differences and a
// closed-form solution.
#include <catch2/catch.hpp>

#include <cmath>

#include <ATen/ATen.h>

#include "patchbay/core/error.hpp"
#include "patchbay/probe/logistic.hpp"

using namespace patchbay;

TEST_CASE("the analytic gradient matches central finite differences", "[probe]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const std::int64_t N = 40, F = 5, K = 4;
  auto X = at::randn({N, F}, gen, at::kDouble);
  auto y = at::randint(K, {N}, gen, at::kLong);
  auto Y = at::one_hot(y, K).to(at::kDouble);
  auto theta = at::randn({F * K + K}, gen, at::kDouble) * 0.5;
  for (double C : {0.1, 1.0, 10.0}) {
    auto [f, g] = logistic_objective(theta, X, Y, C);
    const double h = 1e-6;
    for (std::int64_t i = 0; i < theta.size(0); ++i) {
      auto e = at::zeros_like(theta);
      e[i] = h;
      double numeric = (logistic_objective(theta + e, X, Y, C).first - logistic_objective(theta - e, X, Y, C).first) / (2 * h);
      INFO("C " << C << " parameter " << i);
      CHECK(g[i].item<double>() == Approx(numeric).margin(1e-8));
    }
    // The loss is mean cross-entropy plus the scaled L2 term, computed independently here.
    auto W = theta.narrow(0, 0, F * K).view({F, K}), b = theta.narrow(0, F * K, K);
    auto z = X.matmul(W) + b;
    double ce = 0;
    for (std::int64_t n = 0; n < N; ++n) {
      double m = z[n].max().item<double>();
      double lse = m + std::log((z[n] - m).exp().sum().item<double>());
      ce += lse - z[n][y[n].item<std::int64_t>()].item<double>();
    }
    CHECK(f == Approx(ce / N + W.pow(2).sum().item<double>() / (2 * C * N)).epsilon(1e-12));
  }
}

TEST_CASE("on a separable two-point problem the probe reaches the closed-form optimum", "[probe]") {
  // x = +a (class 1) and x = -a (class 0). By symmetry b = 0 and W = [-w, w], where
  // scikit-learn's objective w^2 + 2 C log(1 + exp(-2 a w)) is stationary at
  // w = 2 a C sigmoid(-2 a w). Solve that scalar equation by bisection.
  for (double C : {0.5, 1.0, 4.0}) {
    const double a = 1.5;
    double lo = 0, hi = 10 * a * C + 1;
    for (int i = 0; i < 200; ++i) {
      double mid = 0.5 * (lo + hi);
      double residual = mid - 2 * a * C / (1 + std::exp(2 * a * mid));
      (residual > 0 ? hi : lo) = mid;
    }
    const double w_star = 0.5 * (lo + hi);
    auto X = at::tensor({a, -a}, at::kFloat).view({2, 1});
    auto y = at::tensor({1, 0}, at::kLong);
    auto probe = train_logistic(X, y, 2, ProbeOptions().c(C).tolerance(1e-10));
    INFO("C " << C);
    CHECK(probe.converged);
    CHECK(probe.W[0][1].item<double>() == Approx(w_star).epsilon(1e-5));
    CHECK(probe.W[0][0].item<double>() == Approx(-w_star).epsilon(1e-5));
    CHECK(std::abs(probe.b[1].item<double>()) < 1e-6);
    CHECK(at::equal(probe.predict(X), y));
  }
}

TEST_CASE("the probe converges and separates well-separated classes", "[probe]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const std::int64_t N = 2000, F = 32, K = 7;
  auto centres = at::randn({K, F}, gen, at::kFloat) * 3;
  auto y = at::randint(K, {N}, gen, at::kLong);
  auto X = centres.index_select(0, y) + at::randn({N, F}, gen, at::kFloat);
  for (bool standardize : {false, true}) {
    auto probe = train_logistic(X, y, K, ProbeOptions().standardized(standardize));
    INFO("standardize " << standardize << ": " << probe.stop_reason << " after " << probe.iterations);
    CHECK(probe.converged);
    CHECK(probe.max_abs_grad <= 1e-4);
    CHECK(probe.predict(X).eq(y).to(at::kFloat).mean().item<float>() > 0.99f);
    // The class-difference direction reproduces the logit difference (up to the bias).
    auto d = probe.logit_diff_direction(2, 5);
    auto logits = probe.logits(X);
    auto diff = logits.select(1, 5) - logits.select(1, 2);
    auto via_direction = X.matmul(d);
    CHECK(at::allclose(diff - via_direction, (diff - via_direction).mean().expand_as(diff), 1e-4, 1e-3));
  }
}

TEST_CASE("bad probe input is refused with the shapes involved", "[probe][errors]") {
  auto X = at::zeros({4, 3});
  CHECK_THROWS_WITH(train_logistic(X, at::zeros({5}, at::kLong), 2), Catch::Contains("X [4, 3] and y [5]"));
  CHECK_THROWS_WITH(train_logistic(X, at::full({4}, 7, at::kLong), 3), Catch::Contains("labels must lie in [0, 3)"));
  auto probe = train_logistic(X, at::tensor({0, 1, 0, 1}, at::kLong), 2);
  CHECK_THROWS_WITH(probe.logits(at::zeros({2, 5})), Catch::Contains("features of shape [N, 3], got [2, 5]"));
}
