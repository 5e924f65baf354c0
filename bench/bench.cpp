// patchbay-bench: the performance figures of bench/RESULTS.md. Needs no weights: a
// GPT-2-Small-shaped model with random weights (12 layers, d_model 768, 12 heads, vocab 50257),
// plus stories260K (the first on the model search path; the embedded copy at the latest). Prints a table; --json prints one object.
//
//   patchbay-bench [--json] [--device cpu|cuda] [--threads N] [--quick] [--only NAME]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "../tests/support/random_pairs.hpp"  // the same synthetic pairs and probes as the tests
#include "patchbay/core/runtime.hpp"
#include "patchbay/core/version.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/patching/attribution.hpp"
#include "patchbay/patching/positional_edges.hpp"
#include "patchbay/probe/extract.hpp"
#include "patchbay/probe/logistic.hpp"
#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "patchbay/tokenizer/llama2c.hpp"

using namespace patchbay;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Waits for queued device work (a no-op cost on CPU): reading one value back forces completion.
void sync(const at::Tensor& t) { (void)t.flatten()[0].item<float>(); }

// Best of `repeats` timings of fn(), after one warm-up call.
double best_time(int repeats, const std::function<void()>& fn) {
  fn();
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    auto t = Clock::now();
    fn();
    best = std::min(best, seconds_since(t));
  }
  return best;
}

double peak_rss_mib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // kilobytes on Linux
}

// Matrix FLOPs of a forward pass through `layers` blocks of a GPT-2-shaped model: the four
// projections and the MLP (12 d^2 multiply-adds per token) plus attention scores and values.
double forward_flops(const ModelConfig& c, std::int64_t batch, std::int64_t pos, int layers) {
  const double d = static_cast<double>(c.d_model), tokens = static_cast<double>(batch * pos);
  const double dense = 2.0 * tokens * (4 * d * d + 2 * d * static_cast<double>(c.d_mlp) + (c.mlp == MlpKind::SwiGLU ? d * c.d_mlp : 0));
  const double attention = 2.0 * 2.0 * static_cast<double>(batch) * pos * pos * d;
  return layers * (dense + attention);
}

// What every benchmark shares: the GPT-2-Small-shaped model, the options and the results.
struct Bench {
  nlohmann::json& r;
  const ModelConfig& config;
  const Model& model;
  at::Device device;
  bool quick = false;
  bool json = false;
  std::int64_t d_model = 0, n_heads = 0, vocab = 0;
  int readout = 3;  // the original experiment probes after layer 3
  void log(const std::string& line) const {
    if (!json) std::cout << line << std::endl;
  }
};

void bench_gemm(const Bench& ctx) {
  auto& r = ctx.r;
  const std::int64_t m = ctx.quick ? 512 : 4096, k = 768, n = 3072;
  auto a = at::randn({m, k}, at::TensorOptions().device(ctx.device)), b = at::randn({k, n}, at::TensorOptions().device(ctx.device));
  at::Tensor c;
  double t = best_time(5, [&] {
    c = at::mm(a, b);
    sync(c);
  });
  r["gemm_gflops"] = 2.0 * m * k * n / t / 1e9;
  ctx.log(fmt::format("gemm         {:8.1f} GFLOP/s  ({}x{} @ {}x{}, fp32)", r["gemm_gflops"].get<double>(), m, k, k, n));
}

void bench_forward(const Bench& ctx) {
  auto& r = ctx.r;
  at::InferenceMode no_grad;
  const std::int64_t pos = 64;
  r["forward"] = nlohmann::json::array();
  for (std::int64_t batch : ctx.quick ? std::vector<std::int64_t>{1, 8} : std::vector<std::int64_t>{1, 8, 32, 128}) {
    auto tokens = at::randint(ctx.vocab, {batch, pos}, at::kLong).to(ctx.device);
    double t = best_time(ctx.quick ? 1 : 3, [&] { sync(ctx.model.forward(tokens, ForwardOptions().stop_after(ctx.readout))); });
    double gflops = forward_flops(ctx.config, batch, pos, ctx.readout + 1) / t / 1e9;
    nlohmann::json row{{"batch", batch}, {"pos", pos}, {"tokens_per_s", batch * pos / t}, {"gflops", gflops}};
    if (r.contains("gemm_gflops")) row["ratio_to_gemm"] = gflops / r["gemm_gflops"].get<double>();
    r["forward"].push_back(row);
    ctx.log(fmt::format("forward      batch {:4}: {:9.0f} tokens/s {:7.1f} GFLOP/s{}", batch, batch * pos / t, gflops,
                    row.contains("ratio_to_gemm") ? fmt::format("  ({:.0f}% of gemm)", 100 * row["ratio_to_gemm"].get<double>()) : ""));
  }
}

void bench_hooks(const Bench& ctx) {
  auto& r = ctx.r;
  at::InferenceMode no_grad;
  auto tokens = at::randint(ctx.vocab, {8, 64}, at::kLong).to(ctx.device);
  double bare = best_time(3, [&] { sync(ctx.model.forward(tokens, ForwardOptions().stop_after(ctx.readout))); });
  std::vector<HookHandle> handles;
  for (int l = 0; l <= ctx.readout; ++l) handles.push_back(ctx.model.add_hook(hook::resid_mid(l), [](at::Tensor&, HookId) {}));
  double hooked = best_time(3, [&] { sync(ctx.model.forward(tokens, ForwardOptions().stop_after(ctx.readout))); });
  r["hook_overhead_ratio"] = hooked / bare;
  ctx.log(fmt::format("hooks        {} no-op hooks: {:.3f}x the unhooked pass (every other point inactive)", ctx.readout + 1, hooked / bare));
}

void bench_patch(const Bench& ctx) {
  auto& r = ctx.r;
  const std::int64_t length = 27;
  auto pairs = test::random_pairs(1, length, ctx.vocab, 1);
  ProbeLogitDiff metric(test::random_probe(ctx.d_model, 7, 2), ctx.config, ctx.readout, 1, 2);
  PatchSweep sweep = PatchSweep::heads_by_position();
  // Both sweeps cover layers 0..3 x heads x positions; layers after the read-out are exactly
  // zero in both (the naive loop is given the same read-out layer, so it is not penalised).
  const double patches = (ctx.readout + 1.0) * ctx.n_heads * length;
  auto small = random_model(gpt2_like_config(ctx.readout + 1, ctx.d_model, ctx.n_heads, ctx.vocab, 1024), 0);
  small.to(ctx.device);
  auto t = Clock::now();
  auto naive = patch_sweep_naive(small, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
  const double naive_s = seconds_since(t);
  PatchResult fast;
  double fast_s = best_time(ctx.quick ? 1 : 2, [&] {
    fast = patch_sweep(small, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
    sync(fast.metric);
  });
  r["patch_naive_per_s"] = patches / naive_s;
  r["patch_fast_per_s"] = patches / fast_s;
  r["patch_speedup"] = naive_s / fast_s;
  r["patch_max_abs_diff"] = (fast.metric.to(at::kCPU) - naive.metric.to(at::kCPU)).abs().max().item<double>();
  r["patch_count"] = patches;
  ctx.log(fmt::format("patch_naive  {:8.1f} patches/s ({} hook_z patches, {}-token prompt)", patches / naive_s, patches, length));
  ctx.log(fmt::format("patch_fast   {:8.1f} patches/s: {:.1f}x, max abs diff {:.2g}", patches / fast_s, naive_s / fast_s,
                  r["patch_max_abs_diff"].get<double>()));

  double attr_s = best_time(ctx.quick ? 1 : 2, [&] {
    sync(attribution_patch(small, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted).metric);
  });
  auto approx = attribution_patch(small, pairs, metric, sweep, PatchDirection::CleanIntoCorrupted);
  r["attribution_s"] = attr_s;
  r["attribution_correlation_with_exact"] = correlation(approx.effect(), fast.effect());
  ctx.log(fmt::format("attribution  {:8.3f} s for the same {} components (correlation with exact {:.3f})", attr_s, patches,
                  r["attribution_correlation_with_exact"].get<double>()));
}

// Position-aware EAP on the original experiment's shape: a 76-token prompt pair cut into 8 spans
// (a prefix and 7 words), read out after layer 3. Peak RSS is the process's: run it alone
// (--only positional) for the figure in bench/RESULTS.md.
void bench_positional(const Bench& ctx) {
  auto& r = ctx.r;
  const std::int64_t length = ctx.quick ? 20 : 76, n_pairs = ctx.quick ? 2 : 8, n_spans = 8;
  auto pairs = test::random_pairs(static_cast<int>(n_pairs), length, ctx.vocab, 4, 1);
  ProbeLogitDiff metric(test::random_probe(ctx.d_model, 7, 2), ctx.config, ctx.readout, 1, 2);
  SpanSchema spans{"pairs", {}, {}};
  const std::int64_t width = (length - 1) / n_spans;  // the last span runs to the target
  for (std::int64_t s = 0; s < n_spans; ++s) spans.names.push_back(s == 0 ? "prefix" : fmt::format("w{}", s - 1));
  for (const auto& p : pairs) {
    std::vector<NamedSpan> ranges;
    for (std::int64_t s = 0; s < n_spans; ++s)
      ranges.push_back({spans.names[static_cast<std::size_t>(s)], static_cast<std::int32_t>(s * width),
                        static_cast<std::int32_t>(s + 1 == n_spans ? p.target : (s + 1) * width - 1)});
    spans.ranges.push_back(std::move(ranges));
  }
  const double before = peak_rss_mib();
  auto t = Clock::now();
  const auto whole = edge_attribution(ctx.model, pairs, metric, PatchDirection::CleanIntoCorrupted);
  const double whole_s = seconds_since(t);
  const double whole_rss = peak_rss_mib();
  t = Clock::now();
  const auto by_span = positional_edge_attribution(ctx.model, pairs, metric, PatchDirection::CleanIntoCorrupted, spans, SpanAggregation::Sum);
  r["positional_eap_s"] = seconds_since(t);
  r["positional_eap_peak_rss_mib"] = peak_rss_mib();
  r["positional_whole_eap_s"] = whole_s;
  r["positional_whole_eap_peak_rss_mib"] = whole_rss;
  r["positional_peak_rss_before_mib"] = before;
  r["positional_edges"] = by_span.valid.sum().item<std::int64_t>();
  r["positional_tokens"] = length;
  r["positional_pairs"] = n_pairs;
  ctx.log(fmt::format("positional   EAP by {} spans: {:.2f} s, {} edges, peak RSS {:.0f} MiB; whole-component EAP {:.2f} s, peak RSS {:.0f} MiB "
                      "({} pairs of {} tokens, read-out layer {})",
                      n_spans, r["positional_eap_s"].get<double>(), r["positional_edges"].get<std::int64_t>(),
                      r["positional_eap_peak_rss_mib"].get<double>(), whole_s, whole_rss, n_pairs, length, ctx.readout));
}

void bench_probe_train(const Bench& ctx) {
  auto& r = ctx.r;
  // Overlapping classes, so L-BFGS needs real work: about 80% accuracy.
  const std::int64_t n = ctx.quick ? 2000 : 10000, f = 768, k = 7;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto centres = at::randn({k, f}, gen, at::kFloat) * 0.06;
  auto y = at::randint(k, {n}, gen, at::kLong);
  auto X = centres.index_select(0, y) + at::randn({n, f}, gen, at::kFloat);
  LogisticProbe probe;
  auto t = Clock::now();
  probe = train_logistic(X.to(ctx.device), y.to(ctx.device), k);
  r["probe_train_s"] = seconds_since(t);
  r["probe_converged"] = probe.converged;
  r["probe_iterations"] = probe.iterations;
  r["probe_train_accuracy"] = probe.predict(X.to(ctx.device)).eq(y.to(ctx.device)).to(at::kFloat).mean().item<double>();
  ctx.log(fmt::format("probe_train  {:8.3f} s, {} L-BFGS iterations, converged {}, train accuracy {:.3f} ({}x{}, {} classes)",
                  r["probe_train_s"].get<double>(), probe.iterations, probe.converged, r["probe_train_accuracy"].get<double>(), n, f, k));
}

void bench_extract(const Bench& ctx) {
  auto& r = ctx.r;
  // All 13 residual streams (embeddings + 12 blocks) of 100,000 tokens, streamed to HDF5.
  const std::int64_t seq = 128, n_seq = ctx.quick ? 16 : (100000 + seq - 1) / seq;
  auto tokens = at::randint(ctx.vocab, {n_seq, seq}, at::kLong);
  std::vector<HookId> hooks{hook::resid_pre(0)};
  for (int l = 0; l < 12; ++l) hooks.push_back(hook::resid_post(l));
  const auto dir = std::filesystem::temp_directory_path() / ("patchbay-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const double before = peak_rss_mib();
  auto t = Clock::now();
  std::int64_t written = 0;
  {
    H5Writer out((dir / "activations.h5").string(), true);
    written = stream_activations(ctx.model, tokens, hooks, out, ExtractOptions{.batch_size = 16, .progress = 0});
    out.commit();
  }
  const double s = seconds_since(t);
  r["extract_tokens"] = written;
  r["extract_s"] = s;
  r["extract_file_mib"] = std::filesystem::file_size(dir / "activations.h5") / 1048576.0;
  r["extract_peak_rss_mib"] = peak_rss_mib();
  r["extract_peak_rss_before_mib"] = before;
  std::filesystem::remove_all(dir);
  ctx.log(fmt::format("extract      {} tokens x 13 residual streams in {:.1f} s ({:.0f} MiB file), peak RSS {:.0f} MiB",
                  written, s, r["extract_file_mib"].get<double>(), r["extract_peak_rss_mib"].get<double>()));
}

void bench_stories260K(const Bench& ctx) {
  auto& r = ctx.r;
  for (const auto& root : model_search_path()) {
    auto dir = std::filesystem::path(root) / "stories260K";
    if (!std::filesystem::exists(dir / "model.bin")) continue;
    Model stories = load_model(dir.string(), ctx.device);
    at::InferenceMode no_grad;
    auto tokens = at::randint(512, {32, 128}, at::kLong).to(ctx.device);
    double t = best_time(3, [&] { sync(stories.forward(tokens)); });
    r["stories260K_tokens_per_s"] = 32 * 128 / t;
    ctx.log(fmt::format("stories260K  {:8.0f} tokens/s (full forward, batch 32 x 128)", 32 * 128 / t));
    break;
  }
}

// The llama2.c tokenizer on one line of 10 MB (1 MB with --quick) of story-like text: its merge
// loop was quadratic (#17: 40 KB took 26 s); the GPT-2 tokenizer on the same text beside it.
void bench_tokenizer(const Bench& ctx) {
  auto& r = ctx.r;
  const std::size_t bytes = ctx.quick ? (1u << 20) : 10u * (1u << 20);
  const std::string sentence = "Once upon a time, a little girl named Lily found a shiny red ball in the park. ";
  std::string line;
  while (line.size() < bytes) line += sentence;
  line.resize(bytes);
  for (const auto& root : model_search_path()) {
    const auto dir = std::filesystem::path(root);
    if (!r.contains("tokenize_llama2c_s") && std::filesystem::exists(dir / "stories260K" / "tokenizer.bin")) {
      auto tok = Llama2cTokenizer::from_file((dir / "stories260K" / "tokenizer.bin").string());
      auto t = Clock::now();
      r["tokenize_llama2c_tokens"] = tok->encode(line, true).size();
      r["tokenize_llama2c_s"] = seconds_since(t);
    }
    if (!r.contains("tokenize_gpt2_s") && std::filesystem::exists(dir / "gpt2" / "merges.txt")) {
      auto tok = Gpt2Tokenizer::from_files((dir / "gpt2" / "vocab.json").string(), (dir / "gpt2" / "merges.txt").string());
      auto t = Clock::now();
      r["tokenize_gpt2_tokens"] = tok->encode(line).size();
      r["tokenize_gpt2_s"] = seconds_since(t);
    }
  }
  r["tokenize_bytes"] = bytes;
  ctx.log(fmt::format("tokenize     one line of {} MiB: llama2.c {:.2f} s ({} tokens), GPT-2 {:.2f} s ({} tokens)", bytes >> 20,
                      r.value("tokenize_llama2c_s", -1.0), r.value("tokenize_llama2c_tokens", 0), r.value("tokenize_gpt2_s", -1.0),
                      r.value("tokenize_gpt2_tokens", 0)));
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{"patchbay-bench: performance figures (see bench/RESULTS.md)"};
  bool json = false, quick = false;
  int threads = 0;
  std::string device_name = "cpu", only;
  app.add_flag("--json", json, "print one JSON object");
  app.add_flag("--quick", quick, "small sizes: checks that every benchmark runs, not a measurement");
  app.add_option("--threads", threads, "compute threads (0 = one per core)");
  app.add_option("--device", device_name, "cpu or cuda");
  app.add_option("--only", only, "run one benchmark: gemm, forward, hooks, patch (with attribution), probe_train, extract, stories260K, positional, tokenizer");
  CLI11_PARSE(app, argc, argv);
  const int n_threads = configure_threads(threads);
  const auto device = parse_device(device_name);

  nlohmann::json r{{"device", device_name}, {"threads", n_threads}, {"library_version", library_version()},
                   {"git_commit", git_commit()}, {"quick", quick}};
  const std::int64_t d_model = quick ? 128 : 768, n_heads = quick ? 4 : 12, vocab = quick ? 1000 : 50257;
  const auto config = gpt2_like_config(12, d_model, n_heads, vocab, 1024);
  Model model = random_model(config, 0);
  model.to(device);
  const Bench bench{.r = r, .config = config, .model = model, .device = device, .quick = quick, .json = json,
                    .d_model = d_model, .n_heads = n_heads, .vocab = vocab};
  const std::pair<std::string, void (*)(const Bench&)> benchmarks[] = {
      {"gemm", bench_gemm},   {"forward", bench_forward},         {"hooks", bench_hooks},
      {"patch", bench_patch}, {"probe_train", bench_probe_train}, {"extract", bench_extract},
      {"stories260K", bench_stories260K}, {"positional", bench_positional}, {"tokenizer", bench_tokenizer}};
  for (const auto& [name, run] : benchmarks)
    if (only.empty() || only == name) run(bench);
  if (json) std::cout << r.dump(2) << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}
