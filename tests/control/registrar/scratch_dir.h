// A directory under /tmp for one test, removed with all it holds when the
// test ends, passed or failed. path() is empty if it could not be made.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"

namespace rtplatch {

class ScratchDir {
 public:
  explicit ScratchDir(const char* name) {
    std::string tmpl = absl::StrCat("/tmp/", name, ".XXXXXX");
    if (mkdtemp(tmpl.data()) != nullptr) path_ = std::move(tmpl);
  }
  ~ScratchDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace rtplatch
