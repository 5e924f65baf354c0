// Hostile and broken model, config and tokenizer files: each gets an error naming the file,
// the tensor or field, and what was expected. Nothing crashes or allocates what a header claims.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "../support/cli.hpp"
#include "../support/paths.hpp"
#include "patchbay/model/export.hpp"
#include "patchbay/core/error.hpp"
#include "patchbay/io/h5_json.hpp"
#include "patchbay/io/h5_writer.hpp"
#include "patchbay/io/safetensors.hpp"
#include "patchbay/io/safetensors_writer.hpp"
#include "patchbay/model/llama2c_header.hpp"
#include "patchbay/model/load.hpp"
#include "patchbay/model/random_model.hpp"
#include "patchbay/tokenizer/gpt2_bpe.hpp"
#include "patchbay/tokenizer/llama2c.hpp"

using namespace patchbay;

namespace {
std::string header_file(const std::string& header, std::size_t data_bytes, std::uint64_t claimed = 0) {
  std::string out(8, '\0');
  std::uint64_t n = claimed ? claimed : header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header + std::string(data_bytes, '\0');
}
std::string parse_error(const std::string& bytes) {
  try {
    parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "x.safetensors");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "no error";
}
void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }
}  // namespace

TEST_CASE("malformed safetensors headers are refused with what was expected", "[robustness][safetensors]") {
  const std::string ok = R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})";
  CHECK(parse_error(header_file(ok, 16)) == "no error");
  CHECK_THAT(parse_error("1234"), Catch::Contains("too short for a safetensors header"));
  CHECK_THAT(parse_error(header_file(ok, 16, 1000)), Catch::Contains("header length 1000 exceeds the file size"));
  CHECK_THAT(parse_error(header_file(ok, 16, 1ull << 40)), Catch::Contains("is absurd (limit 104857600 bytes)"));
  CHECK_THAT(parse_error(header_file("{not json", 0)), Catch::Contains("x.safetensors: safetensors header is not valid JSON"));
  CHECK_THAT(parse_error(header_file("[1, 2]", 0)), Catch::Contains("must be a JSON object"));
  CHECK_THAT(parse_error(header_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                          "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8)),
             Catch::Contains("names 'a' more than once"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}})", 1)),
             Catch::Contains("tensor 'w' has unknown dtype 'F8' (expected one of F64, F32"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8)),
             Catch::Contains("tensor 'w' data_offsets [0, 16] run past the data section (8 bytes)"));
  CHECK_THAT(parse_error(header_file(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})", 24)),
             Catch::Contains("tensors 'a' [0, 16] and 'b' [8, 24] overlap"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 16)),
             Catch::Contains("tensor 'w' spans 12 bytes but dtype F32 x shape [2,2] needs 16"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 16)),
             Catch::Contains("end 0 is before begin 8"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 16)),
             Catch::Contains("non-negative integers"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 8]}})", 16)),
             Catch::Contains("overflows"));
  CHECK_THAT(parse_error(header_file(R"({"w": {"dtype": "F32", "data_offsets": [0, 8]}})", 16)), Catch::Contains("lacks the 'shape' field"));
}

TEST_CASE("GPT-2 checkpoints that do not match their config are refused, naming the tensor", "[robustness][gpt2]") {
  test::TempDir dir;
  auto model = random_model(gpt2_like_config(2, 16, 2, 40, 8), 1);
  export_gpt2_checkpoint(model, dir / "ok");
  auto reloaded = load_model(dir / "ok");  // the exported checkpoint loads and computes the same
  at::InferenceMode no_grad;
  auto tokens = at::tensor({1, 5, 7}, at::kLong).unsqueeze(0);
  CHECK(at::allclose(reloaded.forward(tokens), model.forward(tokens), 1e-6, 1e-6));

  auto variant = [&](const std::string& name, auto edit) {
    const auto d = dir / name;
    std::filesystem::copy(dir / "ok", d);
    edit(d);
    return d;
  };
  auto error_of = [](const std::string& d) -> std::string {
    try {
      load_model(d);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  auto rewrite = [&](const std::string& d, auto change) {
    SafetensorsFile f(d + "/model.safetensors");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& [name, info] : f.tensors()) tensors.emplace_back(name, f.load_f32(name));
    change(tensors);
    std::filesystem::remove(d + "/model.safetensors");
    write_safetensors(d + "/model.safetensors", tensors);
  };
  CHECK_THAT(error_of(variant("missing", [&](const std::string& d) {
               rewrite(d, [](auto& t) { t.erase(std::find_if(t.begin(), t.end(), [](auto& p) { return p.first == "h.1.mlp.c_fc.bias"; })); });
             })),
             Catch::Contains("missing tensor 'h.1.mlp.c_fc.bias' (expected shape [64])"));
  CHECK_THAT(error_of(variant("unexpected", [&](const std::string& d) {
               rewrite(d, [](auto& t) { t.emplace_back("h.0.attn.rotary", at::zeros({3})); });
             })),
             Catch::Contains("unexpected tensor 'h.0.attn.rotary'"));
  CHECK_THAT(error_of(variant("shape", [&](const std::string& d) {
               rewrite(d, [](auto& t) {
                 for (auto& [name, tensor] : t)
                   if (name == "wpe.weight") tensor = at::zeros({9, 16});
               });
             })),
             Catch::Contains("tensor 'wpe.weight' has shape [9, 16] but config.json implies [8, 16]"));
  CHECK(error_of(variant("buffers", [&](const std::string& d) {
          rewrite(d, [](auto& t) {
            t.emplace_back("h.0.attn.bias", at::ones({1, 1, 8, 8}));
            t.emplace_back("h.1.attn.masked_bias", at::ones({1}));
          });
        })) == "no error");  // GPT-2's mask buffers are tolerated
  CHECK(error_of(variant("prefixed", [&](const std::string& d) {
          rewrite(d, [](auto& t) {
            for (auto& [name, tensor] : t) name = "transformer." + name;
          });
        })) == "no error");
  CHECK(error_of(variant("half", [&](const std::string& d) {
          rewrite(d, [](auto& t) {
            for (auto& [name, tensor] : t) tensor = tensor.to(at::kBFloat16);
          });
        })) == "no error");

  auto config_error = [&](const std::string& name, auto edit) {
    return error_of(variant(name, [&](const std::string& d) {
      auto j = nlohmann::json::parse(test::slurp(d + "/config.json"));
      edit(j);
      write(d + "/config.json", j.dump());
    }));
  };
  CHECK_THAT(config_error("c1", [](auto& j) { j.erase("n_layer"); }), Catch::Contains("missing field 'n_layer' (expected an integer)"));
  CHECK_THAT(config_error("c2", [](auto& j) { j["n_head"] = "two"; }), Catch::Contains("field 'n_head' must be an integer, got \"two\""));
  CHECK_THAT(config_error("c3", [](auto& j) { j["n_head"] = 3; }), Catch::Contains("n_heads = 3 does not divide d_model = 16"));
  CHECK_THAT(config_error("c4", [](auto& j) { j["activation_function"] = "relu"; }), Catch::Contains("is not supported (expected \"gelu_new\")"));
  CHECK_THAT(config_error("c5", [](auto& j) { j["n_layer"] = -1; }), Catch::Contains("n_layers = -1 is out of range"));
  CHECK_THAT(error_of(variant("truncated_config", [&](const std::string& d) { write(d + "/config.json", "{\"n_layer\": "); })),
             Catch::Contains("config.json: not valid JSON"));

  SECTION("NaN weights load with a warning naming the tensor") {
    auto d = variant("nan", [&](const std::string& d) {
      rewrite(d, [](auto& t) {
        for (auto& [name, tensor] : t)
          if (name == "h.1.ln_2.weight") tensor[3] = std::nan("");
      });
    });
    auto r = test::run_cli("cache --model '" + d + "' --ids '1 2' --hooks hook_embed --out '" + (dir / "nan.h5") + "'");
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("warning:") && Catch::Contains("blocks.1.ln2.w contains NaN or Inf"));
  }
}

TEST_CASE("llama2.c headers out of range and wrong file sizes are refused", "[robustness][llama2c]") {
  auto header = [](std::vector<std::int32_t> f, std::size_t total) {
    std::string bytes(total, '\0');
    std::memcpy(bytes.data(), f.data(), std::min<std::size_t>(28, total));
    return bytes;
  };
  auto error_of = [](const std::string& bytes) -> std::string {
    try {
      parse_llama2c_header(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "m.bin");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  const std::vector<std::int32_t> good{64, 172, 5, 8, 4, 512, 512};
  Llama2cHeader h{64, 172, 5, 8, 4, 512, 512, true};
  const auto size = 28 + 4 * llama2c_weight_count(h);
  CHECK(size == 1056540);  // stories260K's model.bin
  CHECK(error_of(header(good, size)) == "no error");
  CHECK_THAT(error_of("abc"), Catch::Contains("too short for the 28-byte llama2.c header"));
  CHECK_THAT(error_of(header({0, 172, 5, 8, 4, 512, 512}, size)), Catch::Contains("header field dim = 0 is out of range"));
  CHECK_THAT(error_of(header({64, -3, 5, 8, 4, 512, 512}, size)), Catch::Contains("hidden_dim = -3 is out of range"));
  CHECK_THAT(error_of(header({64, 172, 5, 6, 3, 512, 512}, size)), Catch::Contains("n_heads = 6 does not divide dim = 64"));
  CHECK_THAT(error_of(header({64, 172, 5, 8, 3, 512, 512}, size)), Catch::Contains("n_kv_heads = 3 does not divide n_heads = 8"));
  CHECK_THAT(error_of(header(good, size - 4)), Catch::Contains("file is 1056536 bytes but its header implies 1056540"));
  CHECK_THAT(error_of(header({64, 172, 5, 8, 4, -512, 512}, size)), Catch::Contains("implies"));  // untied: a classifier more
  CHECK_THAT(error_of(header({64, 172, 5, 8, 4, INT32_MIN, 512}, size)), Catch::Contains("vocab_size"));
}

TEST_CASE("broken tokenizer files are refused with the line or token at fault", "[robustness][tokenizer]") {
  auto gpt2_error = [](const std::string& vocab, const std::string& merges) -> std::string {
    try {
      Gpt2Tokenizer::from_strings(vocab, merges, "tok");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  nlohmann::json bytes_vocab = nlohmann::json::object();
  // The 256 byte symbols of GPT-2's byte-level alphabet.
  int next = 256, id = 0;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::uint32_t cp = printable ? static_cast<std::uint32_t>(b) : static_cast<std::uint32_t>(next++);
    std::string s;
    if (cp < 0x80) s += static_cast<char>(cp);
    else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    bytes_vocab[s] = id++;
  }
  bytes_vocab["ab"] = id++;
  CHECK(gpt2_error(bytes_vocab.dump(), "#version: 0.2\na b\n") == "no error");
  CHECK_THAT(gpt2_error("{oops", ""), Catch::Contains("vocab.json is not valid JSON"));
  CHECK_THAT(gpt2_error(R"({"a": 0, "b": 5})", ""), Catch::Contains("vocab.json id 5 of token 'b' is out of range (expected 0..1)"));
  CHECK_THAT(gpt2_error(R"({"a": 0, "b": 0})", ""), Catch::Contains("uses id 0 twice"));
  CHECK_THAT(gpt2_error(R"({"a": 0})", ""), Catch::Contains("lacks the token for byte 0x00"));
  CHECK_THAT(gpt2_error(bytes_vocab.dump(), "#version: 0.2\nab\n"), Catch::Contains("merges.txt line 2 is malformed: expected 'LEFT RIGHT', got 'ab'"));
  CHECK_THAT(gpt2_error(bytes_vocab.dump(), "a c\n"), Catch::Contains("merges 'a' + 'c' into a token missing from vocab.json"));

  auto llama_error = [](const std::string& bytes) -> std::string {
    try {
      Llama2cTokenizer::from_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "tok.bin");
    } catch (const FormatError& e) {
      return e.what();
    }
    return "no error";
  };
  const auto real = test::slurp(test::models("stories260K/tokenizer.bin"));
  if (!real.empty()) {
    CHECK(llama_error(real) == "no error");
    CHECK_THAT(llama_error(real.substr(0, real.size() - 3)), Catch::Contains("truncated"));
    std::string bad_length = real;
    std::int32_t huge = 1 << 30;
    std::memcpy(bad_length.data() + 4 + 4, &huge, 4);  // token 0's length
    CHECK_THAT(llama_error(bad_length), Catch::Contains("token 0 has length 1073741824 (expected 0..max_token_length"));
    CHECK_THAT(llama_error(real.substr(0, 4 + 8 * 10 + 50)), Catch::Contains("tok.bin"));
  }
  CHECK_THAT(llama_error("ab"), Catch::Contains("too short for its header"));
  auto missing = test::run_cli("tokenize --model /tmp", "\"hi\"\n");
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("has no tokenizer: expected tokenizer.bin (llama2.c) or vocab.json + merges.txt"));
  auto gpt2 = load_tokenizer(test::models("gpt2"));
  if (gpt2) CHECK_THROWS_WITH(gpt2->decode(std::vector<std::int64_t>{50257}), Catch::Contains("token id 50257 is out of range"));
}

TEST_CASE("JSON attributes of result files that nest too deep are refused, naming the file and attribute", "[robustness][json]") {
  // 60,000 nested arrays once crashed `inspect --json` and `report` (their printing recurses):
  // every result-file reader parses through parse_result_json.
  CHECK_THROWS_WITH(parse_result_json(std::string(60000, '[') + std::string(60000, ']'), "'x.h5': attribute 'summary'"),
                    Catch::Contains("'x.h5': attribute 'summary' nests deeper than 256 levels"));
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  CHECK_THROWS_AS(parse_result_json(objects + "1" + std::string(100000, '}'), "config"), FormatError);
  test::TempDir dir;
  const auto file = dir / "deep.h5";
  {
    H5Writer out(file, true);
    out.write_attribute("summary", std::string(300, '[') + std::string(300, ']'));
    out.write_attribute("provenance", std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'));
    out.write_attribute("inputs", std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']'));
    out.write_attribute("broken", "{\"a\": ");
    out.commit();
  }
  H5Reader in(file);
  CHECK_THROWS_WITH(read_json_attribute(in, "summary"), Catch::Contains("deep.h5': attribute 'summary' nests deeper than 256 levels"));
  CHECK_THROWS_AS(read_json_attribute(in, "summary"), FormatError);
  CHECK(read_json_attribute(in, "provenance").is_array());  // exactly the limit is read
  CHECK_THROWS_WITH(read_json_attribute(in, "inputs"), Catch::Contains("nests deeper"));
  CHECK_THROWS_WITH(read_json_attribute(in, "broken"), Catch::Contains("attribute 'broken' is not valid JSON"));
  CHECK(read_json_attribute(in, "absent").is_null());
}
