#include "patchbay/tokenizer/gpt2_bpe.hpp"

#include <array>
#include <climits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "patchbay/core/error.hpp"
#include "patchbay/io/mapped_file.hpp"
#include "utf8.hpp"

namespace patchbay {
namespace {

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n, so every
// byte has a visible, whitespace-free code point.
const std::array<std::uint32_t, 256>& byte_to_code_point() {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    std::uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? static_cast<std::uint32_t>(b) : next++;
    }
    return t;
  }();
  return table;
}

// Inverse of byte_to_code_point over the 324 code points it uses.
int code_point_to_byte(std::uint32_t cp) {
  static const auto table = [] {
    std::array<int, 512> t{};
    t.fill(-1);
    const auto& forward = byte_to_code_point();
    for (int b = 0; b < 256; ++b) t[forward[b]] = b;
    return t;
  }();
  return cp < table.size() ? table[cp] : -1;
}

std::string byte_symbol(unsigned char b) {
  std::string s;
  detail::utf8_append(s, byte_to_code_point()[b]);
  return s;
}

// Token string (byte-to-unicode form) back to raw bytes; `ok` is false for foreign code points.
std::string symbols_to_bytes(const std::string& token, bool& ok) {
  std::string out;
  ok = true;
  for (std::size_t i = 0; i < token.size();) {
    std::size_t n = detail::utf8_length(token, i);
    int b = code_point_to_byte(detail::utf8_decode(token, i, n));
    if (b < 0) ok = false;
    else out += static_cast<char>(b);
    i += n;
  }
  return out;
}

}  // namespace

std::shared_ptr<Gpt2Tokenizer> Gpt2Tokenizer::from_files(const std::string& vocab_json, const std::string& merges_txt) {
  return from_strings(read_text_file(vocab_json), read_text_file(merges_txt), vocab_json + " / " + merges_txt);
}

std::shared_ptr<Gpt2Tokenizer> Gpt2Tokenizer::from_strings(const std::string& vocab_text,
                                                           const std::string& merges_text, const std::string& what) {
  std::shared_ptr<Gpt2Tokenizer> t(new Gpt2Tokenizer());
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::exception& e) {
    fail<FormatError>("{}: vocab.json is not valid JSON ({})", what, e.what());
  }
  if (!vocab.is_object() || vocab.empty())
    fail<FormatError>("{}: vocab.json must be a non-empty object mapping token strings to ids", what);
  if (vocab.size() > (1u << 24)) fail<FormatError>("{}: vocab.json has {} entries (limit 2^24)", what, vocab.size());
  t->id_to_token_.assign(vocab.size(), {});
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [token, id_json] : vocab.items()) {
    if (!id_json.is_number_integer())
      fail<FormatError>("{}: vocab.json id of token '{}' is not an integer", what, token);
    auto id = id_json.get<std::int64_t>();
    if (id < 0 || id >= static_cast<std::int64_t>(vocab.size()))
      fail<FormatError>("{}: vocab.json id {} of token '{}' is out of range (expected 0..{})", what, id, token,
                        vocab.size() - 1);
    if (seen[static_cast<std::size_t>(id)]) fail<FormatError>("{}: vocab.json uses id {} twice", what, id);
    seen[static_cast<std::size_t>(id)] = true;
    t->id_to_token_[static_cast<std::size_t>(id)] = token;
    t->token_to_id_[token] = id;
  }
  for (int b = 0; b < 256; ++b)
    if (!t->token_to_id_.count(byte_symbol(static_cast<unsigned char>(b))))
      fail<FormatError>("{}: vocab.json lacks the token for byte 0x{:02x}; byte-level BPE needs all 256", what, b);
  if (auto it = t->token_to_id_.find("<|endoftext|>"); it != t->token_to_id_.end()) t->bos_ = it->second;

  std::istringstream lines(merges_text);
  std::string line;
  int rank = 0, line_number = 0;
  while (std::getline(lines, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_number == 1 && line.rfind("#version", 0) == 0)) continue;
    auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos)
      fail<FormatError>("{}: merges.txt line {} is malformed: expected 'LEFT RIGHT', got '{}'", what, line_number,
                        line);
    std::string left = line.substr(0, space), right = line.substr(space + 1);
    if (!t->token_to_id_.count(left + right))
      fail<FormatError>("{}: merges.txt line {} merges '{}' + '{}' into a token missing from vocab.json", what,
                        line_number, left, right);
    t->merge_rank_.emplace(std::make_pair(std::move(left), std::move(right)), rank++);
  }
  return t;
}

void Gpt2Tokenizer::bpe(const std::string& chunk, std::vector<std::int64_t>& out) const {
  {
    std::lock_guard lock(cache_mutex_);
    if (auto it = cache_.find(chunk); it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<std::string> parts;
  for (unsigned char b : chunk) parts.push_back(byte_symbol(b));
  while (parts.size() > 1) {
    int best_rank = INT_MAX;
    std::size_t best = 0;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = merge_rank_.find({parts[i], parts[i + 1]});
      if (it != merge_rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    // Merge every non-overlapping occurrence of the best pair, left to right.
    const std::string left = parts[best], right = parts[best + 1];
    std::vector<std::string> merged;
    for (std::size_t i = 0; i < parts.size();) {
      if (i + 1 < parts.size() && parts[i] == left && parts[i + 1] == right) {
        merged.push_back(left + right);
        i += 2;
      } else {
        merged.push_back(parts[i++]);
      }
    }
    parts = std::move(merged);
  }
  std::vector<std::int64_t> ids;
  for (const auto& p : parts) ids.push_back(token_to_id_.at(p));  // present: checked at load
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard lock(cache_mutex_);
  if (cache_.size() < 100000) cache_.emplace(chunk, std::move(ids));
}

std::vector<std::int64_t> Gpt2Tokenizer::encode(std::string_view text, bool bos) const {
  std::vector<std::int64_t> ids;
  if (bos) {
    if (!bos_) fail<InputError>("this GPT-2 vocabulary has no <|endoftext|> token to use as BOS");
    ids.push_back(*bos_);
  }
  for (const auto& chunk : gpt2_pretokenize(text)) bpe(chunk, ids);
  return ids;
}

std::vector<std::int64_t> Gpt2Tokenizer::encode_continuation(std::string_view text) const {
  // Without BOS, GPT-2's encoding has no start-of-text effect: the same as encode().
  return encode(text, /*bos=*/false);
}

std::string Gpt2Tokenizer::token_text(std::int64_t id) const {
  if (id < 0 || id >= vocab_size())
    fail<InputError>("token id {} is out of range for a vocabulary of {}", id, vocab_size());
  if (bos_ && id == *bos_) return id_to_token_[static_cast<std::size_t>(id)];
  bool ok = true;
  std::string bytes = symbols_to_bytes(id_to_token_[static_cast<std::size_t>(id)], ok);
  return ok ? bytes : id_to_token_[static_cast<std::size_t>(id)];  // special tokens decode as written
}

std::string Gpt2Tokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i == 0 && bos_ && ids[i] == *bos_) continue;  // a leading BOS decodes to nothing
    out += token_text(ids[i]);
  }
  return out;
}

bool Gpt2Tokenizer::begins_word(std::int64_t id) const {
  auto text = token_text(id);
  return !text.empty() && text[0] == ' ';
}

}  // namespace patchbay
