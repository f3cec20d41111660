// Per-stream counts as a JSON list ("[3,0,7]"), the form both overload
// generators (overload_gen, overload_udp_gen) report them in to
// bench/overload.py.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtplatch {

inline std::string JsonCountList(const std::vector<uint64_t>& counts) {
  std::string s = "[";
  for (size_t i = 0; i < counts.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(counts[i]);
  }
  return s + "]";
}

}  // namespace rtplatch
