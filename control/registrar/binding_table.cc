#include "control/registrar/binding_table.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace rtplatch {
namespace {

constexpr int kTextFields = 3;  // AOR, Contact, Call-ID

bool KeyLess(absl::string_view a_aor, absl::string_view a_contact, absl::string_view b_aor,
             absl::string_view b_contact) {
  if (a_aor != b_aor) return a_aor < b_aor;
  return a_contact < b_contact;
}

}  // namespace

bool BindingTable::OrderLess::operator()(Id a, Id b) const {
  return (*this)(a, table->KeyOf(b));
}
bool BindingTable::OrderLess::operator()(Id a, const Key& b) const {
  const Key k = table->KeyOf(a);
  return KeyLess(k.aor, k.contact, b.aor, b.contact);
}
bool BindingTable::OrderLess::operator()(const Key& a, Id b) const {
  const Key k = table->KeyOf(b);
  return KeyLess(a.aor, a.contact, k.aor, k.contact);
}

BindingTable::BindingTable()
    : order_(OrderLess{this}) {}

absl::string_view BindingTable::TextField(Id id, int field) const {
  const char* text = R(id).text.get();
  uint32_t len[kTextFields];
  std::memcpy(len, text, sizeof(len));
  size_t offset = sizeof(len);
  for (int i = 0; i < field; ++i) offset += len[i];
  return {text + offset, len[field]};
}

uint32_t BindingTable::ExpirySeconds(int64_t expires_at) {
  return static_cast<uint32_t>(std::clamp<int64_t>(expires_at, 0, UINT32_MAX));
}

BindingTable::Id BindingTable::FindId(absl::string_view aor,
                                      absl::string_view contact_uri) const {
  const auto head = aor_heads_.find(aor);
  if (head == aor_heads_.end()) return kNone;
  for (Id id = *head; id != kNone; id = R(id).next) {
    if (ContactOf(id) == contact_uri) return id;
  }
  return kNone;
}

BindingTable::Id BindingTable::Allocate() {
  if (!free_.empty()) {
    const Id id = free_.back();
    free_.pop_back();
    return id;
  }
  if (allocated_ % kChunk == 0) chunks_.push_back(std::make_unique<Record[]>(kChunk));
  return allocated_++;
}

namespace {

// `value`'s index in `values` (added when new), with `index` mapping each
// value to it. 65 535 distinct sockets or nodes is far beyond any
// cluster's; past it the last one stands for the rest rather than
// overflow the 16-bit index.
template <typename Index, typename Values, typename Value>
uint16_t Intern(Index& index, Values& values, const Value& value) {
  if (values.size() == UINT16_MAX) {
    const auto it = index.find(value);
    return it != index.end() ? it->second : UINT16_MAX - 1;
  }
  const auto [it, added] = index.try_emplace(value, values.size());
  if (added) values.emplace_back(value);
  return it->second;
}

}  // namespace

uint16_t BindingTable::SocketIndex(const Endpoint& socket) {
  return Intern(socket_index_, sockets_, socket);
}

uint16_t BindingTable::NodeIndex(absl::string_view node) {
  return Intern(node_index_, nodes_, node);
}

void BindingTable::Assign(Id id, const Binding& b) {
  Record& r = R(id);
  const uint32_t len[kTextFields] = {static_cast<uint32_t>(b.aor.size()),
                                     static_cast<uint32_t>(b.contact_uri.size()),
                                     static_cast<uint32_t>(b.call_id.size())};
  auto text = std::make_unique_for_overwrite<char[]>(sizeof(len) + len[0] + len[1] + len[2]);
  char* out = text.get();
  std::memcpy(out, len, sizeof(len));
  out += sizeof(len);
  for (absl::string_view field : {absl::string_view(b.aor), absl::string_view(b.contact_uri),
                                  absl::string_view(b.call_id)}) {
    std::memcpy(out, field.data(), field.size());
    out += field.size();
  }
  r.text = std::move(text);
  // Interned before the old ones are released: an unchanged string keeps
  // its entry instead of being freed and added again.
  const StringPool::Id user_agent = strings_.Intern(b.user_agent);
  const StringPool::Id nat_reasons = strings_.Intern(absl::StrJoin(b.nat_reasons, "\n"));
  const StringPool::Id keepalive_reason = strings_.Intern(b.keepalive_reason);
  strings_.Release(r.user_agent);
  strings_.Release(r.nat_reasons);
  strings_.Release(r.keepalive_reason);
  r.user_agent = user_agent;
  r.nat_reasons = nat_reasons;
  r.keepalive_reason = keepalive_reason;
  r.expires_at = ExpirySeconds(b.expires_at);
  r.cseq = b.cseq;
  r.keepalive_interval_ms = b.keepalive_interval_ms;
  r.source = b.source;
  r.q_milli = b.q_milli;
  r.local_socket = SocketIndex(b.local_socket);
  r.node = NodeIndex(b.node);
  r.transport = b.transport;
  natted_ = natted_ - r.behind_nat + b.behind_nat;
  r.behind_nat = b.behind_nat;
  r.keepalive_learning = b.keepalive_learning;
}

std::optional<BindingRow> BindingTable::Put(const Binding& binding, BindingRow row) {
  // The AOR hashed once: a new AOR's record is made inside the insert
  // (a million at a restart).
  Id added = kNone;
  const auto head = aor_heads_.lazy_emplace(binding.aor, [&](const auto& make) {
    added = Add(binding, row);
    make(added);
  });
  if (added != kNone) return std::nullopt;
  Id tail = kNone;
  for (Id id = *head; id != kNone; id = R(id).next) {
    if (ContactOf(id) == binding.contact_uri) return Replace(id, binding, row);
    tail = id;
  }
  // At the chain's end: the AOR's bindings keep the order they came in.
  R(tail).next = Add(binding, row);
  return std::nullopt;
}

BindingTable::Id BindingTable::Add(const Binding& binding, BindingRow row) {
  const Id id = Allocate();
  Assign(id, binding);
  R(id).row = row;
  R(id).next = kNone;
  if (bulk_) {
    bulk_ids_.push_back(id);
  } else {
    order_.insert(id);
  }
  expiry_.insert(ExpiryKey(R(id).expires_at, id));
  ++size_;
  return id;
}

BindingRow BindingTable::Replace(Id id, const Binding& binding, BindingRow row) {
  const uint32_t expires_at = ExpirySeconds(binding.expires_at);
  if (R(id).expires_at != expires_at) {
    expiry_.erase(ExpiryKey(R(id).expires_at, id));
    expiry_.insert(ExpiryKey(expires_at, id));
  }
  const BindingRow previous = R(id).row;
  Assign(id, binding);
  R(id).row = row;
  return previous;
}

void BindingTable::EndBulkLoad() {
  bulk_ = false;
  // Sorted on the keys' first 16 bytes held inline (read in id order, the
  // order the records and their texts were allocated in: sequential
  // memory), the whole key compared only where those tie; then appended
  // to the index in order, each insert comparing with its last key only.
  struct Entry {
    uint64_t hi, lo;
    Id id;
  };
  auto prefix = [](absl::string_view aor, size_t at) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; ++i) {
      v = v << 8 | (at + i < aor.size() ? static_cast<unsigned char>(aor[at + i]) : 0);
    }
    return v;
  };
  std::vector<Entry> entries;
  entries.reserve(bulk_ids_.size());
  for (const Id id : bulk_ids_) {
    const absl::string_view aor = AorOf(id);
    entries.push_back({prefix(aor, 0), prefix(aor, 8), id});
  }
  bulk_ids_ = {};
  const OrderLess less{this};
  std::sort(entries.begin(), entries.end(), [&](const Entry& a, const Entry& b) {
    if (a.hi != b.hi) return a.hi < b.hi;
    if (a.lo != b.lo) return a.lo < b.lo;
    return less(a.id, b.id);
  });
  for (const Entry& e : entries) order_.insert(order_.end(), e.id);
}

void BindingTable::Unlink(Id id) {
  const auto head = aor_heads_.find(AorOf(id));
  if (*head == id) {
    aor_heads_.erase(head);
    if (R(id).next != kNone) aor_heads_.insert(R(id).next);
  } else {
    Id prev = *head;
    while (R(prev).next != id) prev = R(prev).next;
    R(prev).next = R(id).next;
  }
  if (bulk_) {
    std::erase(bulk_ids_, id);  // never in a load; kept right anyway
  } else {
    order_.erase(id);
  }
  expiry_.erase(ExpiryKey(R(id).expires_at, id));
}

void BindingTable::Free(Id id) {
  Record& r = R(id);
  natted_ -= r.behind_nat;
  strings_.Release(r.user_agent);
  strings_.Release(r.nat_reasons);
  strings_.Release(r.keepalive_reason);
  r = Record{};
  free_.push_back(id);
  --size_;
}

bool BindingTable::Remove(absl::string_view aor, absl::string_view contact_uri,
                          Binding* removed) {
  const Id id = FindId(aor, contact_uri);
  if (id == kNone) return false;
  if (removed != nullptr) *removed = Materialize(id);
  Unlink(id);
  Free(id);
  return true;
}

Binding BindingTable::Materialize(Id id) const {
  const Record& r = R(id);
  Binding b;
  b.aor = std::string(AorOf(id));
  b.contact_uri = std::string(ContactOf(id));
  b.call_id = std::string(TextField(id, 2));
  b.expires_at = r.expires_at;
  b.cseq = r.cseq;
  b.user_agent = std::string(strings_.Get(r.user_agent));
  b.source = r.source;
  b.transport = r.transport;
  b.local_socket = sockets_[r.local_socket];
  b.behind_nat = r.behind_nat;
  if (const absl::string_view reasons = strings_.Get(r.nat_reasons); !reasons.empty()) {
    b.nat_reasons = absl::StrSplit(reasons, '\n');
  }
  b.keepalive_interval_ms = r.keepalive_interval_ms;
  b.keepalive_reason = std::string(strings_.Get(r.keepalive_reason));
  b.keepalive_learning = r.keepalive_learning;
  b.q_milli = r.q_milli;
  b.node = nodes_[r.node];
  return b;
}

std::vector<Binding> BindingTable::Get(absl::string_view aor) const {
  std::vector<Binding> out;
  const auto head = aor_heads_.find(aor);
  if (head == aor_heads_.end()) return out;
  for (Id id = *head; id != kNone; id = R(id).next) out.push_back(Materialize(id));
  return out;
}

std::optional<BindingRow> BindingTable::RowOf(absl::string_view aor,
                                             absl::string_view contact_uri) const {
  const Id id = FindId(aor, contact_uri);
  if (id == kNone) return std::nullopt;
  return R(id).row;
}

std::optional<Binding> BindingTable::Find(absl::string_view aor,
                                          absl::string_view contact_uri) const {
  const Id id = FindId(aor, contact_uri);
  if (id == kNone) return std::nullopt;
  return Materialize(id);
}

bool BindingTable::HasExpired(int64_t now) const {
  if (expiry_.empty()) return false;
  return R(static_cast<Id>(*expiry_.begin())).expires_at <= now;
}

size_t BindingTable::TakeExpired(int64_t now, size_t budget, std::vector<Binding>& out,
                                 std::vector<BindingRow>* rows) {
  size_t taken = 0;
  while (taken < budget && HasExpired(now)) {
    const auto id = static_cast<Id>(*expiry_.begin());
    out.push_back(Materialize(id));
    if (rows != nullptr) rows->push_back(R(id).row);
    Unlink(id);
    Free(id);
    ++taken;
  }
  return taken;
}

void BindingTable::ForEachAor(absl::string_view after,
                              absl::FunctionRef<bool(absl::string_view aor)> fn) const {
  absl::string_view last;
  bool first = true;
  for (auto it = order_.lower_bound(AfterAor{after}); it != order_.end(); ++it) {
    const absl::string_view aor = AorOf(*it);
    if (!first && aor == last) continue;
    first = false;
    last = aor;
    if (!fn(aor)) return;
  }
}

std::vector<Binding> BindingTable::Learning(int64_t now) const {
  std::vector<Binding> out;
  for (Id id = 0; id < allocated_; ++id) {
    const Record& r = R(id);
    if (r.text != nullptr && r.keepalive_learning && r.expires_at > now) {
      out.push_back(Materialize(id));
    }
  }
  return out;
}

void BindingTable::ForEachOrdered(absl::FunctionRef<bool(const Binding&)> fn) const {
  for (const Id id : order_) {
    if (!fn(Materialize(id))) return;
  }
}

}  // namespace rtplatch
