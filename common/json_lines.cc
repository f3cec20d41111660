#include "common/json_lines.h"

namespace rtplatch {

std::optional<std::string> LineBuffer::NextLine() {
  size_t newline = buffer_.find('\n', consumed_);
  if (newline == std::string::npos) {
    // Compact once everything before the tail is consumed.
    if (consumed_ > 0) {
      buffer_.erase(0, consumed_);
      consumed_ = 0;
    }
    return std::nullopt;
  }
  std::string line = buffer_.substr(consumed_, newline - consumed_);
  consumed_ = newline + 1;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace rtplatch
