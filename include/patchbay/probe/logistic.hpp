#pragma once
// Multinomial logistic regression with an L2 penalty: by default the objective of
// scikit-learn's LogisticRegression() (C = 1, intercept, lbfgs, tol 1e-4):
//
//   f(W, b) = mean_i CE(softmax(x_i W + b), y_i) + ||W||^2 / (2 C N)
//
// (scikit-learn minimises C * sum CE + ||W||^2 / 2, the same problem scaled by C N). Solved by
// L-BFGS in float64; converged means max |gradient| <= tol, as scipy's pgtol that scikit-learn sets.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace patchbay {

struct ProbeOptions {
  double C = 1.0;            // inverse L2 strength, as in scikit-learn
  double tol = 1e-4;         // max |gradient| at convergence
  int max_iter = 1000;       // scikit-learn defaults to 100 and often stops unconverged; we report it
  int history = 10;          // L-BFGS memory
  bool standardize = false;  // scale features to zero mean, unit variance (training statistics)

  ProbeOptions& c(double v) { C = v; return *this; }
  ProbeOptions& tolerance(double v) { tol = v; return *this; }
  ProbeOptions& max_iterations(int v) { max_iter = v; return *this; }
  ProbeOptions& standardized(bool v) { standardize = v; return *this; }
};

struct LogisticProbe {
  at::Tensor W;     // [n_features, n_classes] float32, in the standardised space when mean is defined
  at::Tensor b;     // [n_classes]
  at::Tensor mean;  // [n_features] or undefined (no standardisation)
  at::Tensor std;   // [n_features] or undefined
  bool converged = false;
  int iterations = 0;
  double loss = 0;           // objective at the solution
  double max_abs_grad = 0;   // convergence measure
  std::string stop_reason;   // "gradient tolerance", "no further decrease", "max iterations"

  std::int64_t n_features() const { return W.size(0); }
  std::int64_t n_classes() const { return W.size(1); }
  // x: [N, n_features] (raw features) -> logits [N, n_classes]
  at::Tensor logits(const at::Tensor& x) const;
  at::Tensor predict(const at::Tensor& x) const;  // [N] int64
  // Direction in raw feature space whose dot product with x changes logit(to) - logit(from):
  // [n_features]. Accounts for standardisation.
  at::Tensor logit_diff_direction(std::int64_t from, std::int64_t to) const;
};

// X: [N, F] float, y: [N] int64 in [0, n_classes). Throws InputError on shape/label mismatch.
LogisticProbe train_logistic(const at::Tensor& X, const at::Tensor& y, std::int64_t n_classes,
                             const ProbeOptions& options = {});

// The objective and its analytic gradient at theta = [W.flatten(); b] (float64), for tests.
// X: [N, F] float64, Y: [N, K] one-hot float64.
std::pair<double, at::Tensor> logistic_objective(const at::Tensor& theta, const at::Tensor& X, const at::Tensor& Y,
                                                 double C);

}  // namespace patchbay
