#include "control/registrar/string_pool.h"

namespace rtplatch {

StringPool::StringPool() { entries_.emplace_back(); }

StringPool::Id StringPool::Intern(absl::string_view text) {
  if (text.empty()) return kEmpty;
  if (auto it = index_.find(text); it != index_.end()) {
    ++entries_[it->second]->refs;
    return it->second;
  }
  Id id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<Id>(entries_.size());
    entries_.emplace_back();
  }
  entries_[id] = std::make_unique<Entry>(Entry{std::string(text), 1});
  index_.emplace(entries_[id]->text, id);
  return id;
}

void StringPool::Release(Id id) {
  if (id == kEmpty || id >= entries_.size() || entries_[id] == nullptr) return;
  if (--entries_[id]->refs > 0) return;
  index_.erase(absl::string_view(entries_[id]->text));
  entries_[id].reset();
  free_.push_back(id);
}

absl::string_view StringPool::Get(Id id) const {
  if (id == kEmpty || id >= entries_.size() || entries_[id] == nullptr) return {};
  return entries_[id]->text;
}

}  // namespace rtplatch
