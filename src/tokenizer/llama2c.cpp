#include "patchbay/tokenizer/llama2c.hpp"

#include <cstring>
#include <limits>
#include <algorithm>

#include "patchbay/core/error.hpp"
#include "patchbay/io/mapped_file.hpp"

namespace patchbay {
namespace {

template <typename T>
T read_le(const std::uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

// "<0x41>" -> 0x41; -1 when the piece is not a byte token.
int byte_token_value(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace

std::shared_ptr<Llama2cTokenizer> Llama2cTokenizer::from_file(const std::string& path) {
  MappedFile file(path);
  return from_bytes(file.data(), file.size(), path);
}

std::shared_ptr<Llama2cTokenizer> Llama2cTokenizer::from_bytes(const std::uint8_t* data, std::size_t size,
                                                              const std::string& what) {
  std::shared_ptr<Llama2cTokenizer> t(new Llama2cTokenizer());
  if (size < 4) fail<FormatError>("{}: tokenizer file is {} bytes, too short for its header", what, size);
  const auto max_len = read_le<std::int32_t>(data);
  if (max_len <= 0 || max_len > 4096)
    fail<FormatError>("{}: max_token_length = {} is out of range (expected 1..4096)", what, max_len);
  std::size_t at = 4;
  while (at < size) {
    const auto id = t->pieces_.size();
    if (size - at < 8)
      fail<FormatError>("{}: truncated at token {}: {} bytes left, need 8 for score and length", what, id, size - at);
    const auto score = read_le<float>(data + at);
    const auto len = read_le<std::int32_t>(data + at + 4);
    at += 8;
    if (len < 0 || len > max_len)
      fail<FormatError>("{}: token {} has length {} (expected 0..max_token_length = {})", what, id, len, max_len);
    if (static_cast<std::size_t>(len) > size - at)
      fail<FormatError>("{}: truncated in token {}: length {} but {} bytes left", what, id, len, size - at);
    t->pieces_.emplace_back(reinterpret_cast<const char*>(data + at), static_cast<std::size_t>(len));
    t->scores_.push_back(score);
    at += static_cast<std::size_t>(len);
    if (t->pieces_.size() > (1u << 22)) fail<FormatError>("{}: more than 2^22 tokens", what);
  }
  if (t->pieces_.size() < 3 + 256)
    fail<FormatError>("{}: {} tokens; a llama2.c vocabulary needs <unk>, <s>, </s> and 256 byte tokens", what,
                      t->pieces_.size());
  for (int b = 0; b < 256; ++b)
    if (byte_token_value(t->pieces_[static_cast<std::size_t>(kByteOffset + b)]) != b)
      fail<FormatError>("{}: token {} should be the byte token <0x{:02X}>, found '{}'", what, kByteOffset + b, b,
                        t->pieces_[static_cast<std::size_t>(kByteOffset + b)]);
  // llama2.c looks pieces up by binary search; with duplicate pieces keep the first id.
  for (std::size_t id = 0; id < t->pieces_.size(); ++id) t->piece_to_id_.emplace(t->pieces_[id], id);
  return t;
}

std::int64_t Llama2cTokenizer::lookup(const std::string& piece) const {
  auto it = piece_to_id_.find(piece);
  return it == piece_to_id_.end() ? -1 : it->second;
}

std::vector<std::int64_t> Llama2cTokenizer::encode(std::string_view text, bool bos) const {
  return encode_pieces(text, bos, /*dummy_prefix=*/true);
}

// llama2.c's merge loop, in O(n log n) rather than its O(n^2): repeatedly merge the adjacent
// pair whose concatenation is a piece with the highest score, the leftmost on ties, until no
// pair merges. The candidates sit in a max-heap; a merge changes only its own two neighbours'
// pairs, so those are pushed anew and entries whose tokens have since changed are skipped when
// popped. Positions keep their left-to-right order (a merge keeps the left one), so "leftmost"
// is "smallest position". Scores at or below -1e10 (and NaN) never merge, as in llama2.c.
void Llama2cTokenizer::merge_greedily(std::vector<std::int64_t>& tokens) const {
  struct Candidate {
    float score;
    std::uint32_t left, right;                      // positions in `tokens`
    std::int32_t left_token, right_token, merged;  // ids (a vocabulary has at most 2^22)
  };
  auto worse = [](const Candidate& a, const Candidate& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Candidate> heap;  // a max-heap under `worse`, built in O(n) from the first candidates
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  if (tokens.size() >= kNone) fail<InputError>("text of {} code points is too long to tokenize (at most {})", tokens.size(), kNone - 1);
  const auto n = static_cast<std::uint32_t>(tokens.size());
  std::vector<std::uint32_t> prev(n), next(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    prev[i] = i == 0 ? kNone : i - 1;
    next[i] = i + 1 == n ? kNone : i + 1;
  }
  std::string pair;  // reused: one allocation, not one per candidate
  auto push = [&](std::uint32_t left, std::uint32_t right) {
    if (left == kNone || right == kNone) return;
    pair.assign(pieces_[static_cast<std::size_t>(tokens[left])]).append(pieces_[static_cast<std::size_t>(tokens[right])]);
    const auto merged = lookup(pair);
    if (merged < 0) return;
    const float score = scores_[static_cast<std::size_t>(merged)];
    if (!(score > -1e10f)) return;
    heap.push_back({score, left, right, static_cast<std::int32_t>(tokens[left]), static_cast<std::int32_t>(tokens[right]),
                    static_cast<std::int32_t>(merged)});
  };
  heap.reserve(n);
  for (std::uint32_t i = 0; i + 1 < n; ++i) push(i, i + 1);
  std::make_heap(heap.begin(), heap.end(), worse);
  auto push_heap = [&](std::uint32_t left, std::uint32_t right) {
    const auto size = heap.size();
    push(left, right);
    if (heap.size() > size) std::push_heap(heap.begin(), heap.end(), worse);
  };
  std::vector<bool> removed(n, false);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const auto c = heap.back();
    heap.pop_back();
    const bool current = !removed[c.left] && next[c.left] == c.right && tokens[c.left] == c.left_token &&
                         tokens[c.right] == c.right_token;
    if (!current) continue;
    tokens[c.left] = c.merged;
    removed[c.right] = true;
    next[c.left] = next[c.right];
    if (next[c.right] != kNone) prev[next[c.right]] = c.left;
    push_heap(prev[c.left], c.left);
    push_heap(c.left, next[c.left]);
  }
  std::size_t kept = 0;
  for (std::uint32_t i = 0; i < n; ++i)
    if (!removed[i]) tokens[kept++] = tokens[i];
  tokens.resize(kept);
}

std::vector<std::int64_t> Llama2cTokenizer::encode_pieces(std::string_view text, bool bos, bool dummy_prefix) const {
  std::vector<std::int64_t> tokens;
  if (bos) tokens.push_back(kBos);
  if (dummy_prefix && !text.empty()) {
    auto prefix = lookup(" ");
    if (prefix < 0) fail<InputError>("tokenizer has no ' ' piece for the dummy prefix");
    tokens.push_back(prefix);
  }
  // One token per UTF-8 code point (at most 4 bytes), else one byte token per byte.
  std::string buffer;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) != 0x80) buffer.clear();
    buffer += static_cast<char>(c);
    const bool next_continues = i + 1 < text.size() && (static_cast<unsigned char>(text[i + 1]) & 0xC0) == 0x80;
    if (next_continues && buffer.size() < 4) continue;
    if (auto id = lookup(buffer); id >= 0) {
      tokens.push_back(id);
    } else {
      for (unsigned char b : buffer) tokens.push_back(kByteOffset + b);
    }
    buffer.clear();
  }
  merge_greedily(tokens);
  return tokens;
}

std::vector<std::int64_t> Llama2cTokenizer::encode_continuation(std::string_view text) const {
  return encode_pieces(text, /*bos=*/false, /*dummy_prefix=*/false);
}

std::string Llama2cTokenizer::token_text(std::int64_t id) const {
  if (id < 0 || id >= vocab_size())
    fail<InputError>("token id {} is out of range for a vocabulary of {}", id, vocab_size());
  const auto& piece = pieces_[static_cast<std::size_t>(id)];
  int byte = byte_token_value(piece);
  return byte >= 0 ? std::string(1, static_cast<char>(byte)) : piece;
}

std::string Llama2cTokenizer::decode(std::span<const std::int64_t> ids) const {
  std::string out;
  bool at_start = true;
  for (std::int64_t id : ids) {
    if (id == kBos) continue;
    std::string text = token_text(id);
    // The dummy-prefix space added by encode is not part of the text (llama2.c drops it after BOS).
    if (at_start && !text.empty() && text[0] == ' ') text.erase(0, 1);
    at_start = false;
    out += text;
  }
  return out;
}

bool Llama2cTokenizer::begins_word(std::int64_t id) const {
  const auto& piece = pieces_.at(static_cast<std::size_t>(id));
  return !piece.empty() && piece[0] == ' ';
}

}  // namespace patchbay
