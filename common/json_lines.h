// Framing for the control sockets: newline-delimited JSON. A LineBuffer
// collects bytes from a stream socket and hands out complete lines, with a
// cap so a peer that never sends '\n' cannot grow our memory.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace rtplatch {

// Big enough for a bulk keepalive_add of 100 000 targets (~11 MB).
inline constexpr size_t kMaxControlLine = 16 * 1024 * 1024;

class LineBuffer {
 public:
  explicit LineBuffer(size_t max_line = kMaxControlLine) : max_line_(max_line) {}

  void Append(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete line without its '\n' (and a trailing '\r').
  std::optional<std::string> NextLine();
  // True once the unterminated tail is longer than the cap.
  bool overflowed() const { return buffer_.size() - consumed_ > max_line_; }

 private:
  std::string buffer_;
  size_t consumed_ = 0;
  const size_t max_line_;
};

}  // namespace rtplatch
